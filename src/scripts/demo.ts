import "reflect-metadata";
import { randomUUID } from "node:crypto";
import { createApp, type App } from "../app";
import { ConfigError, loadConfig } from "../config";
import type { Ctx } from "../core/context";
import { createLogger } from "../core/logger";
import type { UserError } from "../core/user-error";
import { DataDirLockedError } from "../db/data-dir-lock";
import { Tenant } from "../modules/tenancy";
import { DEFAULT_TENANT } from "../modules/tenancy";
import { demoCustomers } from "./demo-data";

/**
 * `npm run demo`: loads the demo data set (./demo-data.ts) into tenant "default", through the real
 * services and their validation. Same environment as the server (DATA_DIR or DATABASE_URL, …).
 * Idempotent: a customer whose phone is already known is skipped.
 *
 * The embedded database belongs to one process, so with PGlite the server must be stopped first.
 */

/** An expected failure: reported as one line (or the listed userErrors), no stack trace. */
class DemoFailure extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ").trim();

function describe(errors: UserError[]): string[] {
  return errors.map((e) => `${e.field?.length ? `${e.field.join(".")}: ` : ""}${e.message} (${e.code})`);
}

async function load(app: App): Promise<{ created: number; present: number }> {
  const log = app.log;
  await app.tenancy.bootstrap(log, out);

  const tenant = await app.db.dataSource.manager.findOne(Tenant, { where: { name: DEFAULT_TENANT }, order: { createdAt: "ASC" } });
  if (!tenant) {
    throw new DemoFailure(
      `No tenant named "${DEFAULT_TENANT}" in this database (it has other tenants); set CRM_BOOTSTRAP_TENANT_KEY to have it created`,
    );
  }

  const requestId = `demo-${randomUUID()}`;
  const ctx: Ctx = {
    requestId,
    principal: { kind: "api_key", keyId: "demo", tenantId: tenant.id, scopes: new Set(["admin"]) },
    app,
    log: log.child({ requestId }),
  };

  let created = 0;
  let present = 0;
  const failures: string[] = [];
  for (const [i, input] of demoCustomers.entries()) {
    const who = `#${i + 1} ${input.displayName ?? "(no name)"} ${input.phone}`;
    if (await app.customers.findByIdentity(ctx, "phone", input.phone)) {
      present++;
      continue;
    }
    const result = await app.customers.create(ctx, input);
    if (result.ok) created++;
    else failures.push(...describe(result.errors).map((e) => `demo customer ${who}: ${e}`));
  }
  if (failures.length) {
    throw new DemoFailure(
      `Demo data not fully loaded: ${failures.length} userError(s) above; ${created} customer(s) created, ${present} already present`,
      failures,
    );
  }
  return { created, present };
}

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // A command-line tool: the server's info lines (migrations applied, …) only when LOG_LEVEL asks for them.
  const log = createLogger(process.env.LOG_LEVEL?.trim() ? config.logLevel : "warn");

  let app: App;
  try {
    app = await createApp(config, log);
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      const reason = oneLine(err.message).replace(/;\s*stop it first or set DATABASE_URL\.?$/, "");
      process.stderr.write(`Cannot load demo data: ${reason}; stop the server first (or set DATABASE_URL to use PostgreSQL)\n`);
      return 1;
    }
    throw err;
  }

  try {
    // No event dispatch from this process: the rows stay in the outbox and the server delivers
    // them (to its subscribers and handlers) when it next starts or polls.
    await app.outbox.stop();
    const { created, present } = await load(app);
    out(`Demo data: ${created} customer${created === 1 ? "" : "s"} created, ${present} already present (tenant "${DEFAULT_TENANT}")`);
    return 0;
  } catch (err) {
    if (err instanceof DemoFailure) {
      for (const line of err.details) process.stderr.write(`${line}\n`);
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await app.db.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, "closing the database failed"));
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`Demo data failed: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    process.exit(1);
  },
);
