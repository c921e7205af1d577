import { notesModule, notesLog } from "../fixtures/notes-module";
import { builtinModules } from "../../src/modules";
import { createKey, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * A module registered only through its manifest: the server is started with the built-in modules
 * plus `notesModule` (test/fixtures/notes-module), and no central file knows about it.
 */
let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({}, { modules: [...builtinModules, notesModule] });
});
afterAll(() => t?.close());

const at = (minute: number) => new Date(Date.UTC(2026, 10, 11, 2, minute)).toISOString();
const paid = (orderId: string, phone: string) => ({
  type: "order.paid",
  externalId: `${orderId}:paid`,
  occurredAt: at(1),
  identities: [{ type: "phone", value: phone }],
  payload: { orderId, currency: "CNY", total: 1_000, items: [{ sku: "SKU-1", quantity: 1, unitPrice: 1_000 }] },
});
const placed = (orderId: string, phone: string) => ({ ...paid(orderId, phone), type: "order.placed", externalId: `${orderId}:placed` });

async function ingest(events: unknown[]) {
  const conn = await t.gql(
    `mutation($config: JSONObject!) { createChannelConnection(input: {channel: "http-json", name: "notes", config: $config}) { connection { id } } }`,
    { config: { secret: "a-secret-for-the-notes-test-0123" } },
  );
  return t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { externalId status reason } userErrors { code } } }`, {
    input: { connectionId: conn.data.createChannelConnection.connection.id, events },
  });
}

async function notes(): Promise<{ body: string; source: string }[]> {
  const r = await t.gql(`{ testNotes { body source } }`);
  expect(r.errors).toBeUndefined();
  return r.data.testNotes;
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("a module registered through its manifest alone", () => {
  it("gets its table from its own migration and its resolvers in the schema", async () => {
    const [row] = await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM typeorm_migrations WHERE name = 'TestNotes1799000000000'`);
    expect(row.n).toBe(1);
    const type = await t.gql(`{ __type(name: "TestNote") { fields { name } } }`);
    expect(type.data.__type.fields.map((f: { name: string }) => f.name).sort()).toEqual(["body", "id", "source"]);
    expect(await notes()).toEqual([]);
  });

  it("gets its scopes: keys can be given them, and they guard its resolvers", async () => {
    const reader = await createKey(t, ["notes:read"]);
    const writer = await createKey(t, ["notes:write", "notes:read"]);
    expect((await t.gql(`{ testNotes { body } }`, {}, reader.key)).data.testNotes).toEqual([]);
    const refused = await t.gql(`mutation { addTestNote(body: "不行") { id } }`, {}, reader.key);
    expect(refused.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const added = await t.gql(`mutation { addTestNote(body: "首单回访") { body source } }`, {}, writer.key);
    expect(added.data.addTestNote).toEqual({ body: "首单回访", source: "api" });
    // Its domain event went through the outbox like any module's.
    const [event] = await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE type = 'note.added'`);
    expect(event.n).toBe(1);
    const unknown = await t.gql(`mutation { createApiKey(input: {name: "x", scopes: ["notes:delete"]}) { userErrors { field code message } } }`);
    expect(unknown.data.createApiKey.userErrors[0]).toMatchObject({ field: ["scopes", "0"], code: "INVALID" });
    expect(unknown.data.createApiKey.userErrors[0].message).toContain("notes:read, notes:write");
  });

  it("joins the ingestion transaction with its hook: it sees the batch, and its failure rolls the batch back", async () => {
    notesLog.hookBatches.length = 0;
    const first = await ingest([placed("A-1", "13800001111"), paid("A-1", "13800001111"), paid("A-2", "13800002222")]);
    expect(first.data.ingestEvents.results.map((r: { status: string }) => r.status)).toEqual(["ACCEPTED", "ACCEPTED", "ACCEPTED"]);
    expect(notesLog.hookBatches).toEqual([{ orders: ["A-1", "A-2"], events: 2 }]);
    expect((await notes()).filter((n) => n.source === "hook")).toEqual([
      { body: "paid A-1", source: "hook" },
      { body: "paid A-2", source: "hook" },
    ]);

    const before = await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM customers`);
    const failed = await ingest([paid("explode", "13800003333")]);
    expect(failed.errors?.[0].extensions?.code).toBe("UNAVAILABLE");
    expect(JSON.stringify(failed.errors)).not.toMatch(/at .*\.ts/);
    const orders = await t.gql(`{ orders(first: 10) { nodes { externalId } } }`);
    expect(orders.data.orders.nodes.map((o: { externalId: string }) => o.externalId).sort()).toEqual(["A-1", "A-2"]);
    expect(await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM customers`)).toEqual(before);
    expect((await notes()).filter((n) => n.body === "paid explode")).toEqual([]);
  });

  it("gets its job queue: a job it sends runs, once, and shows in jobRuns for the tenant", async () => {
    notesLog.jobRuns.length = 0;
    await t.gql(`mutation { addTestNote(body: "生日关怀", digestInSeconds: 1) { id } }`);
    await waitFor(async () => (await notes()).some((n) => n.body === "digest of 生日关怀"), 15_000);
    expect(notesLog.jobRuns.map((r) => r.body)).toEqual(["生日关怀"]);
    const runs = await t.gql(`{ jobRuns(filter: {name: "test.notes.digest"}) { nodes { name state } } }`);
    expect(runs.data.jobRuns.nodes).toEqual([{ name: "test.notes.digest", state: "COMPLETED" }]);
  });
});
