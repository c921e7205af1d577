import { execFileSync } from "node:child_process";
import { definePlugin } from "../../src/plugins";
import { createKey, createTenant, createTestServer, usingPostgres, type TestServer } from "../helpers/test-server";

/**
 * `eraseCustomer`: the person's data leaves every table — checked by scanning every text, JSON and array column
 * of every table the server created (and, on PostgreSQL, a pg_dump of the database) for the values this test put
 * in through the API — while the merchant's revenue and order count stay what they were.
 */
const heard: { type: string; customerId: string; reason?: string }[] = [];
const recorder = definePlugin({
  name: "erasure-recorder",
  version: "1.0.0",
  compatibility: "^1.0.0",
  onEvent: {
    "customer.erased": (e) => void heard.push({ type: e.type, customerId: e.customerId, reason: e.reason }),
  },
});

let t: TestServer;
let connectionId: string;
beforeAll(async () => {
  t = await createTestServer({}, { plugins: [recorder] });
  const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`);
  connectionId = conn.data.createChannelConnection.connection.id;
});
afterAll(() => t.close());

const sql = <T = any>(text: string, values: unknown[] = []): Promise<T[]> => t.server.app.db.dataSource.query(text, values);

// The person to erase, as the channels know them.
const PERSON = {
  phone: "13900001234",
  email: "wang.xiaoming@example.cn",
  openid: "oErase-openid-0001",
  unionid: "oErase-unionid-A",
  erpId: "ERP-ERASE-9",
  name: "王小明",
  erpName: "王小明ERP",
};
const personValues = () => [PERSON.phone, PERSON.email, PERSON.openid, PERSON.unionid, PERSON.erpId, PERSON.name];

const INGEST = `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { externalId status reason } } }`;
const ERASE = `mutation($id: ID!, $reason: String!) { eraseCustomer(input: {customerId: $id, reason: $reason}) { erasure { id customerId reason erasedAt } userErrors { field code message } } }`;
const at = (m: number) => new Date(Date.UTC(2026, 10, 11, 2, m)).toISOString();

async function ingest(events: object[]) {
  const r = await t.gql(INGEST, { input: { connectionId, events } });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data.ingestEvents.results as { externalId: string; status: string; reason: string | null }[];
}

async function byPhone(phone: string): Promise<{ id: string; displayName: string } | null> {
  return (await t.gql(`query($v: String!) { customerByIdentity(type: PHONE, value: $v) { id displayName } }`, { v: phone })).data.customerByIdentity;
}

/** Every text-like column of every table in the database: where each of `values` still appears. */
async function scan(values: string[]): Promise<string[]> {
  const columns = await sql<{ s: string; t: string; c: string }>(
    `SELECT c.table_schema AS s, c.table_name AS t, c.column_name AS c
       FROM information_schema.columns c JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
      WHERE tb.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
        AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea') )`,
  );
  expect(columns.map((c) => c.t)).toEqual(expect.arrayContaining(["customers", "customer_identities", "ingested_events", "customer_merges", "identity_conflicts", "orders", "outbox", "plugin_state", "audit_log"]));
  // Encrypted values (p1:…) are read as the server reads them: the scan looks for the person's data, in whatever form.
  const ring = t.server.app.dataKeys;
  const opened = (text: string) => text.replace(/p1:[0-9a-f]{8}:[A-Za-z0-9+/=]+/g, (c) => ring.decrypt(c));
  const found: string[] = [];
  for (const { s, t: table, c } of columns) {
    const rows = await sql<{ v: string }>(`SELECT "${c}"::text AS v FROM "${s}"."${table}" WHERE "${c}" IS NOT NULL`);
    for (const v of values) if (rows.some((r) => opened(r.v).includes(v))) found.push(`${table}.${c}: ${v}`);
  }
  return found;
}

describe("eraseCustomer", () => {
  let personId: string;
  let mergeId: string;
  let revenue: { n: number; total: number };

  it("is set up: the person's values are in several tables, and the scan finds them", async () => {
    const results = await ingest([
      { type: "customer.upserted", externalId: `login:${PERSON.openid}:1`, occurredAt: at(0), identities: [{ type: "wechat_openid", value: PERSON.openid }, { type: "phone", value: PERSON.phone }], payload: { displayName: PERSON.name } },
      { type: "customer.upserted", externalId: "erp:1", occurredAt: at(1), identities: [{ type: "external", value: PERSON.erpId }, { type: "email", value: PERSON.email }], payload: { displayName: PERSON.erpName } },
      // One person: the ERP customer merges into the WeChat one.
      { type: "customer.upserted", externalId: "erp:2", occurredAt: at(2), identities: [{ type: "phone", value: PERSON.phone }, { type: "external", value: PERSON.erpId }], payload: {} },
      { type: "customer.upserted", externalId: "wx:union", occurredAt: at(3), identities: [{ type: "phone", value: PERSON.phone }, { type: "wechat_unionid", value: PERSON.unionid }], payload: {} },
      // Somebody else, with a unionid of their own; an event naming both is a conflict (one unionid per customer).
      { type: "customer.upserted", externalId: "other:1", occurredAt: at(4), identities: [{ type: "wechat_unionid", value: "oOther-unionid-C" }], payload: { displayName: "赵六" } },
      { type: "customer.upserted", externalId: "clash:1", occurredAt: at(5), identities: [{ type: "phone", value: PERSON.phone }, { type: "wechat_unionid", value: "oOther-unionid-C" }], payload: {} },
      { type: "order.paid", externalId: "o:E-1", occurredAt: at(6), identities: [{ type: "phone", value: PERSON.phone }], payload: { orderId: "E-1", currency: "CNY", total: 5000, items: [{ sku: "TEA", quantity: "1", unitPrice: 5000 }] } },
      { type: "order.paid", externalId: "o:B-1", occurredAt: at(7), identities: [{ type: "phone", value: "13700009999" }], payload: { orderId: "B-1", currency: "CNY", total: 2000, items: [] } },
      { type: "customer.upserted", externalId: "b:1", occurredAt: at(8), identities: [{ type: "phone", value: "13700009999" }], payload: { displayName: "李四" } },
    ]);
    expect(results.map((r) => r.status)).toEqual(Array(9).fill("ACCEPTED"));
    const person = await byPhone(PERSON.phone);
    personId = person!.id;
    const merges = await t.gql(`query($id: ID!) { customerMerges(customerId: $id) { nodes { id } } }`, { id: personId });
    expect(merges.data.customerMerges.nodes).toHaveLength(1);
    mergeId = merges.data.customerMerges.nodes[0].id;
    expect((await sql(`SELECT count(*)::int AS n FROM identity_conflicts`))[0].n).toBe(1);
    const update = await t.gql(`mutation($id: ID!) { updateCustomer(input: {id: $id, birthday: "1990-05-17", region: {province: "浙江", city: "杭州"}}) { userErrors { code } } }`, { id: personId });
    expect(update.data.updateCustomer.userErrors).toEqual([]);
    const doc = (await t.gql(`mutation($id: ID!) { exportCustomerData(input: {customerId: $id}) { document } }`, { id: personId })).data.exportCustomerData.document;
    expect(doc.sections).toEqual(["profile", "merges", "events", "conflicts", "orders", "analytics"]);
    expect(doc.conflicts).toEqual([expect.objectContaining({ externalId: "clash:1", identities: expect.arrayContaining([{ type: "phone", value: "+86" + PERSON.phone }]) })]);
    [revenue] = await sql(`SELECT count(*)::int AS n, sum(total)::int AS total FROM orders`);
    expect(revenue).toEqual({ n: 2, total: 7000 });

    const found = await scan(personValues());
    for (const where of ["customers.display_name", "customer_identities.value", "ingested_events.payload", "ingested_events.external_id", "customer_merges.snapshot", "identity_conflicts.identities"]) {
      expect(found.some((f) => f.startsWith(`${where}:`))).toBe(true);
    }
  });

  it("leaves no personal value of the person in any table, and keeps revenue, counts and everyone else", async () => {
    const r = await t.gql(ERASE, { id: personId, reason: "PIPL request #42" });
    expect(r.data.eraseCustomer.userErrors).toEqual([]);
    expect(r.data.eraseCustomer.erasure).toMatchObject({ customerId: personId, reason: "PIPL request #42" });
    expect(new Date(r.data.eraseCustomer.erasure.erasedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    await t.server.app.outbox.idle();

    expect(await scan(personValues())).toEqual([]);
    expect(await scan(["1990-05-17", "杭州"])).toEqual([]);
    if (usingPostgres()) {
      const dump = execFileSync("pg_dump", ["--data-only", t.config.databaseUrl!], { encoding: "utf8", maxBuffer: 1 << 28 });
      expect(dump).toContain("李四"); // the dump is of this database
      for (const v of personValues()) expect(dump).not.toContain(v);
    }

    // The merchant's figures stay; the orders belong to no one now.
    expect((await sql(`SELECT count(*)::int AS n, sum(total)::int AS total FROM orders`))[0]).toEqual(revenue);
    expect((await sql(`SELECT customer_id FROM orders WHERE external_order_id = 'E-1'`))[0].customer_id).toBeNull();
    // Everyone else is untouched: 李四 with their order, 赵六 with their unionid.
    const other = await byPhone("13700009999");
    expect(other?.displayName).toBe("李四");
    const stats = await t.gql(`query($id: ID!) { customer(id: $id) { stats { ordersCount totalSpent } } }`, { id: other!.id });
    expect(stats.data.customer.stats).toMatchObject({ ordersCount: 1 });
    expect((await t.gql(`{ customerByIdentity(type: WECHAT_UNIONID, value: "oOther-unionid-C") { displayName } }`)).data.customerByIdentity).toEqual({ displayName: "赵六" });
    // The conflict involving the person is gone with them.
    expect((await sql(`SELECT count(*)::int AS n FROM identity_conflicts`))[0].n).toBe(0);
    expect((await t.gql(`query($id: ID!) { customer(id: $id) { id } }`, { id: personId })).data.customer).toBeNull();
  });

  it("announces customer.erased to plugins, with the reason and no personal value", async () => {
    for (let i = 0; i < 50 && !heard.length; i++) await new Promise((res) => setTimeout(res, 100));
    expect(heard).toEqual([{ type: "customer.erased", customerId: expect.any(String), reason: "PIPL request #42" }]);
    expect(`Customer:${heard[0].customerId}`).toBe(Buffer.from(personId, "base64url").toString());
  });

  it("frees the identities: the same phone is a new customer; a replay of an erased event stays a duplicate", async () => {
    const replay = await ingest([{ type: "customer.upserted", externalId: `login:${PERSON.openid}:1`, occurredAt: at(0), identities: [{ type: "wechat_openid", value: PERSON.openid }, { type: "phone", value: PERSON.phone }], payload: { displayName: PERSON.name } }]);
    expect(replay.map((x) => x.status)).toEqual(["DUPLICATE"]);
    expect(await byPhone(PERSON.phone)).toBeNull();
    const fresh = await ingest([{ type: "customer.upserted", externalId: "shop:later", occurredAt: at(30), identities: [{ type: "phone", value: PERSON.phone }], payload: { displayName: "回头客" } }]);
    expect(fresh.map((x) => x.status)).toEqual(["ACCEPTED"]);
    const back = await byPhone(PERSON.phone);
    expect(back).toMatchObject({ displayName: "回头客" });
    expect(back!.id).not.toBe(personId);
  });

  it("is refused a second time, for a merge that involved the person, for other tenants and without admin", async () => {
    const again = await t.gql(ERASE, { id: personId, reason: "again" });
    expect(again.data.eraseCustomer).toMatchObject({ erasure: null, userErrors: [{ field: ["customerId"], code: "CONFLICT" }] });
    expect(again.data.eraseCustomer.userErrors[0].message).toMatch(/erased already/);
    const unmerge = await t.gql(`mutation($id: ID!) { unmergeCustomer(input: {mergeId: $id}) { userErrors { field code message } } }`, { id: mergeId });
    expect(unmerge.data.unmergeCustomer.userErrors).toEqual([{ field: ["mergeId"], code: "CONFLICT", message: expect.stringMatching(/can no longer be undone: a customer it involved was erased/) }]);
    expect((await t.gql(ERASE, { id: "Q3VzdG9tZXI6bm9uZQ", reason: "x" })).data.eraseCustomer.userErrors).toEqual([{ field: ["customerId"], code: "NOT_FOUND", message: expect.any(String) }]);
    expect((await t.gql(ERASE, { id: personId, reason: "  " })).data.eraseCustomer.userErrors).toEqual([{ field: ["reason"], code: "REQUIRED", message: expect.any(String) }]);

    const li = (await byPhone("13700009999"))!;
    const other = await createTenant(t, "别家");
    expect((await t.gql(ERASE, { id: li.id, reason: "x" }, other.key)).data.eraseCustomer.userErrors).toEqual([{ field: ["customerId"], code: "NOT_FOUND", message: expect.any(String) }]);
    const writer = await createKey(t, ["customers:read", "customers:write", "customers:pii"]);
    expect((await t.gql(ERASE, { id: li.id, reason: "x" }, writer.key)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(await byPhone("13700009999")).toMatchObject({ displayName: "李四" });
  });

  it("is in the audit log with its target, and the erasure record holds no personal value", async () => {
    const log = await t.gql(`query($id: ID!) { auditLog(filter: {targetId: $id, operation: "eraseCustomer"}) { nodes { operation result targetIds } } }`, { id: personId });
    expect(log.data.auditLog.nodes.some((n: any) => n.result === "OK" && n.targetIds.includes(personId))).toBe(true);
    const [row] = await sql(`SELECT * FROM customer_erasures`);
    expect(row).toMatchObject({ reason: "PIPL request #42", actor: expect.stringMatching(/^api_key:/) });
    expect(row.merged_ids).toHaveLength(1);
  });

  it("deleteCustomer erases the same way: no copy of the person stays in ingested events", async () => {
    await ingest([{ type: "customer.upserted", externalId: "del:1", occurredAt: at(40), identities: [{ type: "phone", value: "13600004321" }], payload: { displayName: "钱七" } }]);
    const c = (await byPhone("13600004321"))!;
    const del = await t.gql(`mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId userErrors { code } } }`, { id: c.id });
    expect(del.data.deleteCustomer).toEqual({ deletedCustomerId: c.id, userErrors: [] });
    expect(await scan(["13600004321", "钱七"])).toEqual([]);
    expect((await sql(`SELECT reason FROM customer_erasures ORDER BY erased_at DESC LIMIT 1`))[0].reason).toBe("deleteCustomer");
  });
});
