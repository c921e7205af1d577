import { signHttpJson } from "../../adapters/http-json";
import { aCustomer, createCustomer } from "../fixtures/customers";
import { createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * Tenant A is the bootstrap tenant ("default", t.adminKey); tenant B is created through the platform
 * key. Every operation added with ingestion — channel connections, ingestEvents, merges, identity
 * conflicts and settings, orders, upsertCustomer — is tried with B's key against A's objects: B never
 * reads, counts or changes them, and A's state is compared in full before and after each attempt.
 */
let t: TestServer;
const A = { key: "", tenantId: "", secret: "tenant-A-webhook-secret-0123456789", connection: null as any, webhook: "" };
const B = { key: "", tenantId: "", secret: "tenant-B-webhook-secret-9876543210", connection: null as any, webhook: "" };
let a1: any; // A's customer with an order and a unionid
let a2: any; // A's customer that stays alone
let aMerge: any; // A's manual merge (a4 into a3)
let a3: any;
let aOrderId: string;
let bCustomer: any;
let bOrderId: string;

const at = (m: number) => new Date(Date.parse("2026-09-01T00:00:00Z") + m * 60_000).toISOString();

const CUSTOMER = `id displayName phone email tags attributes createdAt updatedAt firstSeenAt lastSeenAt
  identities { id type value sourceChannel firstSeenAt lastSeenAt }
  stats { ordersCount totalSpent currency firstOrderAt lastOrderAt } orders { nodes { id externalId } }`;
const CONNECTION = `id channel name enabled config webhookUrl createdAt updatedAt`;
const MERGE_FIELDS = `id reason channel externalId targetCustomerId sourceCustomerId changedFields mergedAt unmergedAt`;
const NODE = `query($id: ID!) { node(id: $id) { __typename id } }`;
const INGEST = `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { externalId status reason } userErrors { field code } } }`;
const MERGE = `mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) { customer { id } merge { id } userErrors { field code } } }`;
const UNMERGE = `mutation($mergeId: ID!) { unmergeCustomer(input: {mergeId: $mergeId}) { target { id } source { id } userErrors { field code } } }`;
const MERGES = `query($id: ID!) { customerMerges(customerId: $id) { nodes { ${MERGE_FIELDS} } } }`;
const CONFLICTS = `{ identityConflicts { nodes { id channel externalId identities customerIds reason } } }`;
const SETTINGS = `{ identitySettings { precedence limits { type max } blocked { type value } } }`;
const UPDATE_SETTINGS = `mutation($input: UpdateIdentitySettingsInput!) { updateIdentitySettings(input: $input) { userErrors { field code } } }`;
const ORDERS = `{ orders(first: 250) { totalCount nodes { id externalId customer { id } } } }`;
const BY_IDENTITY = `query($type: IdentityType!, $value: String!) { customerByIdentity(type: $type, value: $value) { id } }`;
const UPSERT = `mutation($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { created customer { id phone displayName } userErrors { field code } } }`;

const paid = (externalId: string, orderId: string, phone: string, total: number, minute: number) => ({
  type: "order.paid",
  externalId,
  occurredAt: at(minute),
  identities: [{ type: "phone", value: phone }],
  payload: { orderId, currency: "CNY", total, subtotal: total, items: [{ sku: "SKU-1", quantity: 1, unitPrice: total }] },
});

async function gqlOk(query: string, variables: Record<string, unknown>, key: string): Promise<any> {
  const r = await t.gql(query, variables, key);
  expect(r.errors).toBeUndefined();
  return r.data;
}

async function createConnection(key: string, name: string, secret: string): Promise<any> {
  const data = await gqlOk(
    `mutation($name: String!, $config: JSONObject!) { createChannelConnection(input: {channel: "http-json", name: $name, config: $config}) { connection { ${CONNECTION} } userErrors { field code } } }`,
    { name, config: { secret } },
    key,
  );
  expect(data.createChannelConnection.userErrors).toEqual([]);
  return data.createChannelConnection.connection;
}

async function ingest(key: string, connectionId: string, events: unknown[]): Promise<any[]> {
  const data = await gqlOk(INGEST, { input: { connectionId, events } }, key);
  expect(data.ingestEvents.userErrors).toEqual([]);
  return data.ingestEvents.results;
}

async function post(url: string, events: unknown[], secret: string) {
  const body = JSON.stringify({ events });
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-crm-signature": signHttpJson(secret, body) }, body });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

/** changedFields in a fixed order: the API does not promise one (the merge payload and later reads differ). */
const normMerge = (m: any) => (m ? { ...m, changedFields: [...m.changedFields].sort() } : m);
const mergesOf = async (id: string, key: string) => (await gqlOk(MERGES, { id }, key)).customerMerges.nodes.map(normMerge);

const sortIds = (xs: any[]) => [...xs].sort((x, y) => String(x.id ?? x).localeCompare(String(y.id ?? y)));

/** Everything of one tenant the ingestion operations could touch, read with its own admin key. */
async function stateOf(key: string): Promise<any> {
  const data = await gqlOk(
    `{ customers(first: 250) { totalCount nodes { ${CUSTOMER} } }
       channelConnections { nodes { ${CONNECTION} } }
       orders(first: 250) { totalCount nodes { id externalId status total customer { id } } }
       identityConflicts { nodes { id channel externalId identities customerIds reason } }
       identitySettings { precedence limits { type max } blocked { type value } } }`,
    {},
    key,
  );
  const customers = sortIds(data.customers.nodes).map((c: any) => ({ ...c, identities: sortIds(c.identities), orders: sortIds(c.orders.nodes) }));
  const merges: Record<string, unknown> = {};
  for (const c of customers) merges[c.id] = await mergesOf(c.id, key);
  return { ...data, customers, merges };
}

let aState: any;
let bState: any;
/** Runs `attempt` with B's key and asserts that neither tenant's state moved. */
async function unchanged(attempt: () => Promise<void>): Promise<void> {
  aState = await stateOf(A.key);
  bState = await stateOf(B.key);
  await attempt();
  expect(await stateOf(A.key)).toEqual(aState);
  expect(await stateOf(B.key)).toEqual(bState);
}

beforeAll(async () => {
  t = await createTestServer();
  A.key = t.adminKey;
  A.tenantId = (await t.gql(`{ viewer { tenant { id } } }`, {}, A.key)).data.viewer.tenant.id;
  Object.assign(B, await createTenant(t, "B"));

  A.connection = await createConnection(A.key, "甲方 ERP", A.secret);
  B.connection = await createConnection(B.key, "乙方 ERP", B.secret);
  A.webhook = `${t.url}${new URL(A.connection.webhookUrl).pathname}`;
  B.webhook = `${t.url}${new URL(B.connection.webhookUrl).pathname}`;

  a1 = await createCustomer(t, aCustomer({ displayName: "甲方订单客户", identities: [{ type: "WECHAT_UNIONID", value: "oUnion-A-1" }] }), A.key);
  a2 = await createCustomer(t, aCustomer({ displayName: "甲方第二客户" }), A.key);
  a3 = await createCustomer(t, aCustomer({ displayName: "甲方合并目标", tags: ["甲"] }), A.key);
  const a4 = await createCustomer(t, aCustomer({ displayName: "甲方合并来源", tags: ["乙"] }), A.key);
  const m = await gqlOk(`mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) { merge { ${MERGE_FIELDS} } userErrors { field code } } }`, { input: { targetId: a3.id, sourceId: a4.id } }, A.key);
  expect(m.mergeCustomers.userErrors).toEqual([]);
  aMerge = normMerge(m.mergeCustomers.merge);

  // A's order (by a1's phone) and A's identity conflict (a second unionid for a1).
  const aResults = await ingest(A.key, A.connection.id, [
    paid("A-order-1:paid", "A-ORDER-1", a1.phone, 12_300, 1),
    { type: "customer.upserted", externalId: "A-conflict-1", occurredAt: at(2), identities: [{ type: "phone", value: a1.phone }, { type: "wechat_unionid", value: "oUnion-A-2" }], payload: {} },
  ]);
  expect(aResults.map((r) => r.status)).toEqual(["ACCEPTED", "ACCEPTED"]);

  // B's own customer, order and conflict, so every list B reads has something of B's in it.
  bCustomer = await createCustomer(t, aCustomer({ displayName: "乙方客户", identities: [{ type: "WECHAT_UNIONID", value: "oUnion-B-1" }] }), B.key);
  const bResults = await ingest(B.key, B.connection.id, [
    paid("B-order-1:paid", "B-ORDER-1", bCustomer.phone, 4_500, 3),
    { type: "customer.upserted", externalId: "B-conflict-1", occurredAt: at(4), identities: [{ type: "phone", value: bCustomer.phone }, { type: "wechat_unionid", value: "oUnion-B-2" }], payload: {} },
  ]);
  expect(bResults.map((r) => r.status)).toEqual(["ACCEPTED", "ACCEPTED"]);

  const aOrders = (await gqlOk(ORDERS, {}, A.key)).orders.nodes;
  aOrderId = aOrders.find((o: any) => o.externalId === "A-ORDER-1").id;
  expect(aOrders.find((o: any) => o.externalId === "A-ORDER-1").customer).toEqual({ id: a1.id });
  const bOrders = (await gqlOk(ORDERS, {}, B.key)).orders.nodes;
  bOrderId = bOrders.find((o: any) => o.externalId === "B-ORDER-1").id;
});
afterAll(() => t?.close());

describe("setup sanity", () => {
  it("A and B are different tenants, each with its own connection, order, merge and conflict", async () => {
    expect(A.tenantId).not.toBe(B.tenantId);
    const a = await stateOf(A.key);
    expect(a.channelConnections.nodes.map((c: any) => c.id)).toEqual([A.connection.id]);
    expect(a.orders.nodes.map((o: any) => o.externalId)).toEqual(["A-ORDER-1"]);
    expect(a.identityConflicts.nodes.map((c: any) => c.externalId)).toEqual(["A-conflict-1"]);
    expect(a.merges[a3.id]).toEqual([aMerge]);
    const b = await stateOf(B.key);
    expect(b.channelConnections.nodes.map((c: any) => c.id)).toEqual([B.connection.id]);
    expect(b.orders.nodes.map((o: any) => o.externalId)).toEqual(["B-ORDER-1"]);
    expect(b.identityConflicts.nodes.map((c: any) => c.externalId)).toEqual(["B-conflict-1"]);
  });
});

describe("channel connections", () => {
  it("channelConnections lists only B's connections for B, also filtered by channel", async () => {
    for (const variables of [{}, { channel: "http-json" }]) {
      const data = await gqlOk(`query($channel: String) { channelConnections(channel: $channel) { nodes { id name } } }`, variables, B.key);
      expect(data.channelConnections.nodes).toEqual([{ id: B.connection.id, name: "乙方 ERP" }]);
    }
  });

  it("channelConnection(id) and node(id) of A's connection are null for B, though A reads it", async () => {
    const r = await gqlOk(`query($id: ID!) { channelConnection(id: $id) { id name } }`, { id: A.connection.id }, B.key);
    expect(r.channelConnection).toBeNull();
    expect((await gqlOk(NODE, { id: A.connection.id }, B.key)).node).toBeNull();
    expect((await gqlOk(`query($id: ID!) { channelConnection(id: $id) { id } }`, { id: A.connection.id }, A.key)).channelConnection).toEqual({ id: A.connection.id });
    expect((await gqlOk(NODE, { id: A.connection.id }, A.key)).node).toEqual({ __typename: "ChannelConnection", id: A.connection.id });
  });

  it("updateChannelConnection and disableChannelConnection on A's connection answer NOT_FOUND, and A's webhook still accepts A's events", async () => {
    await unchanged(async () => {
      const update = await gqlOk(
        `mutation($input: UpdateChannelConnectionInput!) { updateChannelConnection(input: $input) { connection { id } userErrors { field code } } }`,
        { input: { id: A.connection.id, name: "hijacked", enabled: false, config: { secret: B.secret } } },
        B.key,
      );
      expect(update.updateChannelConnection).toEqual({ connection: null, userErrors: [{ field: ["id"], code: "NOT_FOUND" }] });
      const disable = await gqlOk(
        `mutation($id: ID!) { disableChannelConnection(input: {id: $id}) { connection { id } userErrors { field code } } }`,
        { id: A.connection.id },
        B.key,
      );
      expect(disable.disableChannelConnection).toEqual({ connection: null, userErrors: [{ field: ["id"], code: "NOT_FOUND" }] });
    });
    // The secret B tried to set does not open A's webhook; A's own secret still does.
    expect((await post(A.webhook, [], B.secret)).status).toBe(401);
    const ok = await post(A.webhook, [{ type: "customer.upserted", externalId: "A-after-hijack-1", occurredAt: at(10), identities: [{ type: "pos_member", value: "A-M-1" }], payload: { displayName: "甲方会员" } }], A.secret);
    expect(ok.status).toBe(200);
    expect(ok.json.results).toEqual([{ externalId: "A-after-hijack-1", status: "accepted" }]);
  });
});

describe("ingestEvents", () => {
  it("with A's connectionId answers NOT_FOUND for B and ingests nothing in either tenant", async () => {
    await unchanged(async () => {
      const data = await gqlOk(
        INGEST,
        {
          input: {
            connectionId: A.connection.id,
            events: [
              { type: "customer.upserted", externalId: "B-into-A-1", occurredAt: at(20), identities: [{ type: "phone", value: a1.phone }], payload: { displayName: "被篡改", tags: ["pwned"] } },
              paid("B-into-A-2:paid", "A-ORDER-1", a1.phone, 1, 21),
            ],
          },
        },
        B.key,
      );
      expect(data.ingestEvents).toEqual({ results: [], userErrors: [{ field: ["connectionId"], code: "NOT_FOUND" }] });
    });
  });
});

describe("merges", () => {
  it("mergeCustomers with A's customers — as target, as source, or both — answers NOT_FOUND for B and changes nothing", async () => {
    const cases: [string, string, string][] = [
      [a1.id, a2.id, "targetId"],
      [a1.id, bCustomer.id, "targetId"],
      [bCustomer.id, a1.id, "sourceId"],
    ];
    for (const [targetId, sourceId, field] of cases) {
      await unchanged(async () => {
        const data = await gqlOk(MERGE, { input: { targetId, sourceId } }, B.key);
        expect({ targetId, sourceId, payload: data.mergeCustomers }).toEqual({ targetId, sourceId, payload: { customer: null, merge: null, userErrors: [{ field: [field], code: "NOT_FOUND" }] } });
      });
    }
  });

  it("unmergeCustomer with A's merge id answers NOT_FOUND for B and A's merge stays in force", async () => {
    await unchanged(async () => {
      const data = await gqlOk(UNMERGE, { mergeId: aMerge.id }, B.key);
      expect(data.unmergeCustomer).toEqual({ target: null, source: null, userErrors: [{ field: ["mergeId"], code: "NOT_FOUND" }] });
    });
    expect(await mergesOf(a3.id, A.key)).toEqual([aMerge]);
    expect((await gqlOk(`query($id: ID!) { customer(id: $id) { id } }`, { id: aMerge.sourceCustomerId }, A.key)).customer).toBeNull();
  });

  it("customerMerges of A's customer is empty for B, and node(id) of A's CustomerMerge is null", async () => {
    expect(await mergesOf(a3.id, B.key)).toEqual([]);
    expect((await gqlOk(NODE, { id: aMerge.id }, B.key)).node).toBeNull();
    expect((await gqlOk(NODE, { id: aMerge.id }, A.key)).node).toEqual({ __typename: "CustomerMerge", id: aMerge.id });
  });
});

describe("identity conflicts and settings", () => {
  it("identityConflicts shows B only B's conflicts", async () => {
    const b = (await gqlOk(CONFLICTS, {}, B.key)).identityConflicts.nodes;
    expect(b.map((c: any) => [c.externalId, c.identities, c.customerIds])).toEqual([["B-conflict-1", ["wechat_unionid:oUnion-B-2"], [bCustomer.id]]]);
    const a = (await gqlOk(CONFLICTS, {}, A.key)).identityConflicts.nodes;
    expect(a.map((c: any) => [c.externalId, c.identities, c.customerIds])).toEqual([["A-conflict-1", ["wechat_unionid:oUnion-A-2"], [a1.id]]]);
    expect(JSON.stringify(b)).not.toContain(a1.id);
  });

  it("resolveIdentityConflict of A's conflict is NOT_FOUND for B, and A's conflict stays open", async () => {
    const [aConflict] = (await gqlOk(CONFLICTS, {}, A.key)).identityConflicts.nodes;
    const r = await gqlOk(`mutation($id: ID!) { resolveIdentityConflict(input: {id: $id}) { conflict { id } userErrors { field code } } }`, { id: aConflict.id }, B.key);
    expect(r.resolveIdentityConflict).toEqual({ conflict: null, userErrors: [{ field: ["id"], code: "NOT_FOUND" }] });
    expect((await gqlOk(CONFLICTS, {}, A.key)).identityConflicts.nodes.map((c: any) => c.id)).toContain(aConflict.id);
  });

  it("identitySettings is per tenant: B's update changes B's settings only, and A's events still match the phone B blocked", async () => {
    const aBefore = (await gqlOk(SETTINGS, {}, A.key)).identitySettings;
    const r = await gqlOk(
      UPDATE_SETTINGS,
      { input: { precedence: ["POS_MEMBER"], limits: [{ type: "YOUZAN_BUYER", max: 1 }], blocked: [{ type: "PHONE", value: a2.phone }] } },
      B.key,
    );
    expect(r.updateIdentitySettings.userErrors).toEqual([]);
    const b = (await gqlOk(SETTINGS, {}, B.key)).identitySettings;
    expect(b.precedence[0]).toBe("POS_MEMBER");
    expect(b.blocked).toEqual([{ type: "PHONE", value: a2.phone }]);
    expect(b.limits).toEqual(expect.arrayContaining([{ type: "YOUZAN_BUYER", max: 1 }]));
    expect((await gqlOk(SETTINGS, {}, A.key)).identitySettings).toEqual(aBefore);
    expect(aBefore.blocked).toEqual([]);

    // In A the phone is not blocked: an A event naming it goes to a2.
    const results = await ingest(A.key, A.connection.id, [
      { type: "customer.upserted", externalId: "A-a2-phone-1", occurredAt: at(30), identities: [{ type: "phone", value: a2.phone }, { type: "pos_member", value: "A-M-2" }], payload: {} },
    ]);
    expect(results.map((x) => x.status)).toEqual(["ACCEPTED"]);
    expect((await gqlOk(BY_IDENTITY, { type: "POS_MEMBER", value: "A-M-2" }, A.key)).customerByIdentity).toEqual({ id: a2.id });
  });
});

describe("orders", () => {
  it("orders lists and counts only B's orders; order(id) and node(id) of A's order are null for B", async () => {
    const list = (await gqlOk(ORDERS, {}, B.key)).orders;
    expect(list.totalCount).toBe(1);
    expect(list.nodes).toEqual([{ id: bOrderId, externalId: "B-ORDER-1", customer: { id: bCustomer.id } }]);
    const filtered = await gqlOk(`query($id: ID!) { orders(filter: {customerId: $id}) { totalCount nodes { id } } }`, { id: a1.id }, B.key);
    expect(filtered.orders).toEqual({ totalCount: 0, nodes: [] });
    expect((await gqlOk(`query($id: ID!) { order(id: $id) { id total } }`, { id: aOrderId }, B.key)).order).toBeNull();
    expect((await gqlOk(NODE, { id: aOrderId }, B.key)).node).toBeNull();
    // Control: A sees its order by both.
    expect((await gqlOk(`query($id: ID!) { order(id: $id) { id total } }`, { id: aOrderId }, A.key)).order).toEqual({ id: aOrderId, total: 12_300 });
    expect((await gqlOk(NODE, { id: aOrderId }, A.key)).node).toEqual({ __typename: "Order", id: aOrderId });
  });
});

describe("upsertCustomer", () => {
  it("with A's customer's phone creates a new customer in B and leaves A's customer untouched", async () => {
    const aBefore = await stateOf(A.key);
    const bCount = (await gqlOk(`{ customers { totalCount } }`, {}, B.key)).customers.totalCount;
    const data = await gqlOk(UPSERT, { input: { identity: { type: "PHONE", value: a1.phone }, displayName: "乙方同号客户", tags: ["乙方"] } }, B.key);
    expect(data.upsertCustomer.userErrors).toEqual([]);
    expect(data.upsertCustomer.created).toBe(true);
    expect(data.upsertCustomer.customer).toMatchObject({ phone: a1.phone, displayName: "乙方同号客户" });
    expect(data.upsertCustomer.customer.id).not.toBe(a1.id);
    expect((await gqlOk(`{ customers { totalCount } }`, {}, B.key)).customers.totalCount).toBe(bCount + 1);
    expect((await gqlOk(BY_IDENTITY, { type: "PHONE", value: a1.phone }, B.key)).customerByIdentity).toEqual({ id: data.upsertCustomer.customer.id });
    expect((await gqlOk(BY_IDENTITY, { type: "PHONE", value: a1.phone }, A.key)).customerByIdentity).toEqual({ id: a1.id });
    expect(await stateOf(A.key)).toEqual(aBefore);
  });
});

describe("webhooks", () => {
  it("a request signed with A's secret to A's webhook lands in A only; B's customers do not change", async () => {
    const bBefore = await stateOf(B.key);
    const aCount = (await gqlOk(`{ customers { totalCount } }`, {}, A.key)).customers.totalCount;
    const r = await post(A.webhook, [{ type: "customer.upserted", externalId: "A-webhook-1", occurredAt: at(40), identities: [{ type: "pos_member", value: "A-WEBHOOK-M" }], payload: { displayName: "网钩客户", phone: "137 3000 0001" } }], A.secret);
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([{ externalId: "A-webhook-1", status: "accepted" }]);
    expect((await gqlOk(`{ customers { totalCount } }`, {}, A.key)).customers.totalCount).toBe(aCount + 1);
    expect((await gqlOk(BY_IDENTITY, { type: "POS_MEMBER", value: "A-WEBHOOK-M" }, A.key)).customerByIdentity).not.toBeNull();
    expect((await gqlOk(BY_IDENTITY, { type: "POS_MEMBER", value: "A-WEBHOOK-M" }, B.key)).customerByIdentity).toBeNull();
    expect((await gqlOk(BY_IDENTITY, { type: "PHONE", value: "13730000001" }, B.key)).customerByIdentity).toBeNull();
    expect(await stateOf(B.key)).toEqual(bBefore);
  });

  it("A's webhook refuses a body signed with B's secret, and B's webhook one signed with A's, writing nothing", async () => {
    await unchanged(async () => {
      const event = { type: "customer.upserted", externalId: "cross-signed-1", occurredAt: at(50), identities: [{ type: "pos_member", value: "CROSS-M" }], payload: {} };
      expect((await post(A.webhook, [event], B.secret)).status).toBe(401);
      expect((await post(B.webhook, [event], A.secret)).status).toBe(401);
    });
  });
});
