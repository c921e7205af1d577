import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../../src/config";
import { startServer } from "../../src/server";
import { freshPostgresDatabase, usingPostgres } from "../helpers/test-server";
import { until } from "../helpers/wait";

/**
 * Data key rotation and the upgrade from plain text, across restarts of a real server on one database: a new
 * key put first keeps everything readable and findable at once, the queued job brings every value under it
 * (progress in jobRuns), after which the old key can go; values stored before encryption are encrypted and
 * indexed before the server listens.
 */
const key = () => randomBytes(32).toString("base64");
const k1 = key();
const k2 = key();
const adminKey = `test_${randomBytes(18).toString("hex")}`;
const platformKey = `test_${randomBytes(18).toString("hex")}`;
let pgDb: Awaited<ReturnType<typeof freshPostgresDatabase>> | null = null;
let dataDir: string;

beforeAll(async () => {
  pgDb = usingPostgres() ? await freshPostgresDatabase() : null;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-keys-"));
});
afterAll(async () => {
  await pgDb?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function server(dataKey: string, extra: Record<string, string> = {}) {
  const env = {
    NODE_ENV: "test",
    PORT: "0",
    LOG_LEVEL: "silent",
    OUTBOX_POLL_MS: "0",
    DATA_DIR: dataDir,
    CRM_BOOTSTRAP_TENANT_KEY: adminKey,
    CRM_PLATFORM_KEY: platformKey,
    CRM_DATA_KEY: dataKey,
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...extra,
  };
  const s = await startServer(loadConfig(env), { log: pino({ level: "silent" }), print: () => undefined });
  const gql = async (query: string, variables?: object, auth = adminKey) => {
    const res = await fetch(`http://127.0.0.1:${s.port}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${auth}` }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as any;
  };
  const sql = <T = any>(text: string, values: unknown[] = []): Promise<T[]> => s.app.db.dataSource.query(text, values);
  return { s, gql, sql };
}

const FIND = `query($v: String!) { customerByIdentity(type: PHONE, value: $v) { displayName phone email birthday identities { type value } } }`;
const LAST4 = `{ customers(filter: {phoneLast4: "6600"}) { nodes { displayName } } }`;


describe("data keys", () => {
  it("rotate: a new first key reads everything at once, the job brings every value under it, then the old key can go", async () => {
    const a = await server(k1);
    const kid1 = a.s.app.dataKeys.currentKeyId;
    try {
      const c = await a.gql(`mutation { createCustomer(input: {displayName: "轮换", phone: "13911116600", email: "lun@example.cn", birthday: "1991-01-01", identities: [{type: POS_MEMBER, value: "R-1"}]}) { customer { id } userErrors { code } } }`);
      expect(c.data.createCustomer.userErrors).toEqual([]);
    } finally {
      await a.s.close();
    }

    // The new key first, the old one still there: readable and findable at once (lookups try both keys' indexes).
    const b = await server(`${k2},${k1}`);
    const kid2 = b.s.app.dataKeys.currentKeyId;
    try {
      expect(kid2).not.toBe(kid1);
      const expected = { displayName: "轮换", phone: "+8613911116600", email: "lun@example.cn", birthday: "1991-01-01", identities: expect.arrayContaining([{ type: "POS_MEMBER", value: "R-1" }]) };
      expect((await b.gql(FIND, { v: "13911116600" })).data.customerByIdentity).toEqual(expected);
      const run = await until(async () => {
        const r = await b.gql(`{ jobRuns(filter: {name: "crm.customers.reencrypt"}) { nodes { state progress } } }`, {}, platformKey);
        return r.data.jobRuns.nodes.find((n: { state: string }) => n.state === "COMPLETED");
      }, "the re-encryption job");
      expect(run.progress).toMatchObject({ customer_identities: 3, customers: 1 });
      // Every personal value now names the new key.
      const [row] = await b.sql(`SELECT phone, email, birthday FROM customers`);
      for (const v of Object.values(row)) expect(v).toMatch(new RegExp(`^p1:${kid2}:`));
      for (const { value } of await b.sql(`SELECT value FROM customer_identities`)) expect(value).toMatch(new RegExp(`^p1:${kid2}:`));
      expect((await b.gql(FIND, { v: "13911116600" })).data.customerByIdentity).toEqual(expected);
      expect((await b.gql(LAST4)).data.customers.nodes).toEqual([{ displayName: "轮换" }]);
    } finally {
      await b.s.close();
    }

    // The old key gone: nothing needed it any more.
    const c = await server(k2);
    try {
      expect((await c.gql(FIND, { v: "+86 139 1111 6600" })).data.customerByIdentity).toMatchObject({ displayName: "轮换", email: "lun@example.cn" });
      expect((await c.gql(LAST4)).data.customers.nodes).toEqual([{ displayName: "轮换" }]);
      expect((await c.gql(`{ customers(filter: {email: "LUN@example.cn"}) { nodes { displayName } } }`)).data.customers.nodes).toEqual([{ displayName: "轮换" }]);
    } finally {
      await c.s.close();
    }
  });

  it("encrypt what was stored before encryption, before the server listens", async () => {
    const a = await server(k2);
    try {
      // What a database from before this version holds: plain values, no blind indexes.
      const [{ tenant_id }] = await a.sql(`SELECT tenant_id FROM customers LIMIT 1`);
      const [{ id }] = await a.sql(
        `INSERT INTO customers (tenant_id, display_name, phone, email, birthday) VALUES ($1, '旧数据', '+8613922226600', 'old@example.cn', '1980-02-02') RETURNING id`,
        [tenant_id],
      );
      await a.sql(`INSERT INTO customer_identities (tenant_id, customer_id, type, value, first_seen_at, last_seen_at) VALUES ($1, $2, 'phone', '+8613922226600', now(), now())`, [tenant_id, id]);
      await a.sql(`DELETE FROM data_key_state`);
    } finally {
      await a.s.close();
    }
    const b = await server(k2);
    try {
      // Already done when the server answers: encrypted, indexed, found.
      const [row] = await b.sql(`SELECT phone, email, birthday, phone_index IS NOT NULL AS indexed FROM customers WHERE display_name = '旧数据'`);
      expect(row.indexed).toBe(true);
      for (const v of [row.phone, row.email, row.birthday]) expect(v).toMatch(/^p1:/);
      expect((await b.gql(FIND, { v: "13922226600" })).data.customerByIdentity).toMatchObject({ displayName: "旧数据", phone: "+8613922226600", birthday: "1980-02-02" });
      expect((await b.gql(LAST4)).data.customers.nodes.map((n: { displayName: string }) => n.displayName).sort()).toEqual(["旧数据", "轮换"].sort());
      expect(await b.sql(`SELECT key_id FROM data_key_state`)).toEqual([{ key_id: b.s.app.dataKeys.currentKeyId }]);
    } finally {
      await b.s.close();
    }
  });

  // Embedded PGlite generates its key file instead (test/unit/data-keys.test.ts).
  (usingPostgres() ? it : it.skip)("refuse production on PostgreSQL without CRM_DATA_KEY", async () => {    await expect(server("", { NODE_ENV: "production", CRM_DATA_KEY: "" })).rejects.toThrow(/CRM_DATA_KEY is required in production with DATABASE_URL/);
  });
});
