import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { createKey, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * Masking by scope, through the public API: a key without `customers:pii` reads customers with phone, e-mail,
 * birthday and identity values masked (by hand: 139****0001, l***@shop.example.cn, …), finds them by the full values,
 * and gets the same masking over graphql-ws; `customers:pii` and `admin` see everything.
 */
let t: TestServer;
let masked: string; // customers:read
let pii: string; // customers:read + customers:pii
let customerId: string;

const FIELDS = `id displayName phone email birthday birthMonthDay piiMasked region { city } identities { type value }`;
const PHONE = "+8613900000001";
const EMAIL = "lin.xiao@shop.example.cn";

beforeAll(async () => {
  t = await createTestServer();
  masked = (await createKey(t, ["customers:read"])).key;
  pii = (await createKey(t, ["customers:read", "customers:pii"])).key;
  const r = await t.gql(
    `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }`,
    {
      input: {
        displayName: "林晓",
        phone: "139 0000 0001",
        email: EMAIL,
        birthday: "1990-07-15",
        region: { country: "CN", province: "浙江", city: "杭州" },
        identities: [{ type: "WECHAT_UNIONID", value: "oUnion7Hq2LinXiao" }, { type: "EXTERNAL", value: "M1" }],
      },
    },
  );
  expect(r.data.createCustomer.userErrors).toEqual([]);
  customerId = r.data.createCustomer.customer.id;
});
afterAll(() => t.close());

const maskedView = {
  displayName: "林晓",
  phone: "139****0001",
  email: "l***@shop.example.cn",
  birthday: null,
  birthMonthDay: "07-15",
  piiMasked: true,
  region: { city: "杭州" },
};
const fullView = { displayName: "林晓", phone: PHONE, email: EMAIL, birthday: "1990-07-15", birthMonthDay: "07-15", piiMasked: false, region: { city: "杭州" } };
const identities = (c: any) => Object.fromEntries(c.identities.map((i: { type: string; value: string }) => [i.type, i.value]));

describe("personal data masked by scope", () => {
  it("masks phone, e-mail, birthday and identity values for a key without customers:pii", async () => {
    const r = await t.gql(`query($id: ID!) { customer(id: $id) { ${FIELDS} } }`, { id: customerId }, masked);
    expect(r.errors).toBeUndefined();
    expect(r.data.customer).toMatchObject(maskedView);
    expect(identities(r.data.customer)).toEqual({ PHONE: "139****0001", EMAIL: "l***@shop.example.cn", WECHAT_UNIONID: "oU***ao", EXTERNAL: "***" });
  });

  it("shows everything to customers:pii and to admin", async () => {
    for (const key of [pii, t.adminKey]) {
      const r = await t.gql(`query($id: ID!) { customer(id: $id) { ${FIELDS} } }`, { id: customerId }, key);
      expect(r.data.customer).toMatchObject(fullView);
      expect(identities(r.data.customer)).toEqual({ PHONE: PHONE, EMAIL: EMAIL, WECHAT_UNIONID: "oUnion7Hq2LinXiao", EXTERNAL: "M1" });
    }
  });

  it("still finds the customer by the full values, and answers masked", async () => {
    const byPhone = await t.gql(`{ customerByIdentity(type: PHONE, value: "13900000001") { id phone } }`, {}, masked);
    expect(byPhone.data.customerByIdentity).toEqual({ id: customerId, phone: "139****0001" });
    const byUnion = await t.gql(`{ customerByIdentity(type: WECHAT_UNIONID, value: "oUnion7Hq2LinXiao") { id } }`, {}, masked);
    expect(byUnion.data.customerByIdentity).toEqual({ id: customerId });
    for (const search of ["13900000001", "0001", EMAIL, "林晓"]) {
      const r = await t.gql(`query($s: String!) { customers(filter: {search: $s}) { nodes { id phone email } } }`, { s: search }, masked);
      expect({ search, nodes: r.data.customers.nodes }).toEqual({ search, nodes: [{ id: customerId, phone: "139****0001", email: "l***@shop.example.cn" }] });
    }
  });

  it("refuses a bulk export to a key without customers:pii, which would hold everything unmasked", async () => {
    const r = await t.gql(`mutation { exportCustomers(input: {}) { job { id } userErrors { code } } }`, {}, masked);
    expect(r.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(r.errors?.[0]?.message).toContain("customers:pii");
    const ok = await t.gql(`mutation { exportCustomers(input: {}) { job { id } userErrors { code } } }`, {}, pii);
    expect(ok.data.exportCustomers.userErrors).toEqual([]);
  });

  it("masks the same way over graphql-ws, each key its own view of one event", async () => {
    const views: Record<string, any[]> = { masked: [], pii: [] };
    const clients = Object.entries({ masked, pii }).map(([name, key]) => {
      const client = createClient({ url: t.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${key}` } });
      client.subscribe(
        { query: `subscription($id: ID) { customerUpdated(id: $id) { id displayName phone email identities { type value } } }`, variables: { id: customerId } },
        { next: (r) => void views[name].push(r), error: () => undefined, complete: () => undefined },
      );
      return client;
    });
    try {
      const rename = (n: number) => t.gql(`mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { userErrors { code } } }`, { input: { id: customerId, displayName: `林晓${n}` } });
      // Subscriptions start asynchronously: change the name until both have heard a change, then check the last.
      const deadline = Date.now() + 20_000;
      for (let n = 0; !(views.masked.length && views.pii.length); n++) {
        if (Date.now() > deadline) throw new Error(`no delivery: ${JSON.stringify(views)}`);
        await rename(n);
        await t.server.app.outbox.idle();
        await new Promise((r) => setTimeout(r, 200));
      }
      const last = (name: string) => views[name][views[name].length - 1];
      expect(last("masked").errors).toBeUndefined();
      expect(last("masked").data.customerUpdated).toMatchObject({ id: customerId, phone: "139****0001", email: "l***@shop.example.cn" });
      expect(identities(last("masked").data.customerUpdated)).toMatchObject({ PHONE: "139****0001", WECHAT_UNIONID: "oU***ao" });
      expect(last("pii").data.customerUpdated).toMatchObject({ id: customerId, phone: PHONE, email: EMAIL });
      expect(identities(last("pii").data.customerUpdated)).toMatchObject({ PHONE: PHONE, WECHAT_UNIONID: "oUnion7Hq2LinXiao" });
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });

  it("masks the identities of an identity conflict", async () => {
    const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`);
    const connectionId = conn.data.createChannelConnection.connection.id;
    const up = (externalId: string, identities: object[]) => ({ type: "customer.upserted", externalId, occurredAt: "2026-12-01T08:00:00Z", identities, payload: {} });
    await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status } } }`, {
      input: {
        connectionId,
        events: [
          up("a", [{ type: "wechat_unionid", value: "oUnionAAAA1111" }, { type: "phone", value: "13900000777" }]),
          up("b", [{ type: "wechat_unionid", value: "oUnionBBBB2222" }]),
          up("c", [{ type: "wechat_unionid", value: "oUnionBBBB2222" }, { type: "phone", value: "13900000777" }]),
        ],
      },
    });
    const read = async (key: string) => (await t.gql(`{ identityConflicts { nodes { externalId identities } } }`, {}, key)).data.identityConflicts.nodes;
    expect(await read(masked)).toEqual([{ externalId: "c", identities: ["wechat_unionid:oU***22", "phone:139****0777"] }]);
    expect(await read(pii)).toEqual([{ externalId: "c", identities: ["wechat_unionid:oUnionBBBB2222", "phone:+8613900000777"] }]);
  });
});
