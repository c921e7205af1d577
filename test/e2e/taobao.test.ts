import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { DEFAULT_CADENCE, occurredAt, parseJsonExact } from "../../adapters/taobao";
import { startServer, type RunningServer } from "../../src/server";
import { FakeTmcServer, type WireMessage } from "../fixtures/taobao/fake-tmc-server";
import { reopenableDatabase, silentLog } from "../helpers/database";
import { randomKey } from "../helpers/test-server";

/**
 * The taobao plugin end to end: a real server on a real database (PGlite, or PostgreSQL with
 * DATABASE_URL) consuming a local TMC endpoint that speaks Taobao's frames. Messages become orders;
 * a message is confirmed only once its events are committed; redeliveries are duplicates; the
 * consumer survives dropped links, resumes after a restart and follows the connections.
 */

const APP_KEY = "23456789";
const SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const TID = "4012345678901234567";
const TID_CLOSED = "4012345678901239999";
const BUYER = "AAHk5d-EAAeGwJedwSHpg8bT";
const RECONNECT_BASE_MS = 50;
// "Within seconds" with room for a loaded CI machine: the wait ends as soon as the thing happens.
const SOON = DEFAULT_CADENCE.activeMs + 15_000;

let db: Awaited<ReturnType<typeof reopenableDatabase>>;
let server: RunningServer;
let tmc: FakeTmcServer;
let connectionId: string;
const adminKey = randomKey();
const platformKey = randomKey();

async function start(): Promise<void> {
  server = await startServer({ ...db.config, port: 0, bootstrapTenantKey: adminKey, platformKey }, { log: silentLog, database: await db.open(), print: () => undefined });
}

async function gql(query: string, variables: Record<string, unknown> = {}, key = adminKey): Promise<{ data: any; errors?: unknown[] }> {
  const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: any; errors?: unknown[] };
}

/** A fixture as TMC would push it: wire field names, Int64 ids, a Date. */
function wire(name: string, overrides: Partial<WireMessage> = {}): WireMessage {
  const m = parseJsonExact(readFileSync(join(__dirname, "../fixtures/taobao", name), "utf8")) as Record<string, string>;
  return {
    id: BigInt(m.id),
    topic: m.topic,
    content: m.content,
    time: new Date(occurredAt(m.pub_time)),
    publisher: m.pub_app_key,
    userid: BigInt(m.user_id),
    nick: m.user_nick,
    ...overrides,
  };
}

/** A TradeCreate of another trade, from the fixture. */
function tradeCreate(id: bigint, tid: string, patch: (content: string) => string = (c) => c): WireMessage {
  const base = wire("trade-create.json");
  return { ...base, id, content: patch((base.content as string).replaceAll(TID, tid)) };
}

const ORDER_FIELDS = "id externalId status currency total shipping refunded storeId placedAt paidAt completedAt cancelledAt updatedAt customer { id }";

async function order(tid: string, key = adminKey): Promise<Record<string, any> | undefined> {
  const r = await gql(`{ orders(first: 250, filter: { channel: "taobao" }) { nodes { ${ORDER_FIELDS} } } }`, {}, key);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return (r.data.orders.nodes as Record<string, any>[]).find((o) => o.externalId === tid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether each confirm found its order already readable through the API (checked the moment the confirm arrives). */
const visibleAtConfirm = new Map<bigint, Promise<boolean>>();
function watchConfirms(expectations: Record<string, string>): void {
  tmc.onConfirm = (id) => {
    const tid = expectations[id.toString()];
    if (tid && !visibleAtConfirm.has(id)) visibleAtConfirm.set(id, order(tid).then(Boolean));
  };
}

beforeAll(async () => {
  tmc = await FakeTmcServer.start({ appKey: APP_KEY, appSecret: SECRET });
  db = await reopenableDatabase();
  await start();
  const r = await gql(
    `mutation($config: JSONObject!) { createChannelConnection(input: {channel: "taobao", name: "茶香旗舰店", config: $config}) { connection { id config } userErrors { field code message } } }`,
    { config: { appKey: APP_KEY, appSecret: SECRET, tmcUrl: tmc.url, reconnectBaseMs: RECONNECT_BASE_MS } },
  );
  expect(r.data.createChannelConnection.userErrors).toEqual([]);
  connectionId = r.data.createChannelConnection.connection.id;
  expect(r.data.createChannelConnection.connection.config).toEqual({ appKey: APP_KEY, tmcUrl: tmc.url, reconnectBaseMs: RECONNECT_BASE_MS }); // no appSecret
  // A restart: the plugin's init starts a consumer for every enabled connection. (A server that has
  // no Taobao connection yet looks for new ones once a minute; see the README.)
  await server.close();
  await start();
  await tmc.waitFor(() => Boolean(tmc.current), "the consumer to sign in after the restart", SOON);
});

afterAll(async () => {
  await server?.close();
  expect(tmc.protocolErrors).toEqual([]);
  expect(tmc.badConfirms).toEqual([]);
  await tmc?.close();
  await db?.dispose();
});

describe("taobao through TMC", () => {
  it("signs in with the app key, group and a valid signature", () => {
    expect(tmc.current!.connect).toMatchObject({ app_key: APP_KEY, group_name: "default" });
    expect(tmc.sessions.every((s) => s.refusedWith === undefined)).toBe(true);
  });

  it("turns trade messages into an order on the buyer's customer, keeping the trade number exact", async () => {
    const create = wire("trade-create.json");
    const pay = wire("trade-buyer-pay.json");
    watchConfirms({ [create.id.toString()]: TID, [pay.id.toString()]: TID });
    tmc.push(create);
    tmc.push(pay);
    await tmc.waitFor(() => tmc.confirmed(create.id) === 1 && tmc.confirmed(pay.id) === 1, "both confirms");
    // Each confirm came after its order was committed: the API already returned it at that moment.
    expect(await visibleAtConfirm.get(create.id)).toBe(true);
    expect(await visibleAtConfirm.get(pay.id)).toBe(true);

    const o = await order(TID);
    expect(o).toMatchObject({
      externalId: TID,
      status: "PAID",
      currency: "CNY",
      total: 26800,
      shipping: 1000,
      storeId: "2200701234567",
      placedAt: "2026-11-10T16:00:05.000Z",
      paidAt: "2026-11-10T16:01:12.000Z",
    });
    const c = await gql(`query($v: String!) { customerByIdentity(type: TAOBAO_BUYER, value: $v) { id identities { type value sourceChannel } orders { nodes { externalId } } } }`, { v: BUYER });
    expect(c.data.customerByIdentity).toEqual({
      id: o!.customer.id,
      identities: [{ type: "TAOBAO_BUYER", value: BUYER, sourceChannel: "taobao" }],
      orders: { nodes: [{ externalId: TID }] },
    });
  });

  it("does not confirm a message whose transaction failed, and applies it when TMC delivers it again", async () => {
    const tid = "4012345678900000001";
    const m = tradeCreate(2140500009000000001n, tid);
    const ds = server.app.db.dataSource;
    watchConfirms({ [m.id.toString()]: tid });
    // The database refuses this order's insert: the ingest transaction rolls back.
    await ds.query(`
      CREATE FUNCTION taobao_e2e_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.external_order_id = '${tid}' THEN RAISE EXCEPTION 'simulated storage failure'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER taobao_e2e_refuse BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION taobao_e2e_refuse();`);
    try {
      const sessions = tmc.signedIn.length;
      tmc.push(m);
      // The consumer drops the link instead of confirming; TMC pushes the message again on the next one.
      await tmc.waitFor(() => tmc.signedIn.length > sessions && tmc.delivered(m.id) >= 2, "a redelivery on a new link");
      expect(tmc.confirmed(m.id)).toBe(0);
      expect(await order(tid)).toBeUndefined();
    } finally {
      await ds.query(`DROP TRIGGER taobao_e2e_refuse ON orders; DROP FUNCTION taobao_e2e_refuse();`);
    }
    await tmc.waitFor(() => tmc.confirmed(m.id) === 1, "the confirm once the database accepts it");
    expect(await visibleAtConfirm.get(m.id)).toBe(true);
    expect(await order(tid)).toMatchObject({ status: "PLACED", total: 26800 });
  });

  it("confirms messages that yield no order: an event the pipeline rejects, an unmapped topic, unreadable content", async () => {
    const rejected = tradeCreate(2140500009000000002n, "4012345678900000002", (c) => c.replace(BUYER, "x".repeat(201)));
    const unmapped = wire("item-update.json");
    const unreadable = tradeCreate(2140500009000000003n, "4012345678900000003", () => "{not json");
    for (const m of [rejected, unmapped, unreadable]) tmc.push(m);
    await tmc.waitFor(() => [rejected, unmapped, unreadable].every((m) => tmc.confirmed(m.id) === 1), "three confirms");
    expect(await order("4012345678900000002")).toBeUndefined();
    expect(await order("4012345678900000003")).toBeUndefined();
    expect(tmc.pending.size).toBe(0);
  });

  it("reads gzip-compressed content pushed as a byte array", async () => {
    const m = tradeCreate(2140500009000000004n, "4012345678900000004");
    tmc.push({ ...m, content: gzipSync(Buffer.from(m.content as string, "utf8")) });
    await tmc.waitFor(() => tmc.confirmed(m.id) === 1, "the confirm");
    expect(await order("4012345678900000004")).toMatchObject({ status: "PLACED", total: 26800 });
  });

  it("treats a redelivered message, or the same fact under a new message id, as a duplicate that changes nothing", async () => {
    const before = await order(TID);
    const customers = (await gql(`{ customers { totalCount } }`)).data.customers.totalCount;
    const pay = wire("trade-buyer-pay.json");
    tmc.redeliver(pay); // same id, confirmed before
    const ship = wire("trade-seller-ship.json"); // new id, same fact: the order was paid
    tmc.push(ship);
    await tmc.waitFor(() => tmc.confirmed(pay.id) === 2 && tmc.confirmed(ship.id) === 1, "the confirms");
    expect(await order(TID)).toEqual(before);
    expect((await gql(`{ customers { totalCount } }`)).data.customers.totalCount).toBe(customers);
  });

  it("reconnects with backoff when the link drops, and goes on consuming", async () => {
    const sessions = tmc.signedIn.length;
    const droppedAt = Date.now();
    tmc.drop();
    await tmc.waitFor(() => tmc.signedIn.length === sessions + 1, "a new link");
    // Half the base delay at least (jitter never goes below half a step).
    expect(tmc.signedIn[sessions].openedAt - droppedAt).toBeGreaterThanOrEqual(RECONNECT_BASE_MS / 2 - 2);

    const success = wire("trade-success.json");
    const refund = wire("refund-success.json");
    tmc.push(success);
    tmc.push(refund);
    await tmc.waitFor(() => tmc.confirmed(success.id) === 1 && tmc.confirmed(refund.id) === 1, "the confirms");
    expect(await order(TID)).toMatchObject({ status: "COMPLETED", completedAt: "2026-11-18T01:00:00.000Z", refunded: 12900, total: 26800 });
  });

  it("starts the consumer of a connection created meanwhile within seconds, and keeps its orders in its tenant", async () => {
    const tenant = await gql(`mutation($name: String!) { createTenant(input: {name: $name}) { apiKey userErrors { code } } }`, { name: "龙井茶庄" }, platformKey);
    const otherKey = tenant.data.createTenant.apiKey as string;
    const otherTmc = await FakeTmcServer.start({ appKey: "34567890", appSecret: "1b2c3d4e5f60718293a4b5c6d7e8f90a" });
    try {
      const r = await gql(
        `mutation($config: JSONObject!) { createChannelConnection(input: {channel: "taobao", name: "龙井茶庄天猫店", config: $config}) { userErrors { code } } }`,
        { config: { appKey: "34567890", appSecret: "1b2c3d4e5f60718293a4b5c6d7e8f90a", tmcUrl: otherTmc.url } },
        otherKey,
      );
      expect(r.data.createChannelConnection.userErrors).toEqual([]);
      await otherTmc.waitFor(() => Boolean(otherTmc.current), "the new connection's consumer to sign in", SOON);
      const m = tradeCreate(2140500009000000005n, "4012345678900000005");
      otherTmc.push(m);
      await otherTmc.waitFor(() => otherTmc.confirmed(m.id) === 1, "the confirm");
      expect(await order("4012345678900000005", otherKey)).toMatchObject({ status: "PLACED", total: 26800 });
      expect(await order("4012345678900000005")).toBeUndefined();
      expect(tmc.delivered(m.id)).toBe(0);
    } finally {
      await otherTmc.close();
    }
  });

  it("stops the consumer when the connection is disabled, and starts it again when enabled", async () => {
    const disabled = await gql(`mutation($id: ID!) { disableChannelConnection(input: {id: $id}) { connection { enabled } } }`, { id: connectionId });
    expect(disabled.data.disableChannelConnection.connection.enabled).toBe(false);
    await tmc.waitFor(() => tmc.current === undefined, "the link to close", SOON);
    const sessions = tmc.sessions.length;
    const close = wire("trade-close.json");
    tmc.push(close); // waits at TMC: nobody consumes
    await sleep(DEFAULT_CADENCE.activeMs + 500);
    expect(tmc.sessions.length).toBe(sessions);
    expect(tmc.delivered(close.id)).toBe(0);

    const enabled = await gql(`mutation($id: ID!) { updateChannelConnection(input: {id: $id, enabled: true}) { connection { enabled } userErrors { code } } }`, { id: connectionId });
    expect(enabled.data.updateChannelConnection.connection.enabled).toBe(true);
    await tmc.waitFor(() => tmc.confirmed(close.id) === 1, "the waiting message consumed", SOON);
    expect(await order(TID_CLOSED)).toMatchObject({ status: "CANCELLED", total: 9900, cancelledAt: "2026-11-11T16:00:05.000Z" });
  });
});
