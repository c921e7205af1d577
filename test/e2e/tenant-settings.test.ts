import { fixedClock } from "../../src/core/calendar";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t.close());

const READ = `{ tenantSettings { currency timeZone locale defaultPhoneRegion } }`;
const UPDATE = `mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { settings { currency timeZone locale defaultPhoneRegion } userErrors { field code } } }`;

describe("tenantSettings", () => {
  it("has the documented defaults on a new tenant, readable by any of its keys", async () => {
    const { key } = await createTenant(t, "设置默认");
    const defaults = { currency: "CNY", timeZone: "Asia/Shanghai", locale: "zh-CN", defaultPhoneRegion: "CN" };
    expect((await t.gql(READ, {}, key)).data.tenantSettings).toEqual(defaults);
    const { key: reader } = await createKey(t, ["orders:read"], key);
    expect((await t.gql(READ, {}, reader)).data.tenantSettings).toEqual(defaults);
    expect((await t.gql(READ, {}, t.platformKey)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("changes, canonicalizes and resets fields; other tenants keep theirs", async () => {
    const a = await createTenant(t, "设置甲");
    const b = await createTenant(t, "设置乙");
    const r = await t.gql(UPDATE, { input: { currency: "usd", timeZone: "america/new_york", locale: "en-us", defaultPhoneRegion: "us" } }, a.key);
    expect(r.data.updateTenantSettings).toEqual({ settings: { currency: "USD", timeZone: "America/New_York", locale: "en-US", defaultPhoneRegion: "US" }, userErrors: [] });
    expect((await t.gql(READ, {}, a.key)).data.tenantSettings.timeZone).toBe("America/New_York");
    expect((await t.gql(READ, {}, b.key)).data.tenantSettings).toEqual({ currency: "CNY", timeZone: "Asia/Shanghai", locale: "zh-CN", defaultPhoneRegion: "CN" });
    const reset = await t.gql(UPDATE, { input: { timeZone: null } }, a.key);
    expect(reset.data.updateTenantSettings.settings).toEqual({ currency: "USD", timeZone: "Asia/Shanghai", locale: "en-US", defaultPhoneRegion: "US" });
  });

  it("refuses invalid values with the field at fault and writes nothing", async () => {
    const { key } = await createTenant(t, "设置丙");
    const r = await t.gql(UPDATE, { input: { currency: "RMB", timeZone: "+08:00", locale: "not a locale!", defaultPhoneRegion: "XX" } }, key);
    expect(r.data.updateTenantSettings).toEqual({
      settings: null,
      userErrors: [
        { field: ["currency"], code: "INVALID" },
        { field: ["timeZone"], code: "INVALID" },
        { field: ["locale"], code: "INVALID" },
        { field: ["defaultPhoneRegion"], code: "INVALID" },
      ],
    });
    const partly = await t.gql(UPDATE, { input: { currency: "EUR", timeZone: "Mars/Olympus_Mons" } }, key);
    expect(partly.data.updateTenantSettings.userErrors).toEqual([{ field: ["timeZone"], code: "INVALID" }]);
    expect((await t.gql(READ, {}, key)).data.tenantSettings.currency).toBe("CNY");
  });

  it("needs admin", async () => {
    const { key } = await createKey(t, ["customers:write"]);
    expect((await t.gql(UPDATE, { input: { currency: "USD" } }, key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("re-derives every customer's stats when the currency changes", async () => {
    const { key } = await createTenant(t, "设置币种");
    const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`, {}, key);
    const connectionId = conn.data.createChannelConnection.connection.id;
    const paid = (orderId: string, buyer: string, currency: string, total: number) => ({
      type: "order.paid",
      externalId: `p-${orderId}`,
      occurredAt: "2026-10-01T10:00:00+08:00",
      identities: [{ type: "external", value: buyer }],
      payload: { orderId, currency, total },
    });
    const ingest = await t.gql(
      `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status } } }`,
      { input: { connectionId, events: [paid("1", "b1", "CNY", 10000), paid("2", "b1", "USD", 2500), paid("3", "b2", "USD", 700)] } },
      key,
    );
    expect(ingest.data.ingestEvents.results.map((r: { status: string }) => r.status)).toEqual(["ACCEPTED", "ACCEPTED", "ACCEPTED"]);
    const stats = async (buyer: string) =>
      (await t.gql(`query($v: String!) { customerByIdentity(type: EXTERNAL, value: $v) { stats { currency ordersCount totalSpent } } }`, { v: buyer }, key)).data.customerByIdentity.stats;
    expect(await stats("b1")).toEqual({ currency: "CNY", ordersCount: 1, totalSpent: 10000 });
    expect(await stats("b2")).toEqual({ currency: "CNY", ordersCount: 0, totalSpent: 0 });
    await t.gql(UPDATE, { input: { currency: "USD" } }, key);
    await t.server.app.outbox.idle(); // the re-derivation is a job on the queue: its first attempt has run
    expect(await stats("b1")).toEqual({ currency: "USD", ordersCount: 1, totalSpent: 2500 });
    expect(await stats("b2")).toEqual({ currency: "USD", ordersCount: 1, totalSpent: 700 });
    // The queue records the run right after it (whichever instance's worker took it).
    const runs = async () => (await t.gql(`{ jobRuns(filter: {name: "crm.deliver.orders_currency"}) { nodes { state } } }`, {}, key)).data.jobRuns.nodes;
    for (let i = 0; i < 50 && JSON.stringify(await runs()) !== JSON.stringify([{ state: "COMPLETED" }]); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await runs()).toEqual([{ state: "COMPLETED" }]);
    await t.gql(UPDATE, { input: { currency: null } }, key);
    await t.server.app.outbox.idle();
    expect(await stats("b1")).toEqual({ currency: "CNY", ordersCount: 1, totalSpent: 10000 });
    // A change that leaves the currency alone re-derives nothing.
    await t.gql(UPDATE, { input: { locale: "zh-TW" } }, key);
    await t.server.app.outbox.idle();
    expect((await t.gql(`{ jobRuns(filter: {name: "crm.deliver.orders_currency"}) { totalCount } }`, {}, key)).data.jobRuns.totalCount).toBe(3);
    // In chunks smaller than the tenant: every customer is still re-derived, once.
    const [{ tenant_id: tenantId }] = await t.server.app.db.dataSource.query(`SELECT id AS tenant_id FROM tenants WHERE name = '设置币种'`);
    await t.server.app.db.dataSource.query(`UPDATE tenants SET settings = settings || '{"currency": "USD"}' WHERE id = $1`, [tenantId]);
    const ctx = { requestId: "test", principal: { kind: "system" as const, tenantId, actor: "test" }, app: t.server.app, log: t.server.app.log };
    expect(await t.server.app.orders.rederiveAllStats(ctx, 1)).toBe(2);
    expect(await stats("b1")).toEqual({ currency: "USD", ordersCount: 1, totalSpent: 2500 });
    expect(await stats("b2")).toEqual({ currency: "USD", ordersCount: 1, totalSpent: 700 });
  });

  it("reads phone numbers without a country code in the tenant's region", async () => {
    const { key } = await createTenant(t, "设置地区");
    await t.gql(UPDATE, { input: { defaultPhoneRegion: "HK" } }, key);
    const r = await t.gql(`mutation { createCustomer(input: {displayName: "陳大文", phone: "9123 4567"}) { customer { phone } userErrors { field code } } }`, {}, key);
    expect(r.data.createCustomer).toEqual({ customer: { phone: "+85291234567" }, userErrors: [] });
    // Ingestion reads them the same way (the setting comes with the batch's one read of the tenant).
    const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "hk", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`, {}, key);
    const ingest = await t.gql(
      `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status } } }`,
      {
        input: {
          connectionId: conn.data.createChannelConnection.connection.id,
          events: [{ type: "customer.upserted", externalId: "hk-1", occurredAt: "2026-10-01T10:00:00+08:00", identities: [{ type: "phone", value: "6123 4567" }], payload: { displayName: "李小龍" } }],
        },
      },
      key,
    );
    expect(ingest.data.ingestEvents.results).toEqual([{ status: "ACCEPTED" }]);
    const found = await t.gql(`{ customerByIdentity(type: PHONE, value: "+85261234567") { displayName } }`, {}, key);
    expect(found.data.customerByIdentity).toEqual({ displayName: "李小龍" });
  });
});

describe("dates in the tenant's time zone", () => {
  // 17:30 UTC on 7 December is 01:30 on the 8th in Shanghai and 12:30 on the 7th in New York.
  let fixed: TestServer;
  beforeAll(async () => {
    fixed = await createTestServer({}, { clock: fixedClock("2026-12-07T17:30:00Z") });
  });
  afterAll(() => fixed.close());

  it("counts days since the last order by the tenant's calendar, and by the new one after the zone changes", async () => {
    const { key } = await createTenant(fixed, "设置时区");
    const conn = await fixed.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`, {}, key);
    const paid = (orderId: string, buyer: string, occurredAt: string) => ({
      type: "order.paid",
      externalId: `p-${orderId}`,
      occurredAt,
      identities: [{ type: "external", value: buyer }],
      payload: { orderId, currency: "CNY", total: 1000 },
    });
    const ingest = await fixed.gql(
      `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status reason } } }`,
      {
        input: {
          connectionId: conn.data.createChannelConnection.connection.id,
          events: [
            paid("1", "late", "2026-12-07T15:30:00Z"), // 23:30 on the 7th in Shanghai, 10:30 on the 7th in New York
            paid("2", "early", "2026-12-06T20:00:00Z"), // 04:00 on the 7th in Shanghai, 15:00 on the 6th in New York
            { type: "customer.upserted", externalId: "u-none", occurredAt: "2026-12-01T00:00:00Z", identities: [{ type: "external", value: "no-orders" }], payload: {} },
          ],
        },
      },
      key,
    );
    expect(ingest.data.ingestEvents.results).toEqual([{ status: "ACCEPTED", reason: null }, { status: "ACCEPTED", reason: null }, { status: "ACCEPTED", reason: null }]);
    const days = async () => {
      const r = await fixed.gql(`{ customers(first: 10) { nodes { identities { value } stats { daysSinceLastOrder } } } }`, {}, key);
      return Object.fromEntries(r.data.customers.nodes.map((c: any) => [c.identities[0].value, c.stats.daysSinceLastOrder]));
    };
    expect(await days()).toEqual({ late: 1, early: 1, "no-orders": null }); // Shanghai, the default zone: today is the 8th
    await fixed.gql(UPDATE, { input: { timeZone: "America/New_York" } }, key);
    expect(await days()).toEqual({ late: 0, early: 1, "no-orders": null }); // New York: today is the 7th
    await fixed.gql(UPDATE, { input: { timeZone: "UTC" } }, key);
    expect(await days()).toEqual({ late: 0, early: 1, "no-orders": null });
  });
});
