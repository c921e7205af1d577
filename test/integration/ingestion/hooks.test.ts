import { appWithTenant } from "../../helpers/app";
import type { IngestionChanges } from "../../../src/modules/ingestion/hooks";

/**
 * Ingestion hooks: a module's part in the batch transaction. What a hook sees is checked against
 * what each batch, written out here, must change; what the batch announces against the outbox rows.
 */
jest.setTimeout(60_000);

type Env = Awaited<ReturnType<typeof appWithTenant>>;
let env: Env;
const seen: IngestionChanges[] = [];
let failNext = false;
beforeAll(async () => {
  env = await appWithTenant();
  await env.app.db.dataSource.query(`CREATE TABLE test_hook_writes (external_id text PRIMARY KEY)`);
  env.app.ingestion.hooks.register({
    name: "test-hook",
    eventTypes: ["message.received", "order.refunded"],
    async run(tx, changes) {
      seen.push(structuredClone(changes));
      // Writes in the batch's transaction: they commit with it, or not at all.
      for (const e of changes.events) await tx.manager.query(`INSERT INTO test_hook_writes (external_id) VALUES ($1)`, [e.externalId]);
      if (failNext) throw new Error("loyalty is down");
    },
  });
});
afterAll(() => env.close());

const source = { channel: "http-json", connectionId: null };
const at = (m: number) => new Date(Date.parse("2026-09-01T08:00:00Z") + m * 60_000).toISOString();
const ext = (v: string) => [{ type: "external", value: v }];
const count = async (sql: string) => Number((await env.app.db.dataSource.query(sql))[0].n);
const outbox = async (after: number) =>
  (await env.app.db.dataSource.query(`SELECT payload FROM outbox WHERE id > $1 ORDER BY id`, [after])).map((r: { payload: any }) => r.payload);
const lastOutboxId = async () => Number((await env.app.db.dataSource.query(`SELECT coalesce(max(id), 0) AS n FROM outbox`))[0].n);
const customerId = async (value: string) => (await env.app.customers.findByIdentity(env.ctx, "external", value))!.id;

describe("ingestion hooks", () => {
  it("see exactly the batch's changes, once, set-based, and write in its transaction", async () => {
    seen.length = 0;
    const before = await lastOutboxId();
    const batch = [
      { type: "customer.upserted", externalId: "h-c1", occurredAt: at(1), identities: ext("hook-a"), payload: { displayName: "钩子甲" } },
      { type: "order.paid", externalId: "h-o1", occurredAt: at(2), identities: ext("hook-a"), payload: { orderId: "H-1", currency: "CNY", total: 10_000 } },
      { type: "order.refunded", externalId: "h-r1", occurredAt: at(3), identities: [], payload: { orderId: "H-1", refundId: "R-1", amount: 2_500 } },
      { type: "message.received", externalId: "h-m1", occurredAt: at(4), identities: ext("hook-a"), payload: { threadId: "t-1", text: "在吗" } },
      { type: "customer.upserted", externalId: "h-c1", occurredAt: at(1), identities: ext("hook-a"), payload: { displayName: "钩子甲" } }, // a duplicate
    ];
    const results = await env.app.ingestion.ingest(env.ctx, source, batch);
    expect(results.map((r) => r.status)).toEqual(["accepted", "accepted", "accepted", "accepted", "duplicate"]);
    const a = await customerId("hook-a");
    expect(seen).toHaveLength(1);
    const [orderId] = (await env.app.db.dataSource.query(`SELECT id FROM orders WHERE external_order_id = 'H-1'`)).map((r: { id: string }) => r.id);
    expect(seen[0]).toEqual({
      channel: "http-json",
      connectionId: null,
      orders: [
        {
          id: orderId,
          channel: "http-json",
          externalOrderId: "H-1",
          customerId: a,
          created: true,
          becamePaid: true,
          becameCancelled: false,
          status: "PAID",
          currency: "CNY",
          total: 10_000,
          refundedBefore: 0,
          refundedNow: 2_500,
        },
      ],
      statsChanged: [a],
      customers: { created: [a], updated: [], merged: [] },
      events: [
        { externalId: "h-r1", event: expect.objectContaining({ type: "order.refunded" }), customerId: null },
        { externalId: "h-m1", event: expect.objectContaining({ type: "message.received", payload: { threadId: "t-1", text: "在吗" } }), customerId: a },
      ],
    });
    expect(await count(`SELECT count(*) AS n FROM test_hook_writes`)).toBe(2);

    // The batch announces what it changed, each event naming the channel it came through.
    const events = await outbox(before);
    const channel = { kind: "channel", channel: "http-json", connectionId: null };
    expect(events.map((e: { type: string }) => e.type).sort()).toEqual(["customer.created", "customer.lifecycle_changed", "customer.stats_changed", "order.created", "order.paid", "order.refunded"]);
    // The analytics module's hook gave the new buyer their first stage in the same batch: one order of
    // 2026-09-01 (Shanghai), so by the default thresholds it depends on how long ago that is today.
    const shanghaiDay = (ms: number) => Math.floor((ms + 8 * 3_600_000) / 86_400_000);
    const days = shanghaiDay(Date.now()) - shanghaiDay(Date.parse(at(2)));
    const stage = days > 365 ? "CHURNED" : days > 180 ? "DORMANT" : days > 90 ? "AT_RISK" : "FIRST_PURCHASE";
    expect(events.find((e: { type: string }) => e.type === "customer.lifecycle_changed")).toMatchObject({ customerId: a, from: null, to: stage });
    for (const e of events) expect(e).toMatchObject({ version: 1, source: channel, tenantId: env.tenantId });
    expect(events.find((e: { type: string }) => e.type === "order.refunded")).toMatchObject({ orderId, customerId: a, amount: 2_500, refunded: 2_500, status: "PAID" });
    expect(events.find((e: { type: string }) => e.type === "order.paid")).toMatchObject({ orderId, customerId: a, total: 10_000, currency: "CNY" });
  });

  it("see an order's previous state in a later batch, and merges", async () => {
    seen.length = 0;
    await env.app.ingestion.ingest(env.ctx, source, [
      { type: "customer.upserted", externalId: "h-c2", occurredAt: at(10), identities: ext("hook-b"), payload: { displayName: "钩子乙" } },
    ]);
    const b = await customerId("hook-b");
    const a = await customerId("hook-a");
    seen.length = 0;
    const before = await lastOutboxId();
    await env.app.ingestion.ingest(env.ctx, source, [
      { type: "order.refunded", externalId: "h-r2", occurredAt: at(11), identities: [], payload: { orderId: "H-1", refundId: "R-2", amount: 7_500 } },
      // A second order, paid and never refunded: no order.refunded for it.
      { type: "order.paid", externalId: "h-o2", occurredAt: at(11), identities: ext("hook-a"), payload: { orderId: "H-2", currency: "CNY", total: 4_000 } },
      // Names both customers: they are one person, merged into the older (a).
      { type: "customer.upserted", externalId: "h-c3", occurredAt: at(12), identities: [...ext("hook-a"), ...ext("hook-b")], payload: {} },
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0].orders).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ externalOrderId: "H-1", created: false, becamePaid: false, status: "REFUNDED", refundedBefore: 2_500, refundedNow: 10_000 }),
        expect.objectContaining({ externalOrderId: "H-2", created: true, becamePaid: true, refundedBefore: 0, refundedNow: 0 }),
      ]),
    );
    expect(seen[0].orders).toHaveLength(2);
    expect(seen[0].customers.merged).toEqual([{ sourceId: b, targetId: a }]);
    expect(seen[0].statsChanged).toEqual([a]);
    const announced = await outbox(before);
    const types = announced.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(["order.refunded", "customer.stats_changed", "customer.merged"]));
    // Only H-1 got a refund, and only H-2 was created and paid by this batch.
    expect(announced.filter((e: { type: string }) => e.type === "order.refunded")).toEqual([expect.objectContaining({ amount: 7_500, refunded: 10_000 })]);
    expect(types.filter((t: string) => t === "order.paid" || t === "order.created").sort()).toEqual(["order.created", "order.paid"]);
  });

  it("roll the whole batch back when one fails; the channel's retry is taken once it works", async () => {
    const customers = await count(`SELECT count(*) AS n FROM customers`);
    const writes = await count(`SELECT count(*) AS n FROM test_hook_writes`);
    const before = await lastOutboxId();
    const batch = [
      { type: "customer.upserted", externalId: "h-c9", occurredAt: at(20), identities: ext("hook-z"), payload: { displayName: "回滚" } },
      { type: "message.received", externalId: "h-m9", occurredAt: at(21), identities: ext("hook-z"), payload: { threadId: "t-9", text: "你好" } },
    ];
    failNext = true;
    try {
      await expect(env.app.ingestion.ingest(env.ctx, source, batch)).rejects.toThrow(/ingestion hook test-hook failed: loyalty is down/);
    } finally {
      failNext = false;
    }
    expect(await count(`SELECT count(*) AS n FROM customers`)).toBe(customers);
    expect(await count(`SELECT count(*) AS n FROM test_hook_writes`)).toBe(writes);
    expect(await count(`SELECT count(*) AS n FROM ingested_events WHERE external_id LIKE 'h-_9'`)).toBe(0);
    expect(await lastOutboxId()).toBe(before);
    const retry = await env.app.ingestion.ingest(env.ctx, source, batch);
    expect(retry.map((r) => r.status)).toEqual(["accepted", "accepted"]);
    expect(await count(`SELECT count(*) AS n FROM customers`)).toBe(customers + 1);
  });

  it("a change made through the API names the principal as its source", async () => {
    const before = await lastOutboxId();
    const r = await env.app.customers.create(env.ctx, { displayName: "接口客户" } as never);
    expect(r.ok).toBe(true);
    expect(await outbox(before)).toEqual([expect.objectContaining({ type: "customer.created", version: 1, source: { kind: "system", actor: "test" } })]);
  });
});
