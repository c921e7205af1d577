import { createTestServer, createKey, type TestServer } from "../helpers/test-server";

/** What the database cannot store, sent through every GraphQL input that reaches it. */
let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t.close());

const NUL = "a\u0000b";
const LONE = "杭\ud800州";
const nested = (levels: number) => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v as Record<string, unknown>;
};
const customers = async () => (await t.gql(`{ customers { totalCount } }`)).data.customers.totalCount as number;

describe("mutations answer unstorable input with a userErrors entry and write nothing", () => {
  const createCustomer = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { field code message } } }`;
  const cases: [string, Record<string, unknown>, string[], string][] = [
    ["a NUL in the name", { displayName: NUL }, ["displayName"], "INVALID"],
    ["a NUL in the e-mail", { displayName: "x", email: "a\u0000@example.cn" }, ["email"], "INVALID"],
    ["a NUL in a tag", { displayName: "x", tags: ["ok", NUL] }, ["tags", "1"], "INVALID"],
    ["a NUL in an attribute", { displayName: "x", attributes: { note: NUL } }, ["attributes", "note"], "INVALID"],
    ["a NUL in an attribute key", { displayName: "x", attributes: { [NUL]: 1 } }, ["attributes", NUL], "INVALID"],
    ["a NUL in the city", { displayName: "x", region: { city: NUL } }, ["region", "city"], "INVALID"],
    ["an unpaired surrogate in the city", { displayName: "x", region: { city: LONE } }, ["region", "city"], "INVALID"],
    ["a NUL in an identity", { displayName: "x", identities: [{ type: "EXTERNAL", value: NUL }] }, ["identities", "0", "value"], "INVALID"],
    ["attributes nested 33 levels deep", { displayName: "x", attributes: nested(33) }, ["attributes"], "TOO_LONG"],
    ["a 10 KB identity value", { displayName: "x", identities: [{ type: "EXTERNAL", value: "x".repeat(10_000) }] }, ["identities", "0", "value"], "TOO_LONG"],
  ];
  it.each(cases)("createCustomer with %s", async (_name, input, field, code) => {
    const before = await customers();
    const r = await t.gql(createCustomer, { input });
    expect(r.errors).toBeUndefined();
    expect(r.data.createCustomer.customer).toBeNull();
    expect(r.data.createCustomer.userErrors).toEqual([{ field, code, message: expect.any(String) }]);
    expect(await customers()).toBe(before);
  });

  it("createCustomer with attributes nested 5,000 levels deep (25 KB)", async () => {
    const before = await customers();
    // Written out by hand: JSON.stringify itself overflows the stack on such a value.
    const attributes = '{"a":'.repeat(5000) + "1" + "}".repeat(5000);
    const body = `{"query":${JSON.stringify(createCustomer)},"variables":{"input":{"displayName":"x","attributes":${attributes}}}}`;
    const res = await fetch(`${t.url}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` }, body });
    expect(res.status).toBe(200);
    const json = (await res.json()) as any;
    expect(json.errors).toBeUndefined();
    expect(json.data.createCustomer.userErrors).toEqual([{ field: ["attributes"], code: "TOO_LONG", message: expect.any(String) }]);
    expect(await customers()).toBe(before);
  });

  it("the same input literal in the document, not in variables", async () => {
    const r = await t.gql(`mutation { createCustomer(input: {displayName: "a\\u0000b"}) { customer { id } userErrors { field code } } }`);
    expect(r.data.createCustomer).toEqual({ customer: null, userErrors: [{ field: ["displayName"], code: "INVALID" }] });
  });

  it("attributes nested exactly 32 levels deep are accepted", async () => {
    const r = await t.gql(createCustomer, { input: { displayName: "深", attributes: nested(32) } });
    expect(r.data.createCustomer.userErrors).toEqual([]);
  });

  it("a channel connection's name, an API key's name, a tenant's name and a conflict note", async () => {
    const conn = await t.gql(
      `mutation($name: String!) { createChannelConnection(input: {channel: "http-json", name: $name, config: {secret: "a-long-random-secret-123"}}) { connection { id } userErrors { field code } } }`,
      { name: NUL },
    );
    expect(conn.data.createChannelConnection).toEqual({ connection: null, userErrors: [{ field: ["name"], code: "INVALID" }] });
    const cfg = await t.gql(
      `mutation($config: JSONObject!) { createChannelConnection(input: {channel: "http-json", name: "ok", config: $config}) { connection { id } userErrors { field code } } }`,
      { config: { secret: `a-long-random-secret-${NUL}` } },
    );
    expect(cfg.data.createChannelConnection).toEqual({ connection: null, userErrors: [{ field: ["config", "secret"], code: "INVALID" }] });
    const key = await t.gql(`mutation($name: String!) { createApiKey(input: {name: $name, scopes: ["ingest"]}) { apiKey userErrors { field code } } }`, { name: NUL });
    expect(key.data.createApiKey).toEqual({ apiKey: null, userErrors: [{ field: ["name"], code: "INVALID" }] });
    const tenant = await t.gql(`mutation($name: String!) { createTenant(input: {name: $name}) { tenant { id } userErrors { field code } } }`, { name: LONE }, t.platformKey);
    expect(tenant.data.createTenant).toEqual({ tenant: null, userErrors: [{ field: ["name"], code: "INVALID" }] });
    const note = await t.gql(`mutation($note: String) { resolveIdentityConflict(input: {id: "SWRlbnRpdHlDb25mbGljdDox", note: $note}) { conflict { id } userErrors { field code } } }`, {
      note: NUL,
    });
    expect(note.data.resolveIdentityConflict).toEqual({ conflict: null, userErrors: [{ field: ["note"], code: "INVALID" }] });
    const keys = await t.gql(`{ apiKeys { name } }`);
    expect(keys.data.apiKeys.map((k: { name: string }) => k.name)).not.toContain(NUL);
  });

  it("a key without the scope still gets FORBIDDEN, not a userError", async () => {
    const { key } = await createKey(t, ["ingest"]);
    const r = await t.gql(createCustomer, { input: { displayName: NUL } }, key);
    expect(r.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

describe("queries answer unstorable arguments with BAD_USER_INPUT", () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    ["customers search", `query($v: String!) { customers(filter: {search: $v}) { totalCount } }`, { v: NUL }, "filter.search"],
    ["customers tag filter", `query($v: String!) { customers(filter: {tags: [$v]}) { totalCount } }`, { v: NUL }, "filter.tags.0"],
    ["customerByIdentity", `query($v: String!) { customerByIdentity(type: PHONE, value: $v) { id } }`, { v: NUL }, "value"],
    ["customerByIdentity, a lone surrogate", `query($v: String!) { customerByIdentity(type: EXTERNAL, value: $v) { id } }`, { v: LONE }, "value"],
    ["orders channel filter", `query($v: String!) { orders(filter: {channel: $v}) { totalCount } }`, { v: NUL }, "filter.channel"],
    ["customers created after year 0", `query($v: DateTime!) { customers(filter: {createdAfter: $v}) { totalCount } }`, { v: "0000-01-01T00:00:00Z" }, "filter.createdAfter"],
  ];
  it.each(cases)("%s", async (_name, query, variables, field) => {
    const r = await t.gql(query, variables);
    expect(r.status).toBe(200);
    expect(r.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: "BAD_USER_INPUT", field }) })]);
    expect(r.errors![0].message).not.toMatch(/internal/i);
  });
});

describe("money sums that would overflow", () => {
  const MAX = 10 ** 13;
  let connectionId: string;
  const ingest = async (events: unknown[]) => {
    const r = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status reason } userErrors { code } } }`, { input: { connectionId, events } });
    expect(r.errors).toBeUndefined();
    return r.data.ingestEvents.results as { status: string; reason?: string }[];
  };
  const paid = (orderId: string, buyer: string, total: number, items?: unknown[]) => ({
    type: "order.paid",
    externalId: `paid-${orderId}`,
    occurredAt: "2026-09-01T08:00:00+08:00",
    identities: [{ type: "external", value: buyer }],
    payload: { orderId, currency: "CNY", total, ...(items ? { items } : {}) },
  });
  const refund = (orderId: string, refundId: string, amount: number, items?: unknown[]) => ({
    type: "order.refunded",
    externalId: `refund-${orderId}-${refundId}`,
    occurredAt: "2026-09-02T08:00:00+08:00",
    identities: [],
    payload: { orderId, refundId, amount, ...(items ? { items } : {}) },
  });
  const statsOf = async (buyer: string) =>
    (await t.gql(`query($v: String!) { customerByIdentity(type: EXTERNAL, value: $v) { stats { ordersCount totalSpent averageOrderValue } } }`, { v: buyer })).data.customerByIdentity.stats;

  beforeAll(async () => {
    const r = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "money", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`);
    connectionId = r.data.createChannelConnection.connection.id;
  });

  it("refuses an amount above 10^13 minor units per event, with a reason", async () => {
    const [r] = await ingest([paid("M-0", "money-0", Number.MAX_SAFE_INTEGER)]);
    expect(r).toEqual({ status: "REJECTED", reason: expect.stringMatching(/^payload\.total: .*10000000000000/) });
  });

  it("adds two maximal orders exactly", async () => {
    expect((await ingest([paid("M-1", "money-1", MAX), paid("M-2", "money-1", MAX)])).map((r) => r.status)).toEqual(["ACCEPTED", "ACCEPTED"]);
    expect(await statsOf("money-1")).toEqual({ ordersCount: 2, totalSpent: 2 * MAX, averageOrderValue: MAX });
  });

  it("saturates a customer's total at 2^53 − 1 instead of failing", async () => {
    // 901 orders of 10^13 are 9.01 × 10^15, past Number.MAX_SAFE_INTEGER (≈ 9.007 × 10^15).
    const events = Array.from({ length: 901 }, (_, i) => paid(`S-${i}`, "money-2", MAX));
    expect((await ingest(events)).every((r) => r.status === "ACCEPTED")).toBe(true);
    expect(await statsOf("money-2")).toEqual({ ordersCount: 901, totalSpent: Number.MAX_SAFE_INTEGER, averageOrderValue: Math.round(Number.MAX_SAFE_INTEGER / 901) });
  });

  it("counts refunds beyond an order's total only up to the total, and the order list stays readable", async () => {
    const line = [{ sku: "SKU-1", quantity: 2, unitPrice: MAX / 2 }];
    await ingest([paid("R-1", "money-3", MAX, line)]);
    const refunds = await ingest([refund("R-1", "a", MAX, [{ sku: "SKU-1", quantity: 2, amount: MAX }]), refund("R-1", "b", MAX, [{ sku: "SKU-1", quantity: 2, amount: MAX }])]);
    expect(refunds.map((r) => r.status)).toEqual(["ACCEPTED", "ACCEPTED"]);
    const r = await t.gql(`{ orders(first: 250, filter: {channel: "http-json"}) { nodes { externalId total refunded status items { sku quantity refundedQuantity } } } }`);
    expect(r.errors).toBeUndefined();
    const order = r.data.orders.nodes.find((o: { externalId: string }) => o.externalId === "R-1");
    expect(order).toEqual({ externalId: "R-1", total: MAX, refunded: MAX, status: "REFUNDED", items: [{ sku: "SKU-1", quantity: "2", refundedQuantity: "2" }] });
    // Fully refunded: not counted in the buyer's stats.
    expect(await statsOf("money-3")).toEqual({ ordersCount: 0, totalSpent: 0, averageOrderValue: 0 });
  });
});
