import "reflect-metadata";
import { ConfigError, loadConfig } from "./config";
import { createLogger } from "./core/logger";
import { DataDirLockedError } from "./db/data-dir-lock";
import { startServer } from "./server";

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  try {
    const server = await startServer(config, { log });
    const where = config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `embedded PostgreSQL in ${config.dataDir}`;
    process.stdout.write(`GraphQL on ${config.publicUrl}/graphql (HTTP and graphql-ws), data in ${where}\n`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down");
      server.close().then(
        () => process.exit(0),
        (err) => {
          log.error({ err: (err as Error).message }, "shutdown failed");
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    log.fatal({ err: (err as Error).message }, "start failed");
    process.stderr.write(`Start failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

void main();
