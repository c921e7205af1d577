import { randomBytes } from "node:crypto";
import pg from "pg";
import pino from "pino";
import { createApp, type App } from "../src/app";
import { startServer, type RunningServer } from "../src/server";
import { loadConfig } from "../src/config";
import type { Ctx } from "../src/core/context";

/** The server benches run on unless DATABASE_URL names another. */
export const DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432";

/**
 * What every scenario measures on: an app on a fresh database of the DATABASE_URL server (or DEFAULT_SERVER),
 * with tenant "default" and a system ctx for it, and the outbox dispatcher stopped (dispatch is not measured;
 * outbox rows are still written). `close()` closes the app and drops the database.
 */
export async function benchApp(prefix: string): Promise<{ app: App; ctx: Ctx; tenantId: string; url: string; close(): Promise<void> }> {
  const db = await freshDatabase(process.env.DATABASE_URL?.trim() || DEFAULT_SERVER, prefix);
  let app: App | undefined;
  const close = async () => {
    await app?.db.close();
    await db.drop();
  };
  try {
    const log = pino({ level: "silent" });
    app = await createApp(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent", OUTBOX_POLL_MS: "0" }), log);
    await app.tenancy.bootstrap(log, () => undefined);
    await app.outbox.stop();
    const [tenant] = await app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
    const ctx: Ctx = { requestId: "bench", principal: { kind: "system", tenantId: tenant.id, actor: "bench" }, app, log };
    return { app, ctx, tenantId: tenant.id, url: db.url, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A fresh database on the PostgreSQL server that `serverUrl` points at (any database on it will do
 * for the connection), named `<prefix>_<timestamp>`; `drop()` removes it, closing whatever is still connected.
 */
export async function freshDatabase(serverUrl: string, prefix: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A URL without its password, for printing. */
export function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

/**
 * The whole server (HTTP + graphql-ws, production mode) on a fresh database of the DATABASE_URL server,
 * with tenant "default" whose admin key is `adminKey`. `close()` stops it and drops the database.
 */
export async function benchServer(prefix: string, env: Record<string, string> = {}): Promise<{ server: RunningServer; url: string; adminKey: string; close(): Promise<void> }> {
  const db = await freshDatabase(process.env.DATABASE_URL?.trim() || DEFAULT_SERVER, prefix);
  const adminKey = `bench-${Math.random().toString(36).slice(2)}-key-0123456789`;
  try {
    // Production mode on PostgreSQL needs a data key, as an operator would give it (one per run).
    const dataKey = randomBytes(32).toString("base64");
    const config = loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent", PORT: "0", CRM_BOOTSTRAP_TENANT_KEY: adminKey, NODE_ENV: "production", CRM_DATA_KEY: dataKey, ...env });
    const server = await startServer(config, { log: pino({ level: "silent" }), print: () => undefined });
    return {
      server,
      url: db.url,
      adminKey,
      async close() {
        await server.close();
        await db.drop();
      },
    };
  } catch (err) {
    await db.drop();
    throw err;
  }
}

/** An integer setting from the environment (`_` and `,` allowed as separators); a bad value stops the bench. */
export function positiveInt(name: string, def: number, min = 1): number {
  const v = process.env[name]?.trim();
  if (!v) return def;
  const n = Number(v.replace(/[_,]/g, ""));
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
  return n;
}
