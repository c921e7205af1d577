import type { Clock } from "../../src/core/calendar";
import { createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * Retention by tenant setting: event payloads stripped after `eventPayloadRetentionDays`, customers not seen for
 * `inactiveCustomerRetentionDays` erased — each tenant by its own setting. The server's clock is moved forward
 * instead of waiting; the jobs' work is called as the daily cron calls it.
 */
const DAY = 86_400_000;
let offsetDays = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetDays * DAY) };

let t: TestServer;
let other: { key: string };
const connections = new Map<string, string>();
beforeAll(async () => {
  t = await createTestServer({}, { clock });
  other = await createTenant(t, "别家");
  for (const key of [t.adminKey, other.key]) {
    const c = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`, {}, key);
    connections.set(key, c.data.createChannelConnection.connection.id);
  }
});
afterAll(() => t.close());
afterEach(() => {
  offsetDays = 0;
});

const sql = <T = any>(text: string, values: unknown[] = []): Promise<T[]> => t.server.app.db.dataSource.query(text, values);
const SETTINGS = `mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { settings { eventPayloadRetentionDays inactiveCustomerRetentionDays } userErrors { field code } } }`;

async function ingest(key: string, events: object[]) {
  const r = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status } } }`, { input: { connectionId: connections.get(key), events } }, key);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data.ingestEvents.results.map((x: { status: string }) => x.status) as string[];
}

const daysAgo = (d: number) => new Date(Date.now() - d * DAY).toISOString();
const person = (externalId: string, phone: string, name: string, seenDaysAgo = 0) => ({
  type: "customer.upserted",
  externalId,
  occurredAt: daysAgo(seenDaysAgo),
  identities: [{ type: "phone", value: phone }],
  payload: { displayName: name },
});

describe("retention settings", () => {
  it("default to 90 days of payloads and keeping customers, and take whole days in range", async () => {
    expect((await t.gql(`{ tenantSettings { eventPayloadRetentionDays inactiveCustomerRetentionDays } }`)).data.tenantSettings).toEqual({ eventPayloadRetentionDays: 90, inactiveCustomerRetentionDays: null });
    const bad = await t.gql(SETTINGS, { input: { eventPayloadRetentionDays: 0, inactiveCustomerRetentionDays: 29 } });
    expect(bad.data.updateTenantSettings).toEqual({
      settings: null,
      userErrors: [
        { field: ["eventPayloadRetentionDays"], code: "INVALID" },
        { field: ["inactiveCustomerRetentionDays"], code: "INVALID" },
      ],
    });
    const ok = await t.gql(SETTINGS, { input: { eventPayloadRetentionDays: 30, inactiveCustomerRetentionDays: 365 } });
    expect(ok.data.updateTenantSettings).toEqual({ settings: { eventPayloadRetentionDays: 30, inactiveCustomerRetentionDays: 365 }, userErrors: [] });
    const reset = await t.gql(SETTINGS, { input: { eventPayloadRetentionDays: null, inactiveCustomerRetentionDays: null } });
    expect(reset.data.updateTenantSettings.settings).toEqual({ eventPayloadRetentionDays: 90, inactiveCustomerRetentionDays: null });
    // Other settings are untouched by these.
    expect((await t.gql(`{ tenantSettings { currency timeZone } }`)).data.tenantSettings).toEqual({ currency: "CNY", timeZone: "Asia/Shanghai" });
  });
});

describe("event payload retention", () => {
  it("strips each tenant's payloads past its own setting, and a replay of a stripped event is still a duplicate", async () => {
    expect((await t.gql(SETTINGS, { input: { eventPayloadRetentionDays: 30 } })).data.updateTenantSettings.userErrors).toEqual([]);
    expect(await ingest(t.adminKey, [person("p:1", "13900000101", "周一")])).toEqual(["ACCEPTED"]);
    expect(await ingest(other.key, [person("p:1", "13900000102", "吴二")])).toEqual(["ACCEPTED"]); // other tenant: the default 90 days
    const payloads = async () => (await sql(`SELECT payload FROM ingested_events WHERE external_id = 'p:1'`)).map((r) => JSON.stringify(t.server.app.dataKeys.decryptJson(r.payload)));

    offsetDays = 29; // nothing is old enough yet
    expect(await t.server.app.ingestion.stripOldPayloads()).toBe(0);
    offsetDays = 31;
    expect(await t.server.app.ingestion.stripOldPayloads()).toBe(1);
    const after = await payloads();
    expect(after).toContain("{}");
    expect(after.some((p) => p.includes("吴二"))).toBe(true);
    expect(after.some((p) => p.includes("周一") || p.includes("13900000101"))).toBe(false);
    expect(await t.server.app.ingestion.stripOldPayloads()).toBe(0); // stripped once
    offsetDays = 91;
    expect(await t.server.app.ingestion.stripOldPayloads()).toBe(1);

    offsetDays = 0;
    expect(await ingest(t.adminKey, [person("p:1", "13900000101", "周一")])).toEqual(["DUPLICATE"]);
    // The customer keeps what the event gave them.
    expect((await t.gql(`{ customerByIdentity(type: PHONE, value: "13900000101") { displayName } }`)).data.customerByIdentity).toEqual({ displayName: "周一" });
  });
});

describe("inactive customer retention", () => {
  it("erases, in batches, only the customers of tenants that set it and not seen for longer; those seen since are kept", async () => {
    expect((await t.gql(SETTINGS, { input: { inactiveCustomerRetentionDays: 60 } })).data.updateTenantSettings.userErrors).toEqual([]);
    // 250 old customers (more than one batch of 200), one recent, one old but seen again today.
    const old = Array.from({ length: 250 }, (_, i) => person(`old:${i}`, `1380000${String(i).padStart(4, "0")}`, `旧客${i}`, 100));
    expect(new Set(await ingest(t.adminKey, old))).toEqual(new Set(["ACCEPTED"]));
    expect(await ingest(t.adminKey, [person("recent:1", "13700000001", "新客", 10), person("back:1", "13700000002", "回头客", 100)])).toEqual(["ACCEPTED", "ACCEPTED"]);
    expect(await ingest(t.adminKey, [person("back:2", "13700000002", "回头客", 0)])).toEqual(["ACCEPTED"]);
    // The other tenant keeps customers (no setting), however old.
    expect(await ingest(other.key, [person("ancient:1", "13700000003", "老主顾", 400)])).toEqual(["ACCEPTED"]);
    const before = (await sql(`SELECT count(*)::int AS n FROM customers`))[0].n;

    const erased = await t.server.app.customers.eraseInactive((tenantId) => ({ requestId: "test", principal: { kind: "system", tenantId, actor: "retention" }, app: t.server.app, log: t.server.app.log }));
    expect(erased).toBe(250);
    expect((await sql(`SELECT count(*)::int AS n FROM customers`))[0].n).toBe(before - 250);
    const phone = async (v: string, key = t.adminKey) => (await t.gql(`query($v: String!) { customerByIdentity(type: PHONE, value: $v) { displayName } }`, { v }, key)).data.customerByIdentity;
    expect(await phone("13800000000")).toBeNull();
    expect(await phone("13800000249")).toBeNull();
    expect(await phone("13700000001")).toEqual({ displayName: "新客" });
    expect(await phone("13700000002")).toEqual({ displayName: "回头客" });
    expect(await phone("13700000003", other.key)).toEqual({ displayName: "老主顾" });
    expect(await sql(`SELECT reason, actor, count(*)::int AS n FROM customer_erasures GROUP BY reason, actor`)).toEqual([{ reason: "retention", actor: "system:retention", n: 250 }]);
    expect((await sql(`SELECT count(*)::int AS n FROM ingested_events WHERE external_id LIKE 'old:%'`))[0].n).toBe(0);
    expect(await t.server.app.customers.eraseInactive((tenantId) => ({ requestId: "test", principal: { kind: "system", tenantId, actor: "retention" }, app: t.server.app, log: t.server.app.log }))).toBe(0);
  });

  it("runs as daily jobs on the queue", async () => {
    const names = (await sql(`SELECT name FROM pgboss.schedule ORDER BY name`)).map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(["crm.customers.retention", "crm.ingestion.strip-payloads"]));
  });
});
