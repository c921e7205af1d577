import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * The audit log through the public API: each kind of action leaves one record naming who, what, whom, from where and
 * how it ended; reads that masked everything leave none; admins of other tenants see none of it.
 */
let t: TestServer;
let tenantAdmin: string; // an admin key of a fresh tenant, so that the log holds only this test's actions
let staff: { key: string; id: string }; // customers:read + customers:write + customers:pii
let clerk: { key: string; id: string }; // customers:read only (masked)

const LOG = `query($filter: AuditLogFilter, $first: Int) { auditLog(filter: $filter, first: $first) { totalCount nodes { id at actorKind actorId actorName kind operation targetIds ip result } } }`;
const log = async (filter: Record<string, unknown> = {}) => (await t.gql(LOG, { filter, first: 50 }, tenantAdmin)).data.auditLog;

beforeAll(async () => {
  t = await createTestServer();
  tenantAdmin = (await createTenant(t, "审计店")).key;
  staff = await createKey(t, ["customers:read", "customers:write", "customers:pii"], tenantAdmin);
  clerk = await createKey(t, ["customers:read"], tenantAdmin);
});
afterAll(() => t.close());

describe("auditLog", () => {
  let customerId: string;

  it("records a mutation: who (key id and name), what, the object it made, from where, and OK", async () => {
    const r = await t.gql(`mutation Enrol { createCustomer(input: {displayName: "审计客户", phone: "13900005555"}) { customer { id } userErrors { code } } }`, {}, staff.key);
    customerId = r.data.createCustomer.customer.id;
    const { nodes } = await log({ operation: "Enrol" });
    expect(nodes).toEqual([
      expect.objectContaining({ actorKind: "api_key", actorId: staff.id, actorName: "test", kind: "MUTATION", operation: "Enrol", targetIds: [customerId], result: "OK" }),
    ]);
    expect(nodes[0].ip).toMatch(/127\.0\.0\.1$/);
  });

  it("records a refused mutation as USER_ERROR and a forbidden one as ERROR, naming their target", async () => {
    await t.gql(`mutation($id: ID!) { updateCustomer(input: {id: $id, phone: "not a phone"}) { userErrors { code } } }`, { id: customerId }, staff.key);
    await t.gql(`mutation($id: ID!) { updateCustomer(input: {id: $id, displayName: "x"}) { userErrors { code } } }`, { id: customerId }, clerk.key);
    const { nodes } = await log({ operation: "updateCustomer" });
    expect(nodes.map((n: any) => [n.actorId, n.result, n.targetIds])).toEqual([
      [clerk.id, "ERROR", [customerId]],
      [staff.id, "USER_ERROR", [customerId]],
    ]);
  });

  it("records a read that served personal values unmasked, and none for a masked read or one without them", async () => {
    const before = (await log({ targetId: customerId })).totalCount;
    await t.gql(`query Card($id: ID!) { customer(id: $id) { displayName phone } }`, { id: customerId }, staff.key);
    await t.gql(`query($id: ID!) { customer(id: $id) { displayName phone identities { value } } }`, { id: customerId }, clerk.key); // masked
    await t.gql(`query($id: ID!) { customer(id: $id) { displayName tags } }`, { id: customerId }, staff.key); // no personal value
    const { nodes, totalCount } = await log({ targetId: customerId });
    expect(totalCount).toBe(before + 1);
    expect(nodes[0]).toMatchObject({ kind: "PII_READ", operation: "Card", actorId: staff.id, targetIds: [customerId], result: "OK" });
  });

  it("records an export of a person's data", async () => {
    await t.gql(`mutation($id: ID!) { exportCustomerData(input: {customerId: $id}) { userErrors { code } } }`, { id: customerId }, tenantAdmin);
    const { nodes } = await log({ operation: "exportCustomerData" });
    expect(nodes).toEqual([expect.objectContaining({ kind: "MUTATION", targetIds: [customerId], result: "OK", actorName: "admin" })]);
  });

  it("writes one statement per request, whatever the page size", async () => {
    for (let i = 0; i < 30; i++) await t.gql(`mutation { createCustomer(input: {displayName: "批量${i}", phone: "1390000${String(6000 + i)}"}) { userErrors { code } } }`, {}, staff.key);
    let served: string[] = [];
    const statements = async (key: string) => {
      await t.server.app.outbox.idle(); // the creates' events are dispatched: no statement of theirs in the count
      const before = t.server.app.db.sql.statements;
      const r = await t.gql(`{ customers(first: 40) { nodes { id phone email identities { value } } } }`, {}, key);
      expect(r.errors).toBeUndefined();
      served = r.data.customers.nodes.map((n: { id: string }) => n.id);
      return t.server.app.db.sql.statements - before;
    };
    const masked = await statements(clerk.key);
    const unmasked = await statements(staff.key);
    expect({ masked, unmasked }).toEqual({ masked, unmasked: masked + 1 });
    expect(served.length).toBeGreaterThanOrEqual(31);
    const [latest] = (await log({ actor: staff.id })).nodes;
    expect(latest).toMatchObject({ kind: "PII_READ", operation: "customers" });
    expect([...latest.targetIds].sort()).toEqual([...served].sort());
  });

  it("filters by actor id or name, operation and time; shows another tenant nothing", async () => {
    const all = await log();
    expect(all.totalCount).toBeGreaterThan(5);
    expect((await log({ actor: clerk.id })).nodes.every((n: any) => n.actorId === clerk.id)).toBe(true);
    expect((await log({ actor: "admin" })).nodes.map((n: any) => n.operation)).toEqual(["exportCustomerData", "createApiKey", "createApiKey"]); // newest first; the keys it made in beforeAll
    const oldest = all.nodes[all.nodes.length - 1].at;
    expect((await log({ before: oldest })).totalCount).toBe(0);
    expect((await log({ after: oldest })).totalCount).toBe(all.totalCount);
    const other = await t.gql(LOG, { filter: {} }, t.adminKey);
    expect(other.data.auditLog.nodes.filter((n: any) => n.targetIds.includes(customerId))).toEqual([]);
    expect((await t.gql(LOG, {}, staff.key)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  it("is append-only, and the retention prune deletes only what is older than the retention", async () => {
    await expect(t.server.app.db.dataSource.query(`UPDATE audit_log SET result = 'OK'`)).rejects.toThrow(/append-only/);
    const total = (await log()).totalCount;
    // Two records from long ago, one each side of a 365-day retention.
    const [{ id: tenantId }] = await t.server.app.db.dataSource.query(`SELECT tenant_id AS id FROM audit_log WHERE actor_id = $1 LIMIT 1`, [staff.id]);
    for (const days of [366, 364]) {
      await t.server.app.db.dataSource.query(
        `INSERT INTO audit_log (tenant_id, at, actor_kind, kind, operation, result) VALUES ($1, now() - make_interval(days => $2::int), 'system', 'MUTATION', $3, 'OK')`,
        [tenantId, days, `old-${days}`],
      );
    }
    expect(await t.server.app.audit.prune(365)).toBe(1);
    expect((await log()).totalCount).toBe(total + 1);
    expect((await log({ operation: "old-364" })).totalCount).toBe(1);
  });

  it("records operations over graphql-ws: a mutation and an unmasked read as over HTTP, a subscription of a pii key once when it starts", async () => {
    const socket = (key: string) =>
      createClient({ url: t.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: { authorization: `Bearer ${key}` } });
    const once = <T>(c: ReturnType<typeof socket>, query: string, variables: Record<string, unknown> = {}) =>
      new Promise<T>((resolve, reject) => {
        let out: T;
        c.subscribe<T>({ query, variables }, { next: (r) => void (out = r as T), error: reject, complete: () => resolve(out) });
      });
    const staffWs = socket(staff.key);
    const clerkWs = socket(clerk.key);
    try {
      const m = await once<any>(staffWs, `mutation WsTag($id: ID!) { addCustomerTags(input: {id: $id, tags: ["ws"]}) { userErrors { code } } }`, { id: customerId });
      expect(m.data.addCustomerTags.userErrors).toEqual([]);
      await once(staffWs, `query WsRead($id: ID!) { customer(id: $id) { phone } }`, { id: customerId });
      await once(clerkWs, `query WsMasked($id: ID!) { customer(id: $id) { phone } }`, { id: customerId });
      // A subscription: one record when it starts, however many events it delivers.
      const events: unknown[] = [];
      const stop = staffWs.subscribe({ query: `subscription WsFollow($id: ID!) { customerUpdated(id: $id) { id phone } }`, variables: { id: customerId } }, { next: (e) => void events.push(e), error: () => undefined, complete: () => undefined });
      const clerkStop = clerkWs.subscribe({ query: `subscription WsMaskedFollow { customerUpdated { id } }` }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      for (let i = 0; i < 50 && !(await log({ operation: "WsFollow" })).totalCount; i++) await new Promise((r) => setTimeout(r, 100));
      for (const name of ["一", "二"]) await t.gql(`mutation($id: ID!, $n: String!) { updateCustomer(input: {id: $id, displayName: $n}) { userErrors { code } } }`, { id: customerId, n: name }, staff.key);
      for (let i = 0; i < 50 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      expect(events).toHaveLength(2);
      stop();
      clerkStop();
    } finally {
      await staffWs.dispose();
      await clerkWs.dispose();
    }
    const record = async (operation: string) => (await log({ operation })).nodes.map((n: any) => ({ actorId: n.actorId, kind: n.kind, targetIds: n.targetIds, result: n.result, ip: n.ip }));
    const ip = expect.stringMatching(/127\.0\.0\.1$/);
    expect(await record("WsTag")).toEqual([{ actorId: staff.id, kind: "MUTATION", targetIds: [customerId], result: "OK", ip }]);
    expect(await record("WsRead")).toEqual([{ actorId: staff.id, kind: "PII_READ", targetIds: [customerId], result: "OK", ip }]);
    expect(await record("WsMasked")).toEqual([]);
    expect(await record("WsFollow")).toEqual([{ actorId: staff.id, kind: "SUBSCRIPTION", targetIds: [customerId], result: "OK", ip }]);
    expect(await record("WsMaskedFollow")).toEqual([]);
  });
});
