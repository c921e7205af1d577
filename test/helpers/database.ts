import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig, type Config } from "../../src/config";
import { openDatabase, type Database } from "../../src/db/data-source";
import { freshPostgresDatabase, randomKey, usingPostgres } from "./test-server";

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

/**
 * A logger that keeps what is logged at error level or above (and prints nothing), so that a test can fail on an
 * error the code swallowed after logging it — a dispatch that threw behind a catch, say. `take()` returns and clears.
 */
export function errorRecordingLog(): { log: pino.Logger; take(): { msg: string; err?: string }[] } {
  let errors: { msg: string; err?: string }[] = [];
  const log = pino({ level: "error" }, { write: (line: string) => void errors.push(JSON.parse(line)) });
  return {
    log,
    take() {
      const out = errors.map(({ msg, err }) => ({ msg, ...(err ? { err } : {}) }));
      errors = [];
      return out;
    },
  };
}

/**
 * A database that can be closed and opened again (to simulate a restart): a fresh PostgreSQL
 * database when DATABASE_URL is set, else PGlite files in a temporary folder.
 */
export async function reopenableDatabase(): Promise<{ config: Config; open(): Promise<Database>; dispose(): Promise<void> }> {
  if (usingPostgres()) {
    const pgDb = await freshPostgresDatabase();
    const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", OUTBOX_POLL_MS: "0", DATABASE_URL: pgDb.url, CRM_PLATFORM_KEY: randomKey() });
    return { config, open: () => openDatabase({ databaseUrl: pgDb.url, log: silentLog }), dispose: () => pgDb.drop() };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-test-"));
  const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", OUTBOX_POLL_MS: "0", DATA_DIR: dir, CRM_PLATFORM_KEY: randomKey() });
  return {
    config,
    open: () => openDatabase({ dataDir: dir, log: silentLog }),
    dispose: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fresh database that lives as long as the test needs it: PostgreSQL (DATABASE_URL) or in-memory PGlite. */
export async function freshDatabase(): Promise<{ config: Config; open(): Promise<Database>; dispose(): Promise<void> }> {
  if (usingPostgres()) return reopenableDatabase();
  const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", OUTBOX_POLL_MS: "0", CRM_PLATFORM_KEY: randomKey() });
  return { config, open: () => openDatabase({ log: silentLog }), dispose: async () => undefined };
}
