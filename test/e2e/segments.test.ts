import WebSocket from "ws";
import { createClient, type Client } from "graphql-ws";
import { fixedClock } from "../../src/core/calendar";
import { localId } from "../../src/core/global-id";
import { until } from "../helpers/wait";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * Segments through the public API on a real server: every condition type of the language against
 * customers and orders whose facts are written out below (expected members worked out by hand, not
 * by running the compiler), membership kept current by ingestion and by profile changes, the
 * subscription over a real graphql-ws socket, and tenant isolation.
 *
 * "Now" is 2026-12-01 12:00 in Shanghai (the tenant's zone): `-90d` is midnight 2026-09-02 local,
 * `WITHIN 30d` counts orders since midnight 2026-11-01 local.
 */
const NOW = "2026-12-01T04:00:00Z";
let t: TestServer;
let connectionId: string;
const id: Record<string, string> = {}; // customer global ids by letter

beforeAll(async () => {
  t = await createTestServer({}, { clock: fixedClock(NOW) });
  const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`);
  connectionId = conn.data.createChannelConnection.connection.id;
  await ingest(FIXTURE);
  for (const [letter, phone] of Object.entries(PHONES)) id[letter] = await customerByPhone(phone);
  // C's marketing consent comes through the API.
  const g = await t.gql(`mutation($id: ID!) { grantConsent(input: {customerId: $id, purpose: MARKETING, channel: SMS, source: "store:SH01", textVersion: "marketing-2026-10"}) { userErrors { code message } } }`, { id: id.C });
  expect(g.data.grantConsent.userErrors).toEqual([]);
});
afterAll(() => t.close());

const PHONES = { A: "13905710001", B: "13907550002", C: "13902100003", D: "13905740004" } as const;

function order(type: string, key: string, phone: string, at: string, payload: Record<string, unknown>) {
  return { type, externalId: `${key}:${type}`, occurredAt: at, identities: [{ type: "phone", value: phone }], payload: { orderId: key, currency: "CNY", ...payload } };
}
const line = (sku: string, category: string, unitPrice: number) => ({ sku, category, title: sku, quantity: 1, unitPrice });

/**
 * Birthdays: A 1990-05-01, B 2001-12-30, D 1985-01-01, C none → `age` (2026 less the year) 36, 25, 41.
 * A: 王芳, FEMALE, 浙江 杭州, tags vip, attributes {level 3, club gold, hobbies [tea, hiking]}, a WeChat unionid;
 *    paid orders 2026-06-01 (100,000, TEA-1), 2026-10-01 (250,000, CUP-2 器具, store HZ01), 2026-11-20 (300,000, TEA-1 茶, HZ01).
 *    → 3 orders, 650,000, average 216,667; within 90 days 2 orders and 550,000.
 * B: 李伟, MALE, 广东 深圳, tags 新客; paid 2026-11-30T17:30Z = 2026-12-01 01:30 in Shanghai (50,000, TEA-1, store SZ02);
 *    an order placed and never paid (99,999: not counted). → 1 order, last order on the local day 2026-12-01.
 * C: 张静, FEMALE, 上海; no orders; marketing consent (granted through the API).
 * D: 刘洋, UNKNOWN, 浙江 宁波, tags vip and 沉睡; paid 2025-11-15 (800,000, BAG-9 箱包), and 2026-01-10 (200,000)
 *    refunded in full (not counted). → 1 order, 800,000, last order 381 days ago.
 */
const FIXTURE = [
  {
    type: "customer.upserted",
    externalId: "cust-A",
    occurredAt: "2026-05-01T02:00:00Z",
    identities: [{ type: "phone", value: PHONES.A }, { type: "wechat_unionid", value: "oUnion-A-0001" }],
    payload: { displayName: "王芳", gender: "FEMALE", birthday: "1990-05-01", region: { country: "CN", province: "浙江", city: "杭州" }, tags: ["vip"], attributes: { level: 3, club: "gold", hobbies: ["tea", "hiking"] } },
  },
  {
    type: "customer.upserted",
    externalId: "cust-B",
    occurredAt: "2026-05-01T02:01:00Z",
    identities: [{ type: "phone", value: PHONES.B }],
    payload: { displayName: "李伟", gender: "MALE", birthday: "2001-12-30", region: { country: "CN", province: "广东", city: "深圳" }, tags: ["新客"], attributes: { level: 1 } },
  },
  {
    type: "customer.upserted",
    externalId: "cust-C",
    occurredAt: "2026-05-01T02:02:00Z",
    identities: [{ type: "phone", value: PHONES.C }, { type: "email", value: "zhang.jing@example.cn" }],
    payload: { displayName: "张静", gender: "FEMALE", region: { country: "CN", province: "上海", city: "上海" } },
  },
  {
    type: "customer.upserted",
    externalId: "cust-D",
    occurredAt: "2026-05-01T02:03:00Z",
    identities: [{ type: "phone", value: PHONES.D }],
    payload: { displayName: "刘洋", birthday: "1985-01-01", region: { country: "cn", province: "浙江", city: "宁波" }, tags: ["vip", "沉睡"], attributes: { level: "high" } },
  },
  order("order.paid", "A-1", PHONES.A, "2026-06-01T02:00:00Z", { total: 100_000, items: [line("TEA-1", "茶", 100_000)] }),
  order("order.paid", "A-2", PHONES.A, "2026-10-01T02:00:00Z", { total: 250_000, storeId: "HZ01", items: [line("CUP-2", "器具", 250_000)] }),
  order("order.paid", "A-3", PHONES.A, "2026-11-20T02:00:00Z", { total: 300_000, storeId: "HZ01", items: [line("TEA-1", "茶", 300_000)] }),
  order("order.paid", "B-1", PHONES.B, "2026-11-30T17:30:00Z", { total: 50_000, storeId: "SZ02", items: [line("TEA-1", "茶", 50_000)] }),
  order("order.placed", "B-2", PHONES.B, "2026-11-29T02:00:00Z", { total: 99_999, items: [line("CUP-2", "器具", 99_999)] }),
  order("order.paid", "D-1", PHONES.D, "2025-11-15T02:00:00Z", { total: 800_000, items: [line("BAG-9", "箱包", 800_000)] }),
  order("order.paid", "D-2", PHONES.D, "2026-01-10T02:00:00Z", { total: 200_000, items: [line("TEA-1", "茶", 200_000)] }),
  { type: "order.refunded", externalId: "D-2:refund", occurredAt: "2026-01-12T02:00:00Z", identities: [{ type: "phone", value: PHONES.D }], payload: { orderId: "D-2", refundId: "R1", amount: 200_000 } },
];

async function ingest(events: unknown[], key?: string, conn = connectionId) {
  const r = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { externalId status reason } userErrors { field code message } } }`, { input: { connectionId: conn, events } }, key);
  expect(r.errors).toBeUndefined();
  expect(r.data.ingestEvents.userErrors).toEqual([]);
  for (const res of r.data.ingestEvents.results) expect(res).toMatchObject({ status: expect.stringMatching(/ACCEPTED|DUPLICATE/) });
  return r.data.ingestEvents.results;
}

async function customerByPhone(phone: string, key?: string): Promise<string> {
  const r = await t.gql(`query($p: String!) { customers(first: 2, filter: {phone: $p}) { nodes { id } } }`, { p: phone }, key);
  expect(r.data.customers.nodes).toHaveLength(1);
  return r.data.customers.nodes[0].id;
}

const letters = (ids: string[]) => ids.map((g) => Object.keys(id).find((k) => id[k] === g) ?? g).sort();

const PREVIEW = `query($q: String, $c: JSONObject) { previewSegment(query: $q, condition: $c) { size sample(first: 50) { id } userErrors { field code message } } }`;
async function preview(query: string): Promise<string[]> {
  const r = await t.gql(PREVIEW, { q: query });
  expect(r.errors).toBeUndefined();
  expect(r.data.previewSegment.userErrors).toEqual([]);
  const found = r.data.previewSegment.sample.map((c: { id: string }) => c.id);
  expect(r.data.previewSegment.size).toBe(found.length);
  return letters(found);
}

const CREATE = `mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id name kind size query condition timeBased members(first: 50) { nodes { id } totalCount } } userErrors { field code message } } }`;
async function create(input: Record<string, unknown>, key?: string) {
  const r = await t.gql(CREATE, { input }, key);
  expect(r.errors).toBeUndefined();
  return r.data.createSegment;
}

describe("each condition, against hand-worked members", () => {
  const cases: [string, string[]][] = [
    // aggregates (counted orders only: B's unpaid order and D's refunded one do not count)
    ["orders_count >= 2", ["A"]],
    ["orders_count = 1", ["B", "D"]],
    ["orders_count = 0", ["C"]],
    ["orders_count >= 1 AND total_spent > 500000", ["A", "D"]],
    ["total_spent IN (50000, 800000)", ["B", "D"]],
    ["average_order_value > 200000", ["A", "D"]],
    ["average_order_value = 216667", ["A"]],
    ["orders_count >= 2 WITHIN 90d", ["A"]],
    ["total_spent >= 550000 WITHIN 90d", ["A"]],
    ["total_spent > 550000 WITHIN 90d", []],
    ["orders_count = 0 WITHIN 30d", ["C", "D"]],
    ["average_order_value = 275000 WITHIN 90d", ["A"]],
    // dates in the tenant's zone (B's order is on 2026-12-01 there, 2026-11-30 in UTC)
    ["last_order_at > -90d", ["A", "B"]],
    ["NOT last_order_at > -90d", ["C", "D"]],
    ["first_order_at < \"2026-01-01\"", ["D"]],
    ["last_order_at = \"2026-12-01\"", ["B"]],
    ["last_order_at = \"2026-11-30\"", []],
    ["last_order_at >= \"2026-11-20\" AND last_order_at <= \"2026-11-20\"", ["A"]],
    ["first_order_at > \"2026-06-01\"", ["B"]],
    ["days_since_last_order = 0", ["B"]],
    ["days_since_last_order = 11", ["A"]],
    ["days_since_last_order > 365", ["D"]],
    // profile
    ["age >= 30", ["A", "D"]],
    ["age < 30", ["B"]],
    ["NOT age >= 30", ["B", "C"]],
    ["age IN (25, 41)", ["B", "D"]],
    ['gender = "female"', ["A", "C"]],
    ['gender != "FEMALE"', ["B", "D"]],
    ['country = "CN"', ["A", "B", "C", "D"]],
    ['province IN ("浙江", "广东")', ["A", "B", "D"]],
    ['city CONTAINS "波"', ["D"]],
    ['tag = "vip"', ["A", "D"]],
    ['tag != "vip"', ["B", "C"]],
    ['tag IN ("新客", "沉睡")', ["B", "D"]],
    ['tag CONTAINS "沉"', ["D"]],
    ["attribute.level >= 3", ["A"]],
    ["attribute.level = 1", ["B"]],
    ['attribute.level = "high"', ["D"]],
    ['attribute.club = "gold"', ["A"]],
    ['attribute.hobbies CONTAINS "tea"', ["A"]],
    ['attribute.missing = "x"', []],
    ['NOT attribute.missing = "x"', ["A", "B", "C", "D"]],
    // identities and consent
    ['has_identity = "WECHAT_UNIONID"', ["A"]],
    ['has_identity = "email"', ["C"]],
    ['has_identity != "wechat_unionid"', ["B", "C", "D"]],
    ['consent = "MARKETING"', ["C"]],
    ['consent = "SENSITIVE_DATA"', []],
    // order facts
    ['sku = "TEA-1"', ["A", "B"]],
    ['sku = "TEA-1" WITHIN 30d', ["A", "B"]],
    ['sku = "CUP-2" WITHIN 30d', []],
    ['sku = "CUP-2"', ["A"]],
    ['sku != "TEA-1"', ["C", "D"]],
    ['sku CONTAINS "BAG"', ["D"]],
    ['category = "器具"', ["A"]],
    ['category IN ("箱包", "器具")', ["A", "D"]],
    ['store = "SZ02"', ["B"]],
    ['store = "HZ01" WITHIN 30d', ["A"]],
    ['channel = "http-json"', ["A", "B", "D"]],
    ['channel = "youzan"', []],
    // boolean structure
    ['(tag = "vip" OR gender = "MALE") AND NOT province = "浙江"', ["B"]],
    ['tag = "vip" AND (orders_count >= 2 OR total_spent >= 800000)', ["A", "D"]],
  ];
  it.each(cases)("%s", async (query, expected) => {
    expect(await preview(query)).toEqual(expected.sort());
  });
});

describe("age from profiles written through the API", () => {
  it("derives the birth year on create and update, without opening the encrypted birthday", async () => {
    const other = await createTenant(t, "segments-age");
    const c = await t.gql(`mutation { createCustomer(input: {displayName: "周敏", birthday: "2000-02-29"}) { customer { id } userErrors { code } } }`, {}, other.key);
    const cid = c.data.createCustomer.customer.id;
    const ages = async (q: string) => (await t.gql(`query($q: String) { previewSegment(query: $q) { size } }`, { q }, other.key)).data.previewSegment.size;
    expect(await ages("age = 26")).toBe(1);
    await t.gql(`mutation($id: ID!) { updateCustomer(input: {id: $id, birthday: "1996-07-01"}) { userErrors { code } } }`, { id: cid }, other.key);
    expect(await ages("age = 26")).toBe(0);
    expect(await ages("age = 30")).toBe(1);
    const [row] = await t.server.app.db.dataSource.query(`SELECT birth_year, birthday FROM customers WHERE id = $1`, [localId(cid, "Customer")]);
    expect(row.birth_year).toBe(1996);
    expect(row.birthday).not.toContain("1996"); // the birthday itself stays encrypted
  });
});

describe("insights over the same customers", () => {
  it("bands ages by birth year and counts regions, as worked out above", async () => {
    const r = await t.gql(`{ segmentInsights(query: "country = \\"CN\\"") { customers ageBand { key customers } province { key customers } gender { key customers } } }`);
    expect(r.errors).toBeUndefined();
    const i = r.data.segmentInsights;
    expect(i.customers).toBe(4);
    // Ages 36 (A), 25 (B), 41 (D); C has no birthday.
    expect(i.ageBand.filter((b: { customers: number }) => b.customers)).toEqual([
      { key: "25-30", customers: 1 },
      { key: "35-40", customers: 1 },
      { key: "40-50", customers: 1 },
      { key: "NONE", customers: 1 },
    ]);
    expect(i.province).toEqual([
      { key: "浙江", customers: 2 },
      { key: "上海", customers: 1 },
      { key: "广东", customers: 1 },
    ]);
    expect(i.gender).toEqual([
      { key: "FEMALE", customers: 2 },
      { key: "MALE", customers: 1 },
      { key: "UNKNOWN", customers: 1 },
    ]);
  });
});

describe("createSegment", () => {
  it("answers with the members already there, and the rule in canonical form", async () => {
    const s = await create({ name: "复购高价值", query: "orders_count >= 1 and total_spent > 500000" });
    expect(s.userErrors).toEqual([]);
    expect(s.segment).toMatchObject({ name: "复购高价值", kind: "RULE", size: 2, query: "orders_count >= 1 AND total_spent > 500000", timeBased: false });
    expect(letters(s.segment.members.nodes.map((n: { id: string }) => n.id))).toEqual(["A", "D"]);
    expect(s.segment.members.totalCount).toBe(2);
  });

  it("takes the rule as a condition tree, and marks rules with relative dates as time-based", async () => {
    const s = await create({ name: "active", condition: { all: [{ field: "last_order_at", op: ">", value: { relative: "-90d" } }, { field: "orders_count", op: ">=", value: 1 }] } });
    expect(s.userErrors).toEqual([]);
    expect(s.segment).toMatchObject({ size: 2, timeBased: true, query: "last_order_at > -90d AND orders_count >= 1" });
  });

  it("refuses a rule with errors, naming their position, and writes nothing", async () => {
    const before = await t.gql(`{ segments(first: 250) { totalCount } }`);
    const s = await create({ name: "bad", query: "orders_count >= 3 AND\n  totl_spent > 5" });
    expect(s.segment).toBeNull();
    expect(s.userErrors).toEqual([{ field: ["query"], code: "INVALID", message: expect.stringMatching(/Unknown field "totl_spent".*line 2, column 3/) }]);
    const v = await t.gql(`query($q: String!) { validateSegmentQuery(query: $q) { valid errors { message line column } } }`, { q: "orders_count >= 3 AND\n  totl_spent > 5" });
    expect(v.data.validateSegmentQuery).toEqual({ valid: false, errors: [{ message: expect.stringContaining("totl_spent"), line: 2, column: 3 }] });
    const after = await t.gql(`{ segments(first: 250) { totalCount } }`);
    expect(after.data.segments.totalCount).toBe(before.data.segments.totalCount);
  });

  it("refuses a duplicate name, both a query and a condition, and members for a rule segment", async () => {
    expect((await create({ name: "dup", query: 'tag = "vip"' })).userErrors).toEqual([]);
    expect((await create({ name: "DUP", query: 'tag = "vip"' })).userErrors).toEqual([expect.objectContaining({ field: ["name"], code: "TAKEN" })]);
    expect((await create({ name: "both", query: 'tag = "vip"', condition: { field: "tag", op: "=", value: "vip" } })).userErrors).toEqual([expect.objectContaining({ field: ["query"], code: "REQUIRED" })]);
    expect((await create({ name: "rule-with-ids", query: 'tag = "vip"', customerIds: [id.A] })).userErrors).toEqual([expect.objectContaining({ field: ["customerIds"] })]);
    expect((await create({ name: "" })).userErrors).toEqual([expect.objectContaining({ field: ["name"], code: "REQUIRED" })]);
  });

  it("static segments take members by hand; rule segments can name them (in_segment)", async () => {
    const s = await create({ name: "hand-picked", kind: "STATIC", customerIds: [id.C, id.B] });
    expect(s.userErrors).toEqual([]);
    expect(s.segment.size).toBe(2);
    const inner = await create({ name: "picked and buying", query: `in_segment = "${s.segment.id}" AND orders_count >= 1` });
    expect(letters(inner.segment.members.nodes.map((n: { id: string }) => n.id))).toEqual(["B"]);
    // Adding A to the static segment brings A into the rule segment that names it, at once.
    const add = await t.gql(`mutation($i: SegmentMembersInput!) { addSegmentMembers(input: $i) { segment { size } userErrors { code message } } }`, { i: { segmentId: s.segment.id, customerIds: [id.A] } });
    expect(add.data.addSegmentMembers).toEqual({ segment: { size: 3 }, userErrors: [] });
    const after = await t.gql(`query($id: ID!) { segment(id: $id) { size members(first: 10) { nodes { id } } } }`, { id: inner.segment.id });
    expect(letters(after.data.segment.members.nodes.map((n: { id: string }) => n.id))).toEqual(["A", "B"]);
    // A rule segment naming another rule segment evaluates it in place.
    const vip = await create({ name: "vip-rule", query: 'tag = "vip"' });
    const nested = await create({ name: "vip and repeat", query: `in_segment = "${vip.segment.id}" AND orders_count >= 2` });
    expect(letters(nested.segment.members.nodes.map((n: { id: string }) => n.id))).toEqual(["A"]);
    // …and the named one cannot be deleted while it is named.
    const del = await t.gql(`mutation($id: ID!) { deleteSegment(input: {id: $id}) { deletedSegmentId userErrors { code message } } }`, { id: vip.segment.id });
    expect(del.data.deleteSegment).toEqual({ deletedSegmentId: null, userErrors: [expect.objectContaining({ code: "CONFLICT" })] });
    // Members cannot be added by hand to a rule segment.
    const refused = await t.gql(`mutation($i: SegmentMembersInput!) { addSegmentMembers(input: $i) { segment { id } userErrors { code } } }`, { i: { segmentId: vip.segment.id, customerIds: [id.B] } });
    expect(refused.data.addSegmentMembers).toEqual({ segment: null, userErrors: [{ code: "INVALID" }] });
  });

  it("refuses a rule that names itself through another segment", async () => {
    const a = await create({ name: "cycle-a", query: 'tag = "vip"' });
    const b = await create({ name: "cycle-b", query: `in_segment = "${a.segment.id}"` });
    const u = await t.gql(`mutation($i: UpdateSegmentInput!) { updateSegment(input: $i) { segment { id } userErrors { field code message } } }`, { i: { id: a.segment.id, query: `in_segment = "${b.segment.id}"` } });
    expect(u.data.updateSegment.segment).toBeNull();
    expect(u.data.updateSegment.userErrors).toEqual([expect.objectContaining({ code: "INVALID" })]);
  });
});

describe("members kept current", () => {
  it("follow an ingested order in the batch's own transaction, and a profile change through the API", async () => {
    const s = await create({ name: "two or more orders", query: "orders_count >= 2" });
    expect(s.segment.size).toBe(1);
    await ingest([order("order.paid", "B-3", PHONES.B, "2026-12-01T03:00:00Z", { total: 10_000, items: [line("TEA-1", "茶", 10_000)] })]);
    // No waiting: the hook ran in the batch.
    const after = await t.gql(`query($id: ID!) { segment(id: $id) { size members(first: 10) { nodes { id } } } }`, { id: s.segment.id });
    expect(letters(after.data.segment.members.nodes.map((n: { id: string }) => n.id))).toEqual(["A", "B"]);
    const c = await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { segments { name } } } }`, { id: id.B });
    expect(c.data.node.segments.map((x: { name: string }) => x.name)).toContain("two or more orders");

    const tagged = await create({ name: "tagged gold", query: 'tag = "gold"' });
    expect(tagged.segment.size).toBe(0);
    await t.gql(`mutation($id: ID!) { addCustomerTags(input: {id: $id, tags: ["gold"]}) { userErrors { code } } }`, { id: id.C });
    await until(async () => (await t.gql(`query($id: ID!) { segment(id: $id) { size } }`, { id: tagged.segment.id })).data.segment.size === 1, "C to join through the outbox");
  });

  it("refreshSegment recomputes in full, and erasure removes the person from every segment", async () => {
    const s = await create({ name: "vip-for-erasure", query: 'tag = "vip"' });
    expect(s.segment.size).toBe(2);
    const r = await t.gql(`mutation($id: ID!) { refreshSegment(input: {id: $id}) { segment { size refreshedAt } userErrors { code } } }`, { id: s.segment.id });
    expect(r.data.refreshSegment).toEqual({ segment: { size: 2, refreshedAt: new Date(NOW).toISOString() }, userErrors: [] });
    const e = await t.gql(`mutation($id: ID!) { eraseCustomer(input: {customerId: $id, reason: "request"}) { userErrors { code } } }`, { id: id.D });
    expect(e.data.eraseCustomer.userErrors).toEqual([]);
    const rows = await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM segment_members WHERE customer_id = $1`, [localId(id.D, "Customer")]);
    expect(rows[0].n).toBe(0);
    const after = await t.gql(`query($id: ID!) { segment(id: $id) { size } }`, { id: s.segment.id });
    expect(after.data.segment.size).toBe(1);
  });
});

describe("segmentMembershipChanged", () => {
  const clients: Client[] = [];
  afterAll(async () => Promise.all(clients.map((c) => c.dispose())));

  it("delivers joins and leaves of one segment over graphql-ws", async () => {
    const s = await create({ name: "watched", query: 'tag = "watched"' });
    const client = createClient({ url: t.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${t.adminKey}` } });
    clients.push(client);
    const got: any[] = [];
    client.subscribe(
      { query: `subscription($id: ID!) { segmentMembershipChanged(segmentId: $id) { segment { id } customer { id } customerId change occurredAt } }`, variables: { id: s.segment.id } },
      { next: (r) => void got.push(r), error: (e) => void got.push({ error: e }), complete: () => undefined },
    );
    const tag = (tags: string[]) => t.gql(`mutation($id: ID!, $tags: [String!]!) { addCustomerTags(input: {id: $id, tags: $tags}) { userErrors { code } } }`, { id: id.A, tags });
    const untag = () => t.gql(`mutation($id: ID!) { removeCustomerTags(input: {id: $id, tags: ["watched"]}) { userErrors { code } } }`, { id: id.A });
    // No "subscribed" acknowledgement in graphql-ws: toggle A in and out until a change arrives, end with A
    // in, then wait until the deliveries settle (nothing new for half a second).
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await until(async () => {
      await untag();
      await tag(["watched"]);
      await sleep(500);
      return got.length > 0;
    }, "the subscription to start", 30_000, 0);
    let seenCount = -1;
    await until(async () => {
      const settled = seenCount === got.length;
      seenCount = got.length;
      await sleep(500);
      return settled;
    }, "priming deliveries to settle", 30_000, 0);
    got.length = 0;
    await untag();
    await until(async () => got.length >= 1, "a REMOVED change");
    expect(got[0]).toEqual({
      data: { segmentMembershipChanged: { segment: { id: s.segment.id }, customer: { id: id.A }, customerId: id.A, change: "REMOVED", occurredAt: expect.any(String) } },
    });
    await tag(["watched"]);
    await until(async () => got.length >= 2, "an ADDED change");
    expect(got[1].data.segmentMembershipChanged).toMatchObject({ customerId: id.A, change: "ADDED" });
  });
});

describe("scopes and tenants", () => {
  it("needs segments scopes; members need customers:read; another tenant sees none of it", async () => {
    const reader = await createKey(t, ["segments:read"]);
    const r = await t.gql(`{ segments(first: 5) { nodes { id name size } } }`, {}, reader.key);
    expect(r.errors).toBeUndefined();
    const m = await t.gql(`{ segments(first: 1) { nodes { members(first: 1) { nodes { id } } } } }`, {}, reader.key);
    expect(m.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const w = await t.gql(CREATE, { input: { name: "nope", query: 'tag = "vip"' } }, reader.key);
    expect(w.errors?.[0].extensions?.code).toBe("FORBIDDEN");

    const other = await createTenant(t, "segments-other");
    const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp2", config: {secret: "another-long-secret-456"}}) { connection { id } } }`, {}, other.key);
    await ingest([{ ...FIXTURE[0], externalId: "other-A" }], other.key, conn.data.createChannelConnection.connection.id);
    const mine = await t.gql(`{ segments(first: 250) { totalCount } }`, {}, other.key);
    expect(mine.data.segments.totalCount).toBe(0);
    const s = await create({ name: "vip", query: 'tag = "vip"' }, other.key);
    expect(s.segment.size).toBe(1); // its own 王芳 only, not the first tenant's A and D
    const theirs = await t.gql(`{ segments(first: 250) { nodes { id } } }`);
    expect(theirs.data.segments.nodes.map((n: { id: string }) => n.id)).not.toContain(s.segment.id);
    const peek = await t.gql(`query($id: ID!) { segment(id: $id) { id } }`, { id: s.segment.id });
    expect(peek.data.segment).toBeNull();
  });
});
