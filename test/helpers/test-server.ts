import type { ModuleManifest } from "../../src/core/module";
import type { Clock } from "../../src/core/calendar";
import { randomBytes } from "node:crypto";
import pg from "pg";
import pino from "pino";
import { loadConfig, type Config } from "../../src/config";
import { openDatabase } from "../../src/db/data-source";
import { startServer, type RunningServer } from "../../src/server";
import type { PluginDefinition } from "../../src/plugins";

/**
 * A real server on a real database for one test file: a fresh PostgreSQL database when
 * DATABASE_URL is set (created from it, dropped at close), else an in-memory PGlite.
 */
export interface TestServer {
  server: RunningServer;
  url: string;
  wsUrl: string;
  adminKey: string;
  platformKey: string;
  config: Config;
  gql<T = any>(query: string, variables?: Record<string, unknown>, key?: string | null): Promise<GqlResponse<T>>;
  /** SQL statements the server sent while `fn` ran. */
  countStatements(fn: () => Promise<unknown>): Promise<number>;
  close(): Promise<void>;
}

export interface GqlResponse<T> {
  status: number;
  data: T;
  errors?: { message: string; extensions?: { code?: string } & Record<string, unknown>; path?: string[] }[];
  body: any;
}

export const usingPostgres = () => Boolean(process.env.DATABASE_URL);

export function randomKey(): string {
  return `test_${randomBytes(18).toString("hex")}`;
}

/** A fresh database on the PostgreSQL server named by DATABASE_URL; returns its URL and a dropper. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = process.env.DATABASE_URL!;
  const name = `crm_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function createTestServer(
  env: Record<string, string> = {},
  opts: { plugins?: PluginDefinition<any>[]; modules?: readonly ModuleManifest[]; clock?: Clock } = {},
): Promise<TestServer> {
  const adminKey = randomKey();
  const platformKey = randomKey();
  const pgDb = usingPostgres() ? await freshPostgresDatabase() : null;
  const config = loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    LOG_LEVEL: "silent",
    OUTBOX_POLL_MS: "0",
    CRM_BOOTSTRAP_TENANT_KEY: adminKey,
    CRM_PLATFORM_KEY: platformKey,
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...env,
  });
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const database = pgDb ? undefined : await openDatabase({ log, modules: opts.modules });
  const server = await startServer(config, { log, database, print: () => undefined, plugins: opts.plugins, modules: opts.modules, clock: opts.clock });
  const url = `http://127.0.0.1:${server.port}`;

  const gql = async (query: string, variables?: Record<string, unknown>, key: string | null = adminKey) => {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as any;
    return { status: res.status, data: body.data, errors: body.errors, body };
  };

  return {
    server,
    url,
    wsUrl: `ws://127.0.0.1:${server.port}/graphql`,
    adminKey,
    platformKey,
    config,
    gql,
    async countStatements(fn) {
      await server.app.outbox.idle();
      const before = server.app.db.sql.statements;
      await fn();
      return server.app.db.sql.statements - before;
    },
    async close() {
      await server.close();
      await pgDb?.drop();
    },
  };
}

/** Creates a tenant through the platform key; returns its admin key and global id. */
export async function createTenant(t: TestServer, name: string): Promise<{ key: string; tenantId: string }> {
  const r = await t.gql(`mutation($name: String!) { createTenant(input: {name: $name}) { tenant { id name } apiKey userErrors { code } } }`, { name }, t.platformKey);
  if (!r.data?.createTenant?.apiKey) throw new Error(`createTenant failed: ${JSON.stringify(r.body)}`);
  return { key: r.data.createTenant.apiKey, tenantId: r.data.createTenant.tenant.id };
}

/** Creates a key with `scopes` in the caller's tenant. */
export async function createKey(t: TestServer, scopes: string[], adminKey = t.adminKey): Promise<{ key: string; id: string }> {
  const r = await t.gql(
    `mutation($scopes: [String!]!) { createApiKey(input: {name: "test", scopes: $scopes}) { apiKey key { id } userErrors { code message } } }`,
    { scopes },
    adminKey,
  );
  if (!r.data?.createApiKey?.apiKey) throw new Error(`createApiKey failed: ${JSON.stringify(r.body)}`);
  return { key: r.data.createApiKey.apiKey, id: r.data.createApiKey.key.id };
}
