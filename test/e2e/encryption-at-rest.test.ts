import { execFileSync } from "node:child_process";
import { createKey, createTestServer, usingPostgres, type TestServer } from "../helpers/test-server";

/**
 * Personal values at rest: after a batch through the pipeline and a CSV import, no phone, e-mail, birthday or
 * identity value of the fixtures is anywhere in the database in plain text — every text, JSON, array and binary
 * column of every table is scanned, and on PostgreSQL a pg_dump too — while every lookup staff and channels use
 * still finds the customer: by identity, by phone, by e-mail, by a phone's last four digits.
 */
let t: TestServer;
let connectionId: string;
beforeAll(async () => {
  t = await createTestServer();
  const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`);
  connectionId = conn.data.createChannelConnection.connection.id;
});
afterAll(() => t.close());

const sql = <T = any>(text: string, values: unknown[] = []): Promise<T[]> => t.server.app.db.dataSource.query(text, values);
const at = (m: number) => new Date(Date.UTC(2026, 10, 11, 2, m)).toISOString();

// What the channels and the CSV say; each must be stored encrypted only.
const SECRET_VALUES = [
  "13907558000", // phone (any form: the E.164 form contains it; not 13800138000, a placeholder the identity rules ignore)
  "zhou.jielun@example.cn",
  "oPipeline-openid-0007",
  "oPipeline-unionid-0007",
  "YZ-BUYER-88412",
  "1988-03-21",
  "13912348000", // the CSV's phone
  "li.na@example.com.cn",
  "HZ-CARD-5521",
  "1992-11-02",
];

/** Where the values appear, in any table or column (ciphertext is not opened: this is what an attacker with the disk sees). */
async function plaintextLeaks(values: string[]): Promise<string[]> {
  const columns = await sql<{ s: string; t: string; c: string }>(
    `SELECT c.table_schema AS s, c.table_name AS t, c.column_name AS c
       FROM information_schema.columns c JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
      WHERE tb.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
        AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea')`,
  );
  const found: string[] = [];
  for (const { s, t: table, c } of columns) {
    for (const v of values) {
      const [{ n }] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM "${s}"."${table}" WHERE position($1 in "${c}"::text) > 0`, [v]);
      if (n) found.push(`${table}.${c}: ${v}`);
    }
  }
  return found;
}

describe("personal data at rest", () => {
  it("is encrypted after a channel batch and a CSV import, in every table", async () => {
    const r = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status reason } } }`, {
      input: {
        connectionId,
        events: [
          {
            type: "customer.upserted",
            externalId: "c1",
            occurredAt: at(0),
            identities: [
              { type: "phone", value: "139 0755 8000" },
              { type: "email", value: "Zhou.Jielun@example.cn" },
              { type: "wechat_openid", value: "oPipeline-openid-0007" },
              { type: "wechat_unionid", value: "oPipeline-unionid-0007" },
              { type: "youzan_buyer", value: "YZ-BUYER-88412" },
            ],
            payload: { displayName: "周杰伦", birthday: "1988-03-21", city: "台北" },
          },
          { type: "order.paid", externalId: "o1", occurredAt: at(1), identities: [{ type: "phone", value: "13907558000" }], payload: { orderId: "E-77", currency: "CNY", total: 8800, items: [] } },
        ],
      },
    });
    expect(r.data.ingestEvents.results).toEqual([
      { status: "ACCEPTED", reason: null },
      { status: "ACCEPTED", reason: null },
    ]);
    const csv = ["姓名,手机号,邮箱,生日,会员卡号", "李娜,13912348000,Li.Na@example.com.cn,1992/11/02,HZ-CARD-5521"].join("\n");
    const up = await fetch(`${t.url}/import/customers`, { method: "POST", headers: { "content-type": "text/csv", authorization: `Bearer ${t.adminKey}` }, body: csv });
    expect(((await up.json()) as { accepted: number }).accepted).toBe(1);
    await t.server.app.outbox.idle();

    expect(await plaintextLeaks(SECRET_VALUES)).toEqual([]);
    // Names stay searchable, so they are kept as they are — the scan does find what is there in the clear.
    expect(await plaintextLeaks(["周杰伦", "李娜"])).toEqual(expect.arrayContaining(["customers.display_name: 周杰伦", "customers.display_name: 李娜"]));
    if (usingPostgres()) {
      const dump = execFileSync("pg_dump", ["--data-only", t.config.databaseUrl!], { encoding: "utf8", maxBuffer: 1 << 28 });
      expect(dump).toContain("周杰伦");
      for (const v of SECRET_VALUES) expect(dump).not.toContain(v);
    }
    // Each encrypted value names the key it is under.
    const [row] = await sql(`SELECT phone, email, birthday FROM customers WHERE display_name = '周杰伦'`);
    for (const v of Object.values(row)) expect(v).toMatch(new RegExp(`^p1:${t.server.app.dataKeys.currentKeyId}:`));
  });

  it("is still found by identity, phone, e-mail and a phone's last four digits — and served decrypted", async () => {
    const byIdentity = async (type: string, value: string) => (await t.gql(`query($v: String!) { customerByIdentity(type: ${type}, value: $v) { displayName phone email birthday } }`, { v: value })).data.customerByIdentity;
    const zhou = { displayName: "周杰伦", phone: "+8613907558000", email: "zhou.jielun@example.cn", birthday: "1988-03-21" };
    expect(await byIdentity("PHONE", "+86 139-0755-8000")).toEqual(zhou);
    expect(await byIdentity("EMAIL", "ZHOU.JIELUN@example.cn")).toEqual(zhou);
    expect(await byIdentity("WECHAT_UNIONID", "oPipeline-unionid-0007")).toEqual(zhou);
    expect(await byIdentity("YOUZAN_BUYER", "YZ-BUYER-88412")).toEqual(zhou);
    expect(await byIdentity("POS_MEMBER", "HZ-CARD-5521")).toMatchObject({ displayName: "李娜", phone: "+8613912348000", birthday: "1992-11-02" });

    const names = async (filter: object, key?: string) => (await t.gql(`query($f: CustomerFilter) { customers(filter: $f) { nodes { displayName phone } } }`, { f: filter }, key)).data.customers.nodes;
    expect(await names({ phone: "13907558000" })).toEqual([{ displayName: "周杰伦", phone: "+8613907558000" }]);
    expect(await names({ email: "li.na@EXAMPLE.com.cn" })).toEqual([{ displayName: "李娜", phone: "+8613912348000" }]);
    expect(await names({ phoneLast4: "8000" })).toEqual(expect.arrayContaining([{ displayName: "周杰伦", phone: "+8613907558000" }, { displayName: "李娜", phone: "+8613912348000" }]));
    expect(await names({ phoneLast4: "8000" })).toHaveLength(2);
    expect(await names({ search: "8000" })).toHaveLength(2);
    expect(await names({ search: "周杰" })).toEqual([{ displayName: "周杰伦", phone: "+8613907558000" }]);
    expect(await names({ phone: "13907558001" })).toEqual([]);
    expect(await names({ phoneLast4: "800" })).toEqual([]);
    // A part of a phone or an e-mail is not searchable any more (ciphertext has no parts).
    expect(await names({ search: "0755800" })).toEqual([]);
    // Without customers:pii the filters work the same and the answer is masked.
    const reader = await createKey(t, ["customers:read"]);
    expect(await names({ phoneLast4: "8000", phone: "13907558000" }, reader.key)).toEqual([{ displayName: "周杰伦", phone: "139****8000" }]);
  });

  it("keeps identity values unique per tenant through their blind index: the same phone again is the same customer", async () => {
    const r = await t.gql(`mutation { createCustomer(input: {displayName: "冒名", phone: "13907558000"}) { customer { id } userErrors { field code } } }`);
    expect(r.data.createCustomer).toEqual({ customer: null, userErrors: [{ field: ["phone"], code: "TAKEN" }] });
    const [{ n }] = await sql(`SELECT count(*)::int AS n FROM customer_identities WHERE type = 'phone'`);
    expect(n).toBe(2);
  });
});
