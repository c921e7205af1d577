import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { aCustomer, createCustomer, CUSTOMER_FIELDS } from "../fixtures/customers";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";
import { localId, toGlobalId } from "../../src/core/global-id";

/**
 * Tenant A is the bootstrap tenant ("default", t.adminKey); tenant B is created through the platform
 * key. Every query and mutation of the public schema is tried with B's key against A's objects.
 */
let t: TestServer;
const A = { key: "", tenantId: "" };
const B = { key: "", tenantId: "" };
let a: any; // A's customer, as A reads it (the snapshot every write attempt must leave unchanged)
let a2: any; // a second customer of A
let aKey: { key: string; id: string }; // a non-admin key of A
let aBootstrapKeyId: string;
let bCustomers: any[];

const READ_A = `query($id: ID!) { customer(id: $id) { ${CUSTOMER_FIELDS} } }`;
const COUNT = `{ customers { totalCount } }`;
const VIEWER = `{ viewer { isPlatform scopes tenant { id name } } }`;
const API_KEYS = `{ apiKeys { id name prefix scopes } }`;
const BY_IDENTITY = `query($type: IdentityType!, $v: String!) { customerByIdentity(type: $type, value: $v) { id displayName } }`;
const NODE = `query($id: ID!) { node(id: $id) { __typename id } }`;
const LIST = `query($filter: CustomerFilter, $first: Int, $after: String, $orderBy: CustomerOrder) {
  customers(filter: $filter, first: $first, after: $after, orderBy: $orderBy) {
    totalCount nodes { id } edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}`;

async function readA(): Promise<any> {
  const r = await t.gql(READ_A, { id: a.id }, A.key);
  return r.data.customer;
}

async function countOf(key: string): Promise<number> {
  return (await t.gql(COUNT, {}, key)).data.customers.totalCount;
}

async function dbIds(table: "customers" | "api_keys", type: string, tenantGlobalId: string, extra = ""): Promise<string[]> {
  const rows: { id: string }[] = await t.server.app.db.dataSource.query(`SELECT id FROM ${table} WHERE tenant_id = $1 ${extra}`, [
    localId(tenantGlobalId, "Tenant"),
  ]);
  return rows.map((r) => toGlobalId(type, r.id)).sort();
}

beforeAll(async () => {
  t = await createTestServer();
  A.key = t.adminKey;
  A.tenantId = (await t.gql(VIEWER, {}, A.key)).data.viewer.tenant.id;
  Object.assign(B, await createTenant(t, "B"));

  const created = await createCustomer(
    t,
    aCustomer({
      displayName: "甲方独有客户 Alpha",
      email: "alpha.only@tenant-a.example.cn",
      tags: ["甲方VIP"],
      identities: [{ type: "WECHAT_UNIONID", value: "oUnion_tenantA_only" }],
    }),
    A.key,
  );
  a2 = await createCustomer(t, aCustomer({ displayName: "甲方第二客户" }), A.key);
  aKey = await createKey(t, ["customers:read"], A.key);
  aBootstrapKeyId = (await t.gql(API_KEYS, {}, A.key)).data.apiKeys.find((k: any) => k.name === "bootstrap").id;

  bCustomers = [];
  for (const name of ["乙方客户一", "乙方客户二", "乙方客户三"]) {
    bCustomers.push(await createCustomer(t, aCustomer({ displayName: name, tags: ["乙方"] }), B.key));
  }
  a = (await t.gql(READ_A, { id: created.id }, A.key)).data.customer;
  expect(a).not.toBeNull();
});
afterAll(() => t?.close());

describe("setup sanity", () => {
  it("A and B are different tenants and each key sees its own", async () => {
    expect(A.tenantId).not.toBe(B.tenantId);
    expect((await t.gql(VIEWER, {}, A.key)).data.viewer.tenant.name).toBe("default");
    expect((await t.gql(VIEWER, {}, B.key)).data.viewer).toEqual({ isPlatform: false, scopes: ["admin"], tenant: { id: B.tenantId, name: "B" } });
  });
});

describe("queries with B's key never reach A's data", () => {
  it("viewer shows tenant B", async () => {
    const r = await t.gql(VIEWER, {}, B.key);
    expect(r.data.viewer.tenant).toEqual({ id: B.tenantId, name: "B" });
    expect(JSON.stringify(r.body)).not.toContain(A.tenantId);
  });

  it("customer(id) of A's customer is null (and A itself can read it)", async () => {
    const r = await t.gql(`query($id: ID!) { customer(id: $id) { id displayName phone } }`, { id: a.id }, B.key);
    expect(r.errors).toBeUndefined();
    expect(r.data.customer).toBeNull();
    expect((await t.gql(`query($id: ID!) { customer(id: $id) { id } }`, { id: a.id }, A.key)).data.customer).toEqual({ id: a.id });
  });

  const nodes: [string, string, () => string][] = [
    ["A's Customer", "Customer", () => a.id],
    ["A's phone CustomerIdentity", "CustomerIdentity", () => a.identities.find((i: any) => i.type === "PHONE").id],
    ["A's wechat_unionid CustomerIdentity", "CustomerIdentity", () => a.identities.find((i: any) => i.type === "WECHAT_UNIONID").id],
    ["A's Tenant", "Tenant", () => A.tenantId],
    ["A's customers:read ApiKey", "ApiKey", () => aKey.id],
    ["A's bootstrap ApiKey", "ApiKey", () => aBootstrapKeyId],
  ];

  it.each(nodes)("node(id) of %s is null for B, though A's admin key reads it", async (_name, type, id) => {
    const r = await t.gql(NODE, { id: id() }, B.key);
    expect(r.errors).toBeUndefined();
    expect(r.data.node).toBeNull();
    const own = await t.gql(NODE, { id: id() }, A.key);
    expect(own.data.node).toEqual({ __typename: type, id: id() });
  });

  it("node(id) still finds B's own Customer, Tenant and ApiKey for B (the key can read nodes at all)", async () => {
    const bKeyId = (await t.gql(API_KEYS, {}, B.key)).data.apiKeys[0].id;
    for (const [type, id] of [["Customer", bCustomers[0].id], ["CustomerIdentity", bCustomers[0].identities[0].id], ["Tenant", B.tenantId], ["ApiKey", bKeyId]]) {
      expect((await t.gql(NODE, { id }, B.key)).data.node).toEqual({ __typename: type, id });
    }
  });

  it("customers lists and counts only B's customers, in every sort order", async () => {
    const bIds = bCustomers.map((c) => c.id).sort();
    expect(await dbIds("customers", "Customer", B.tenantId)).toEqual(bIds);
    for (const field of ["CREATED_AT", "UPDATED_AT", "LAST_SEEN_AT", "DISPLAY_NAME"]) {
      for (const direction of ["ASC", "DESC"]) {
        const r = await t.gql(LIST, { orderBy: { field, direction } }, B.key);
        expect(r.errors).toBeUndefined();
        expect(r.data.customers.totalCount).toBe(bIds.length);
        expect(r.data.customers.nodes.map((n: any) => n.id).sort()).toEqual(bIds);
        expect(r.data.customers.edges.map((e: any) => e.node.id).sort()).toEqual(bIds);
      }
    }
    // Control: A counts its own, which are not B's.
    const aList = await t.gql(LIST, {}, A.key);
    expect(aList.data.customers.nodes.map((n: any) => n.id)).toEqual(expect.arrayContaining([a.id, a2.id]));
    expect(aList.data.customers.nodes.map((n: any) => n.id)).not.toEqual(expect.arrayContaining([bCustomers[0].id]));
  });

  it("paging one by one, also from a cursor A was given, yields only B's customers", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const r: any = await t.gql(LIST, { first: 1, after }, B.key);
      seen.push(...r.data.customers.nodes.map((n: any) => n.id));
      if (!r.data.customers.pageInfo.hasNextPage) break;
      after = r.data.customers.pageInfo.endCursor;
    }
    expect(seen.sort()).toEqual(bCustomers.map((c) => c.id).sort());

    const aPage = await t.gql(LIST, { first: 1 }, A.key);
    const aCursor = aPage.data.customers.pageInfo.endCursor;
    expect(aCursor).toEqual(expect.any(String));
    const r = await t.gql(LIST, { first: 50, after: aCursor }, B.key);
    // A cursor is only a position in the sort order: from A's, B pages on through its own customers after that point.
    expect(r.errors).toBeUndefined();
    const bIds = new Set(bCustomers.map((c) => c.id));
    const ids: string[] = r.data.customers.nodes.map((n: any) => n.id);
    expect(ids.filter((id) => !bIds.has(id))).toEqual([]);
    expect(JSON.stringify(r.body)).not.toContain(a.id);
    expect(JSON.stringify(r.body)).not.toContain(a2.id);
  });

  it("customers(filter) with A's name, e-mail, phone or tag finds nothing for B (and finds A's customer for A)", async () => {
    const national = a.phone.replace("+86", "");
    const filters = [
      { search: a.displayName },
      { search: "Alpha" },
      { search: a.email },
      { search: a.phone },
      { search: national },
      { search: `${national.slice(0, 3)} ${national.slice(3, 7)} ${national.slice(7)}` },
      { search: national.slice(-4) },
      { phone: national },
      { email: a.email.toUpperCase() },
      { phoneLast4: national.slice(-4) },
      { tags: ["甲方VIP"] },
    ];
    for (const filter of filters) {
      const r = await t.gql(LIST, { filter }, B.key);
      expect(r.errors).toBeUndefined();
      expect({ filter, total: r.data.customers.totalCount, nodes: r.data.customers.nodes }).toEqual({ filter, total: 0, nodes: [] });
      const own = await t.gql(LIST, { filter }, A.key);
      expect({ filter, ids: own.data.customers.nodes.map((n: any) => n.id) }).toEqual({ filter, ids: [a.id] });
    }
  });

  it("customerByIdentity with A's phone, e-mail or WeChat unionid is null for B", async () => {
    const lookups: [string, string][] = [
      ["PHONE", a.phone],
      ["PHONE", a.phone.replace("+86", "")],
      ["EMAIL", a.email.toUpperCase()],
      ["WECHAT_UNIONID", "oUnion_tenantA_only"],
    ];
    for (const [type, v] of lookups) {
      const r = await t.gql(BY_IDENTITY, { type, v }, B.key);
      expect(r.errors).toBeUndefined();
      expect({ type, v, found: r.data.customerByIdentity }).toEqual({ type, v, found: null });
      expect((await t.gql(BY_IDENTITY, { type, v }, A.key)).data.customerByIdentity.id).toBe(a.id);
    }
  });

  it("apiKeys shows exactly B's live keys and none of A's", async () => {
    const b = await t.gql(API_KEYS, {}, B.key);
    const ids = b.data.apiKeys.map((k: any) => k.id).sort();
    expect(ids).toEqual(await dbIds("api_keys", "ApiKey", B.tenantId, "AND revoked_at IS NULL"));
    expect(ids.length).toBeGreaterThan(0);
    const aIds = (await t.gql(API_KEYS, {}, A.key)).data.apiKeys.map((k: any) => k.id);
    expect(aIds).toEqual(expect.arrayContaining([aKey.id, aBootstrapKeyId]));
    for (const id of aIds) expect(ids).not.toContain(id);
  });
});

describe("mutations with B's key on A's objects answer NOT_FOUND and change nothing", () => {
  const customerId = () => a.id;
  const mutations: [string, string, () => Record<string, unknown>, string, string][] = [
    [
      "updateCustomer",
      `mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { id displayName } userErrors { field code } } }`,
      () => ({ input: { id: customerId(), displayName: "被篡改", phone: "+8613700000001", email: null, attributes: { pwned: true } } }),
      "customer",
      "id",
    ],
    [
      "addCustomerTags",
      `mutation($input: CustomerTagsInput!) { addCustomerTags(input: $input) { customer { id tags } userErrors { field code } } }`,
      () => ({ input: { id: customerId(), tags: ["pwned"] } }),
      "customer",
      "id",
    ],
    [
      "removeCustomerTags",
      `mutation($input: CustomerTagsInput!) { removeCustomerTags(input: $input) { customer { id tags } userErrors { field code } } }`,
      () => ({ input: { id: customerId(), tags: ["甲方VIP"] } }),
      "customer",
      "id",
    ],
    [
      "attachCustomerIdentity",
      `mutation($input: AttachCustomerIdentityInput!) { attachCustomerIdentity(input: $input) { customer { id } identity { id } userErrors { field code } } }`,
      () => ({ input: { customerId: customerId(), type: "POS_MEMBER", value: "M-EVIL-1" } }),
      "customer",
      "customerId",
    ],
    [
      "detachCustomerIdentity (phone)",
      `mutation($input: DetachCustomerIdentityInput!) { detachCustomerIdentity(input: $input) { customer { id } userErrors { field code } } }`,
      () => ({ input: { customerId: customerId(), type: "PHONE", value: a.phone } }),
      "customer",
      "customerId",
    ],
    [
      "detachCustomerIdentity (wechat_unionid)",
      `mutation($input: DetachCustomerIdentityInput!) { detachCustomerIdentity(input: $input) { customer { id } userErrors { field code } } }`,
      () => ({ input: { customerId: customerId(), type: "WECHAT_UNIONID", value: "oUnion_tenantA_only" } }),
      "customer",
      "customerId",
    ],
    [
      "deleteCustomer",
      `mutation($input: DeleteCustomerInput!) { deleteCustomer(input: $input) { deletedCustomerId userErrors { field code } } }`,
      () => ({ input: { id: customerId() } }),
      "deletedCustomerId",
      "id",
    ],
  ];

  it.each(mutations)("%s on A's customer", async (_name, query, variables, resultField, errorField) => {
    const aCount = await countOf(A.key);
    const bCount = await countOf(B.key);
    const r = await t.gql(query, variables(), B.key);
    expect(r.errors).toBeUndefined();
    const payload = Object.values(r.data)[0] as any;
    expect(payload.userErrors).toEqual([{ field: [errorField], code: "NOT_FOUND" }]);
    expect(payload[resultField]).toBeNull();
    if ("identity" in payload) expect(payload.identity).toBeNull();
    // A's customer is exactly as it was, counts did not move.
    expect(await readA()).toEqual(a);
    expect(await countOf(A.key)).toBe(aCount);
    expect(await countOf(B.key)).toBe(bCount);
  });

  it("the identity B tried to attach to A's customer exists in neither tenant", async () => {
    for (const key of [A.key, B.key]) {
      expect((await t.gql(BY_IDENTITY, { type: "POS_MEMBER", v: "M-EVIL-1" }, key)).data.customerByIdentity).toBeNull();
    }
  });

  it("revokeApiKey with A's key ids answers NOT_FOUND and A's keys keep working", async () => {
    for (const id of [aKey.id, aBootstrapKeyId]) {
      const r = await t.gql(`mutation($id: ID!) { revokeApiKey(input: {id: $id}) { key { id revokedAt } userErrors { field code } } }`, { id }, B.key);
      expect(r.errors).toBeUndefined();
      expect(r.data.revokeApiKey).toEqual({ key: null, userErrors: [{ field: ["id"], code: "NOT_FOUND" }] });
    }
    expect((await t.gql(VIEWER, {}, aKey.key)).data.viewer.tenant.id).toBe(A.tenantId);
    expect(await countOf(aKey.key)).toBeGreaterThan(0);
    expect((await t.gql(VIEWER, {}, A.key)).data.viewer.tenant.id).toBe(A.tenantId);
    const live = await dbIds("api_keys", "ApiKey", A.tenantId, "AND revoked_at IS NULL");
    expect(live).toEqual(expect.arrayContaining([aKey.id, aBootstrapKeyId]));
  });

  it("createApiKey with A's tenantId answers NOT_FOUND and creates no key anywhere", async () => {
    const aKeys = await dbIds("api_keys", "ApiKey", A.tenantId);
    const bKeys = await dbIds("api_keys", "ApiKey", B.tenantId);
    for (const scopes of [["admin"], ["customers:read"]]) {
      const r = await t.gql(
        `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey key { id } userErrors { field code } } }`,
        { input: { tenantId: A.tenantId, name: "backdoor", scopes } },
        B.key,
      );
      expect(r.errors).toBeUndefined();
      expect(r.data.createApiKey).toEqual({ apiKey: null, key: null, userErrors: [{ field: ["tenantId"], code: "NOT_FOUND" }] });
    }
    expect(await dbIds("api_keys", "ApiKey", A.tenantId)).toEqual(aKeys);
    expect(await dbIds("api_keys", "ApiKey", B.tenantId)).toEqual(bKeys);
  });

  it("createCustomer with B's key creates the customer in B only", async () => {
    const aCount = await countOf(A.key);
    const c = await createCustomer(t, aCustomer({ displayName: "乙方新客户" }), B.key);
    bCustomers.push(c);
    expect(await countOf(A.key)).toBe(aCount);
    expect((await t.gql(`query($id: ID!) { customer(id: $id) { id } }`, { id: c.id }, A.key)).data.customer).toBeNull();
    expect(await dbIds("customers", "Customer", B.tenantId)).toContain(c.id);
  });

  it("createTenant with B's admin key is FORBIDDEN (tenant admins cannot mint tenants)", async () => {
    const before = (await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM tenants`))[0].n;
    const r = await t.gql(`mutation { createTenant(input: {name: "B2"}) { tenant { id } apiKey userErrors { code } } }`, {}, B.key);
    expect(r.body).toEqual({ data: null, errors: [expect.objectContaining({ extensions: { code: "FORBIDDEN" } })] });
    expect((await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM tenants`))[0].n).toBe(before);
  });

  it("A's customer is still intact after all of the above", async () => {
    expect(await readA()).toEqual(a);
    expect(a.tags).toEqual(["甲方VIP"]);
    expect(a.identities.map((i: any) => i.type).sort()).toEqual(["EMAIL", "PHONE", "WECHAT_UNIONID"]);
  });
});

describe("identity uniqueness is per tenant", () => {
  it("B can create a customer with A's phone and e-mail; each tenant resolves the phone to its own customer", async () => {
    const c = await createCustomer(t, aCustomer({ displayName: "乙方同号客户", phone: a.phone, email: a.email }), B.key);
    bCustomers.push(c);
    expect(c.id).not.toBe(a.id);
    expect(c.phone).toBe(a.phone);
    expect(c.email).toBe(a.email);
    expect((await t.gql(BY_IDENTITY, { type: "PHONE", v: a.phone }, B.key)).data.customerByIdentity.id).toBe(c.id);
    expect((await t.gql(BY_IDENTITY, { type: "PHONE", v: a.phone }, A.key)).data.customerByIdentity.id).toBe(a.id);
    expect(await readA()).toEqual(a);
  });

  it("B can attach A's WeChat unionid and move a customer onto A's other customer's phone (no TAKEN that would reveal A's data)", async () => {
    const attach = await t.gql(
      `mutation($id: ID!) { attachCustomerIdentity(input: {customerId: $id, type: WECHAT_UNIONID, value: "oUnion_tenantA_only"}) { identity { value } userErrors { field code } } }`,
      { id: bCustomers[0].id },
      B.key,
    );
    expect(attach.data.attachCustomerIdentity).toEqual({ identity: { value: "oUnion_tenantA_only" }, userErrors: [] });
    const update = await t.gql(
      `mutation($id: ID!, $phone: String) { updateCustomer(input: {id: $id, phone: $phone}) { customer { id phone } userErrors { field code } } }`,
      { id: bCustomers[1].id, phone: a2.phone },
      B.key,
    );
    expect(update.data.updateCustomer).toEqual({ customer: { id: bCustomers[1].id, phone: a2.phone }, userErrors: [] });
    expect((await t.gql(BY_IDENTITY, { type: "WECHAT_UNIONID", v: "oUnion_tenantA_only" }, A.key)).data.customerByIdentity.id).toBe(a.id);
    expect((await t.gql(BY_IDENTITY, { type: "PHONE", v: a2.phone }, A.key)).data.customerByIdentity.id).toBe(a2.id);
  });

  it("B deleting its look-alike leaves A's customer and identities in place", async () => {
    const lookalike = bCustomers.find((c) => c.phone === a.phone);
    const r = await t.gql(`mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId userErrors { code } } }`, { id: lookalike.id }, B.key);
    expect(r.data.deleteCustomer).toEqual({ deletedCustomerId: lookalike.id, userErrors: [] });
    bCustomers = bCustomers.filter((c) => c !== lookalike);
    expect((await t.gql(BY_IDENTITY, { type: "PHONE", v: a.phone }, B.key)).data.customerByIdentity).toBeNull();
    expect((await t.gql(BY_IDENTITY, { type: "PHONE", v: a.phone }, A.key)).data.customerByIdentity.id).toBe(a.id);
    expect(await readA()).toEqual(a);
  });
});

describe("subscriptions", () => {
  const clients: Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
  });

  function subscribe(key: string, query: string, variables: Record<string, unknown> = {}) {
    const client = createClient({
      url: t.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
      lazy: false,
    });
    clients.push(client);
    const events: any[] = [];
    const errors: unknown[] = [];
    client.subscribe({ query, variables }, { next: (v) => events.push(v), error: (e) => errors.push(e), complete: () => undefined });
    return { events, errors };
  }

  async function until(cond: () => boolean, what: string, ms = 10_000) {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const SUB = `subscription { customerUpdated { id displayName } }`;
  const SUB_ONE = `subscription($id: ID) { customerUpdated(id: $id) { id displayName } }`;
  const TAG = `mutation($id: ID!, $tag: String!) { addCustomerTags(input: {id: $id, tags: [$tag]}) { userErrors { code } } }`;

  it("B's subscriptions never deliver A's customer changes, even when following A's customer id", async () => {
    const bOnA = subscribe(B.key, SUB_ONE, { id: a.id });
    const bAll = subscribe(B.key, SUB);
    const aAll = subscribe(A.key, SUB);

    // Warm up: B's own change must reach B's open subscription, and A's own change A's,
    // so both are listening before the change under test.
    let n = 0;
    while (!bAll.events.length || !aAll.events.length) {
      n++;
      await t.gql(TAG, { id: bCustomers[0].id, tag: `warm-${n}` }, B.key);
      await t.gql(TAG, { id: a2.id, tag: `warm-${n}` }, A.key);
      await t.server.app.outbox.idle();
      await new Promise((r) => setTimeout(r, 50));
      if (n > 100) throw new Error("subscriptions never started");
    }
    bAll.events.length = 0;
    aAll.events.length = 0;

    // The change under test (in A), then a marker change in B that B must see after it.
    expect((await t.gql(TAG, { id: a.id, tag: "订阅测试" }, A.key)).data.addCustomerTags.userErrors).toEqual([]);
    expect((await t.gql(TAG, { id: bCustomers[0].id, tag: "marker" }, B.key)).data.addCustomerTags.userErrors).toEqual([]);
    await t.server.app.outbox.idle();
    await until(() => bAll.events.length > 0 && aAll.events.some((e) => e.data?.customerUpdated?.id === a.id), "events");
    await new Promise((r) => setTimeout(r, 200));

    expect(bAll.errors).toEqual([]);
    expect(bAll.events.map((e) => e.data?.customerUpdated?.id)).toEqual([bCustomers[0].id]);
    expect(bOnA.errors).toEqual([]);
    expect(bOnA.events).toEqual([]);
    expect(JSON.stringify([bAll.events, bOnA.events])).not.toContain(a.displayName);
    // Control: A heard about its own customer.
    expect(aAll.events.map((e) => e.data?.customerUpdated?.id)).toContain(a.id);
  });
});
