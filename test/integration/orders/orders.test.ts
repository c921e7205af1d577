import fc from "fast-check";
import { createApp, type App } from "../../../src/app";
import type { Ctx } from "../../../src/core/context";
import { toGlobalId } from "../../../src/core/global-id";
import { inTransaction } from "../../../src/core/transaction";
import type { OrderEventItem } from "../../../src/modules/orders/service";
import type { OrderEvent } from "../../../src/plugins/events";
import { freshDatabase, silentLog } from "../../helpers/database";
import { aLeanOrderEvent, anOrderEvent, aRefundEvent, minute, uniqueId } from "../../fixtures/orders";

jest.setTimeout(300_000);

let db: Awaited<ReturnType<typeof freshDatabase>>;
let app: App;
let ctx: Ctx;
let tenantId: string;

beforeAll(async () => {
  db = await freshDatabase();
  app = await createApp(db.config, silentLog, { database: await db.open() });
  await app.tenancy.bootstrap(silentLog, () => undefined);
  [{ id: tenantId }] = await app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
  ctx = ctxFor(tenantId);
});
afterAll(async () => {
  await app?.outbox.stop();
  // The outbox starts the job queue when an event has handlers (segments and analytics have some for
  // stats changes): stop it too, or its workers poll on after this file's environment is gone.
  await app?.jobs.stop();
  await app?.db.close();
  await db?.dispose();
});

function ctxFor(tenant: string): Ctx {
  return { requestId: "test", principal: { kind: "system", tenantId: tenant, actor: "test" }, app, log: silentLog };
}

/** Bare customers of a tenant: the orders module only needs them to exist. */
async function newCustomers(n: number, tenant = tenantId): Promise<string[]> {
  const rows: { id: string }[] = await app.db.dataSource.query(
    `INSERT INTO customers (tenant_id) SELECT $1 FROM generate_series(1, $2::int) RETURNING id`,
    [tenant, n],
  );
  return rows.map((r) => r.id);
}

const item = (event: OrderEvent, customerId: string | null, channel = "youzan"): OrderEventItem => ({ channel, event, customerId });

/** Applies the items in one transaction; returns the customers whose stats changed. */
async function apply(items: OrderEventItem[], on: Ctx = ctx): Promise<string[]> {
  return (await inTransaction(on, (tx) => app.orders.applyEvents(tx, items))).statsChanged;
}

type Row = Record<string, any>;

/** Timestamps as ISO strings in UTC, whatever the session time zone printed. */
function normalize(row: Row | undefined): Row | null {
  if (!row) return null;
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, k.endsWith("_at") && typeof v === "string" ? new Date(v).toISOString() : v]));
}

async function orderRow(orderId: string, channel = "youzan", tenant = tenantId): Promise<Row | null> {
  const [row] = await app.db.dataSource.query(
    `SELECT to_jsonb(o) - 'created_at' AS o FROM orders o WHERE tenant_id = $1 AND channel = $2 AND external_order_id = $3`,
    [tenant, channel, orderId],
  );
  return normalize(row?.o);
}

async function statsRow(customerId: string): Promise<Row | null> {
  const [row] = await app.db.dataSource.query(`SELECT to_jsonb(s) - 'tenant_id' - 'customer_id' AS s FROM customer_stats s WHERE customer_id = $1`, [customerId]);
  return normalize(row?.s);
}

/** No counted order: what `storedStats` reads for a customer without a stats row. */
const zeros = (customerId: string) => ({ customer_id: customerId, orders_count: 0, total_spent: "0", first_order_at: null, last_order_at: null });

async function storedStats(customerIds: string[], tenant = tenantId): Promise<Row[]> {
  const rows = await app.db.dataSource.query(
    `SELECT c.id AS customer_id, coalesce(s.orders_count, 0) AS orders_count, coalesce(s.total_spent, 0)::text AS total_spent,
            s.first_order_at, s.last_order_at
       FROM unnest($2::uuid[]) AS c(id) LEFT JOIN customer_stats s ON s.customer_id = c.id AND s.tenant_id = $1
      ORDER BY c.id`,
    [tenant, customerIds],
  );
  return rows.map((r: Row) => normalize({ ...r, first_order_at: r.first_order_at && new Date(r.first_order_at).toISOString(), last_order_at: r.last_order_at && new Date(r.last_order_at).toISOString() }));
}

describe("OrdersService.applyEvents", () => {
  it("folds placed → paid → partial refund → full refund into statuses and stats", async () => {
    const [c] = await newCustomers(1);
    const id = uniqueId("o");

    expect(await apply([item(anOrderEvent("order.placed", id, minute(0)), c)])).toEqual([]);
    expect(await orderRow(id)).toMatchObject({
      status: "PLACED",
      customer_id: c,
      currency: "CNY",
      total: 10_000,
      subtotal: 10_500,
      discount: 500,
      shipping: 0,
      refunded: 0,
      store_id: "store-hz-1",
      placed_at: minute(0),
      paid_at: null,
    });
    expect(await statsRow(c)).toBeNull(); // placed is not bought yet

    expect(await apply([item(anOrderEvent("order.paid", id, minute(5)), c)])).toEqual([c]);
    expect(await orderRow(id)).toMatchObject({ status: "PAID", paid_at: minute(5), placed_at: minute(0) });
    expect(await statsRow(c)).toEqual({ orders_count: 1, total_spent: 10_000, first_order_at: minute(0), last_order_at: minute(0), currency: "CNY" });

    expect(await apply([item(aRefundEvent(id, "rf-1", 3_000, minute(30), [{ sku: "TEA-1", quantity: 1, amount: 3_000 }]), c)])).toEqual([c]);
    expect(await orderRow(id)).toMatchObject({ status: "PAID", refunded: 3_000 });
    expect(await statsRow(c)).toMatchObject({ orders_count: 1, total_spent: 7_000 });

    expect(await apply([item(aRefundEvent(id, "rf-2", 7_000, minute(40)), c)])).toEqual([c]);
    expect(await orderRow(id)).toMatchObject({ status: "REFUNDED", refunded: 10_000 });
    expect(await statsRow(c)).toBeNull(); // no counted order left: the row goes
    expect(await storedStats([c])).toEqual([zeros(c)]);
  });

  it("takes a refund that arrives before its order as a PENDING order, and converges to the in-order result", async () => {
    const [early, inOrder] = await newCustomers(2);
    const id = uniqueId("o");
    const placed = anOrderEvent("order.placed", id, minute(0));
    const paid = anOrderEvent("order.paid", id, minute(1));
    const refund = aRefundEvent(id, "rf-1", 2_500, minute(2), [{ sku: "CUP-1", quantity: 1, amount: 2_500 }]);

    expect(await apply([item(refund, early, "early")])).toEqual([]);
    expect(await orderRow(id, "early")).toMatchObject({ status: "PENDING", currency: null, total: 0, refunded: 2_500, items: [], customer_id: early });
    await apply([item(paid, early, "early")]);
    await apply([item(placed, early, "early")]);

    for (const e of [placed, paid, refund]) await apply([item(e, inOrder, "in-order")]);

    const strip = (r: Row | null) => ({ ...r, id: undefined, channel: undefined, customer_id: undefined, updated_at: undefined });
    expect(strip(await orderRow(id, "early"))).toEqual(strip(await orderRow(id, "in-order")));
    expect(await orderRow(id, "early")).toMatchObject({ status: "PAID", refunded: 2_500, total: 10_000, currency: "CNY" });
    expect(await statsRow(early)).toEqual(await statsRow(inOrder));
    expect(await statsRow(early)).toMatchObject({ orders_count: 1, total_spent: 7_500 });
  });

  it("gives identical orders and stats for every permutation and batching of a five-event history", async () => {
    const id = uniqueId("o");
    const history = [
      anOrderEvent("order.placed", id, minute(0)),
      anOrderEvent("order.paid", id, minute(1), { shipping: 800, total: 10_800 }),
      aRefundEvent(id, "rf-1", 2_000, minute(2), [{ sku: "TEA-1", quantity: 1, amount: 2_000 }]),
      aRefundEvent(id, "rf-2", 1_000, minute(3)),
      anOrderEvent("order.completed", id, minute(4), { shipping: 800, total: 10_800, storeId: "store-hz-2" }),
    ];
    const permutations = permute(history);
    expect(permutations).toHaveLength(120);
    const customers = await newCustomers(permutations.length);

    const results: { order: Row; stats: Row | null }[] = [];
    for (const [k, events] of permutations.entries()) {
      const channel = `perm-${k}`;
      // k's low bits choose where the history is cut into batches: every split occurs across the permutations.
      let batch: OrderEventItem[] = [];
      for (const [i, e] of events.entries()) {
        batch.push(item(e, customers[k], channel));
        if (i === events.length - 1 || (k >> i) & 1) {
          await apply(batch);
          batch = [];
        }
      }
      const order = (await orderRow(id, channel))!;
      expect(order.customer_id).toBe(customers[k]);
      results.push({ order: { ...order, id: undefined, channel: undefined, customer_id: undefined, updated_at: undefined }, stats: await statsRow(customers[k]) });
    }
    for (const r of results) expect(r).toEqual(results[0]);
    expect(results[0].order).toMatchObject({
      status: "COMPLETED",
      total: 10_800,
      shipping: 800,
      refunded: 3_000,
      store_id: "store-hz-2", // the latest event's amounts, whenever it arrived
      placed_at: minute(0),
      paid_at: minute(1),
      completed_at: minute(4),
      cancelled_at: null,
    });
    expect(results[0].stats).toEqual({ orders_count: 1, total_spent: 7_800, first_order_at: minute(0), last_order_at: minute(0), currency: "CNY" });
  });

  it("takes each optional field from the latest event that carries it: a lean payment notice blanks nothing, in any order", async () => {
    const id = uniqueId("o");
    const history = [
      anOrderEvent("order.placed", id, minute(0)), // lines, subtotal, discount, shipping, store
      aLeanOrderEvent("order.paid", id, minute(1), { total: 9_800 }), // only what was paid
      aLeanOrderEvent("order.completed", id, minute(2), { total: 9_800, items: [{ sku: "TEA-1", title: "龙井茶 250g", quantity: 2, unitPrice: 4_900 }] }),
    ];
    const permutations = permute(history);
    const customers = await newCustomers(permutations.length * 2);
    const rows: Row[] = [];
    for (const [k, events] of permutations.entries()) {
      for (const [split, batches] of [events.map((e) => [e]), [events]].entries()) {
        const channel = `lean-${k}-${split}`;
        for (const b of batches) await apply(b.map((e) => item(e, customers[k * 2 + split], channel)));
        rows.push({ ...(await orderRow(id, channel)), id: undefined, channel: undefined, customer_id: undefined, updated_at: undefined });
      }
    }
    for (const r of rows) expect(r).toEqual(rows[0]);
    expect(rows[0]).toMatchObject({
      status: "COMPLETED",
      total: 9_800, // the latest event's
      subtotal: 10_500, // only order.placed had these: kept
      discount: 500,
      shipping: 0,
      store_id: "store-hz-1",
      items: [{ sku: "TEA-1", title: "龙井茶 250g", category: null, quantity: "2", unit: null, unitPrice: 4_900, discount: null }], // the latest lines
    });
  });

  it("counts an order paid and then cancelled until its refund arrives, as the issue defines ordersCount (paid, not fully refunded)", async () => {
    const [c] = await newCustomers(1);
    const id = uniqueId("o");
    await apply([item(anOrderEvent("order.paid", id, minute(0)), c)]);
    expect(await apply([item(aLeanOrderEvent("order.cancelled", id, minute(5)), c)])).toEqual([]);
    expect(await orderRow(id)).toMatchObject({ status: "CANCELLED", refunded: 0 });
    expect(await statsRow(c)).toMatchObject({ orders_count: 1, total_spent: 10_000 });
    expect(await apply([item(aRefundEvent(id, "rf-close", 10_000, minute(6)), c)])).toEqual([c]);
    expect(await statsRow(c)).toBeNull();
    expect(await storedStats([c])).toEqual([zeros(c)]);
  });

  it("breaks ties between events at the same instant the same way in a batch and across batches", async () => {
    const [c] = await newCustomers(1);
    const id = uniqueId("o");
    const placed = anOrderEvent("order.placed", id, minute(0), { total: 9_000 });
    const paid = anOrderEvent("order.paid", id, minute(0), { total: 9_500 }); // same instant: the later stage wins
    const paidAgainA = anOrderEvent("order.paid", id, minute(1), { total: 1_000 }, "evt-a");
    const paidAgainB = anOrderEvent("order.paid", id, minute(1), { total: 2_000 }, "evt-b"); // same stage too: the greater event id wins
    const orders = [
      [[placed, paid]],
      [[paid], [placed]],
      [[placed], [paid]],
    ];
    const totals: number[] = [];
    for (const [n, batches] of orders.entries()) {
      for (const b of batches) await apply(b.map((e) => item(e, c, `tie-${n}`)));
      totals.push((await orderRow(id, `tie-${n}`))!.total);
    }
    expect(totals).toEqual([9_500, 9_500, 9_500]);

    for (const [n, batches] of [[[paidAgainA, paidAgainB]], [[paidAgainB], [paidAgainA]], [[paidAgainA], [paidAgainB]]].entries()) {
      for (const b of batches) await apply(b.map((e) => item(e, c, `tie-${n}`)));
      expect((await orderRow(id, `tie-${n}`))!.total).toBe(2_000);
    }
  });

  it("changes nothing when the same events are applied again", async () => {
    const [c] = await newCustomers(1);
    const id = uniqueId("o");
    const batch = [
      item(anOrderEvent("order.paid", id, minute(0)), c),
      item(aRefundEvent(id, "rf-1", 1_000, minute(1)), c),
    ];
    expect(await apply(batch)).toEqual([c]);
    const before = await orderRow(id);
    expect(await apply(batch)).toEqual([]);
    expect(await orderRow(id)).toEqual(before); // updated_at included: a replay is not an update
    expect(before).toMatchObject({ refunded: 1_000 });
  });

  it("keeps the first customer an order was seen with", async () => {
    const [first, later] = await newCustomers(2);
    const id = uniqueId("o");
    await apply([item(aRefundEvent(id, "rf-1", 100, minute(5)), null)]);
    expect(await orderRow(id)).toMatchObject({ customer_id: null });
    await apply([item(anOrderEvent("order.paid", id, minute(1)), first)]);
    expect(await apply([item(anOrderEvent("order.completed", id, minute(9)), later)])).toEqual([]);
    expect(await orderRow(id)).toMatchObject({ customer_id: first, status: "COMPLETED" });
    expect(await statsRow(first)).toMatchObject({ orders_count: 1, total_spent: 9_900 });
    expect(await statsRow(later)).toBeNull();
  });

  it("counts only orders in the tenant's currency, and keeps tenants apart", async () => {
    const [{ id: usdTenant }] = await app.db.dataSource.query(`INSERT INTO tenants (name, settings) VALUES ($1, '{"currency": "USD"}') RETURNING id`, [uniqueId("usd-shop")]);
    const usd = ctxFor(usdTenant);
    const [c] = await newCustomers(1, usdTenant);
    const sameKey = uniqueId("o");
    const other = uniqueId("o");
    await apply([item(anOrderEvent("order.paid", sameKey, minute(0), { currency: "CNY", total: 5_000 }), c), item(anOrderEvent("order.paid", other, minute(3), { currency: "USD", total: 700 }), c)], usd);
    expect(await statsRow(c)).toEqual({ orders_count: 1, total_spent: 700, first_order_at: minute(3), last_order_at: minute(3), currency: "USD" });
    expect(await storedStats([c], usdTenant)).toEqual([{ customer_id: c, orders_count: 1, total_spent: "700", first_order_at: minute(3), last_order_at: minute(3) }]);

    // The same channel order id in the default tenant is another order.
    const [d] = await newCustomers(1);
    await apply([item(anOrderEvent("order.paid", sameKey, minute(0), { total: 1_234 }), d)]);
    expect(await orderRow(sameKey, "youzan", usdTenant)).toMatchObject({ total: 5_000, customer_id: c });
    expect(await orderRow(sameKey)).toMatchObject({ total: 1_234, customer_id: d });
  });

  it("sends as many SQL statements for 200 events as for 5", async () => {
    const customers = await newCustomers(20);
    const small: OrderEventItem[] = [];
    for (const id of [uniqueId("o"), uniqueId("o")]) {
      small.push(item(anOrderEvent("order.placed", id, minute(0)), customers[0]), item(anOrderEvent("order.paid", id, minute(1)), customers[0]));
    }
    small.push(item(aRefundEvent(small[0].event.payload.orderId, "rf-1", 500, minute(2)), customers[0]));
    const large: OrderEventItem[] = [];
    for (let n = 0; n < 50; n++) {
      const id = uniqueId("o");
      const c = customers[n % customers.length];
      large.push(
        item(anOrderEvent("order.placed", id, minute(n)), c),
        item(anOrderEvent("order.paid", id, minute(n + 1)), c),
        item(aRefundEvent(id, "rf-1", 500 + n, minute(n + 2), [{ sku: "TEA-1", quantity: 1, amount: 500 + n }]), c),
        item(anOrderEvent("order.completed", id, minute(n + 3)), c),
      );
    }
    expect(small).toHaveLength(5);
    expect(large).toHaveLength(200);
    // The outbox dispatches each commit's events right after it: let it finish before counting the next.
    const statements = async (items: OrderEventItem[]) => {
      await app.outbox.idle();
      return inTransaction(ctx, async (tx) => {
        const before = app.db.sql.statements;
        const changed = await app.orders.applyEvents(tx, items);
        return { statements: app.db.sql.statements - before, changed: changed.statsChanged.length };
      });
    };
    const a = await statements(small);
    const b = await statements(large);
    expect(a.changed).toBe(1);
    expect(b.changed).toBe(20);
    expect(b.statements).toBe(a.statements);
    expect(a.statements).toBeLessThanOrEqual(4); // order-key locks, orders + refunds, stats lock, stats
    // The same events folded one at a time in TypeScript (the model below), not by the service's SQL.
    const model = new Model();
    model.apply(small);
    model.apply(large);
    const sorted = [...customers].sort();
    expect(await storedStats(sorted)).toEqual(model.stats(sorted, "CNY"));
  });

  it("keeps stats equal to a recomputation from the orders, and orders equal to a one-event-at-a-time model, for random histories", async () => {
    const kinds = ["order.placed", "order.paid", "order.cancelled", "order.completed", "order.refunded"] as const;
    const anEvent = fc.record({
      order: fc.integer({ min: 0, max: 3 }),
      kind: fc.constantFrom(...kinds),
      minute: fc.integer({ min: 0, max: 4 }), // few instants, so ties happen
      total: fc.integer({ min: 0, max: 20_000 }),
      currency: fc.constantFrom("CNY", "CNY", "USD"),
      refundId: fc.constantFrom("rf-1", "rf-2", "rf-3"),
      amount: fc.integer({ min: 0, max: 12_000 }),
      resolved: fc.boolean(),
      lean: fc.boolean(), // a notice without the optional fields
      subtotal: fc.integer({ min: 0, max: 30_000 }),
    });
    const aHistory = fc.record({ events: fc.array(anEvent, { minLength: 1, maxLength: 25 }), cuts: fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }) });

    await fc.assert(
      fc.asyncProperty(aHistory, async ({ events, cuts }) => {
        const channel = uniqueId("random");
        const customers = await newCustomers(3);
        const customerOf = (order: number) => (order < 3 ? customers[order] : null); // order 3 never finds its buyer
        const model = new Model();
        let batch: { item: OrderEventItem; order: number }[] = [];
        for (const [i, e] of events.entries()) {
          const orderId = `o${e.order}`;
          const at = minute(e.minute);
          const externalId = `e${i}`;
          const event =
            e.kind === "order.refunded"
              ? aRefundEvent(orderId, e.refundId, e.amount, at, undefined, externalId)
              : e.lean
                ? aLeanOrderEvent(e.kind, orderId, at, { total: e.total, currency: e.currency }, externalId)
                : anOrderEvent(e.kind, orderId, at, { total: e.total, currency: e.currency, subtotal: e.subtotal, items: [{ sku: `S${e.subtotal % 5}`, quantity: 1, unitPrice: e.subtotal }] }, externalId);
          batch.push({ item: item(event, e.resolved ? customerOf(e.order) : null, channel), order: e.order });
          if (i === events.length - 1 || cuts[i]) {
            const before = await storedStats(customers);
            const changed = await apply(batch.map((b) => b.item));
            const after = await storedStats(customers);
            // What applyEvents reports is exactly whose stats changed.
            const differ = after.filter((row, n) => JSON.stringify(row) !== JSON.stringify(before[n])).map((row) => row.customer_id);
            expect(changed).toEqual(differ.sort());
            model.apply(batch.map((b) => b.item));
            batch = [];
          }
        }
        const sorted = [...customers].sort();
        expect(await storedStats(sorted)).toEqual(model.stats(sorted, "CNY"));
        const rows: Row[] = await app.db.dataSource.query(
          `SELECT external_order_id, customer_id, currency, total::float8 AS total, subtotal::float8 AS subtotal, items, refunded::float8 AS refunded, placed_at, paid_at, cancelled_at, completed_at, status,
                  (SELECT coalesce(sum(amount), 0)::float8 FROM order_refunds r WHERE r.tenant_id = o.tenant_id AND r.channel = o.channel AND r.external_order_id = o.external_order_id) AS refunds_sum
             FROM orders o WHERE tenant_id = $1 AND channel = $2 ORDER BY external_order_id`,
          [tenantId, channel],
        );
        expect(rows.map((r) => ({ ...normalizeDates(r), refunds_sum: undefined }))).toEqual(model.rows());
        for (const r of rows) expect(r.refunded).toBe(r.refunds_sum);
      }),
      { numRuns: 25 },
    );
  });
});

describe("erasing a customer", () => {
  it("keeps their orders without them and drops their stats", async () => {
    const [c] = await newCustomers(1);
    const id = uniqueId("o");
    await apply([item(anOrderEvent("order.paid", id, minute(0)), c)]);
    expect(await statsRow(c)).toMatchObject({ orders_count: 1 });
    const erased = await app.customers.delete(ctx, toGlobalId("Customer", c));
    expect(erased.ok).toBe(true);
    expect(await orderRow(id)).toMatchObject({ customer_id: null, status: "PAID", total: 10_000 });
    expect(await statsRow(c)).toBeNull();
  });
});

describe("OrdersService merge hooks", () => {
  it("moves a customer's orders to another and back, exactly those orders", async () => {
    const [a, b] = await newCustomers(2);
    const [o1, o2, o3] = [uniqueId("o"), uniqueId("o"), uniqueId("o")];
    await apply([
      item(anOrderEvent("order.paid", o1, minute(0), { total: 1_000 }), a),
      item(anOrderEvent("order.paid", o2, minute(1), { total: 2_000 }), a),
      item(anOrderEvent("order.paid", o3, minute(2), { total: 4_000 }), b),
    ]);
    const idOf = async (o: string) => (await orderRow(o))!.id;
    const moved = await inTransaction(ctx, async (tx) => {
      const ids = await app.orders.moveOrders(tx, a, b);
      await app.orders.refreshStats(tx, [a, b]);
      return ids;
    });
    expect([...moved].sort()).toEqual([await idOf(o1), await idOf(o2)].sort());
    expect(await statsRow(a)).toBeNull();
    expect(await statsRow(b)).toMatchObject({ orders_count: 3, total_spent: 7_000, first_order_at: minute(0), last_order_at: minute(2) });

    // A late event resolved to the old customer does not take the order back.
    await apply([item(anOrderEvent("order.completed", o1, minute(9), { total: 1_000 }), a)]);
    expect(await orderRow(o1)).toMatchObject({ customer_id: b });

    await inTransaction(ctx, async (tx) => {
      await app.orders.restoreOrders(tx, moved, a);
      await app.orders.refreshStats(tx, [a, b]);
    });
    expect((await Promise.all([o1, o2, o3].map((o) => orderRow(o)))).map((r) => r!.customer_id)).toEqual([a, a, b]);
    expect(await statsRow(a)).toMatchObject({ orders_count: 2, total_spent: 3_000 });
    expect(await statsRow(b)).toMatchObject({ orders_count: 1, total_spent: 4_000 });
    expect(await storedStats([a, b].sort())).toEqual(
      [
        { customer_id: a, orders_count: 2, total_spent: "3000", first_order_at: minute(0), last_order_at: minute(1) },
        { customer_id: b, orders_count: 1, total_spent: "4000", first_order_at: minute(2), last_order_at: minute(2) },
      ].sort((x, y) => (x.customer_id < y.customer_id ? -1 : 1)),
    );
  });

  it("is registered with the customers' merges: orders and stats follow a merge and its undoing", async () => {
    const [target, source] = await newCustomers(2);
    const [o1, o2] = [uniqueId("o"), uniqueId("o")];
    await apply([item(anOrderEvent("order.paid", o1, minute(0), { total: 1_000 }), target), item(anOrderEvent("order.paid", o2, minute(1), { total: 2_000 }), source)]);
    const merge = await inTransaction(ctx, (tx) => app.customers.merges.merge(tx, target, source, { reason: "manual" }, {}));
    if (!merge.ok) throw new Error(JSON.stringify(merge.errors));
    expect(await orderRow(o2)).toMatchObject({ customer_id: target });
    expect(await statsRow(target)).toMatchObject({ orders_count: 2, total_spent: 3_000 });
    expect(await statsRow(source)).toBeNull();

    const undone = await inTransaction(ctx, (tx) => app.customers.merges.unmerge(tx, merge.value.id));
    if (!undone.ok) throw new Error(JSON.stringify(undone.errors));
    expect(await orderRow(o2)).toMatchObject({ customer_id: source });
    expect(await statsRow(target)).toMatchObject({ orders_count: 1, total_spent: 1_000 });
    expect(await statsRow(source)).toMatchObject({ orders_count: 1, total_spent: 2_000 });
  });
});

function permute<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permute([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

function normalizeDates(r: Row): Row {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k.endsWith("_at") && v != null ? new Date(v).toISOString() : v]));
}

const RANK: Record<OrderEvent["type"], number> = { "order.placed": 1, "order.paid": 2, "order.cancelled": 3, "order.completed": 4, "order.refunded": 5 };
const TIME = { "order.placed": "placed_at", "order.paid": "paid_at", "order.cancelled": "cancelled_at", "order.completed": "completed_at" } as const;
type Stamp = [number, number, string];
const later = (a: Stamp, b: Stamp) => a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
const stampOf = (e: OrderEvent): Stamp => [Date.parse(e.occurredAt), RANK[e.type], e.externalId];

/**
 * What the orders should be, applying each batch's events one at a time: the latest event's amounts,
 * each state's earliest time, a refund id's first occurrence, and the customer of the first batch
 * that knew one (within a batch, the earliest event's).
 */
class Model {
  private orders = new Map<
    string,
    {
      customer: string | null;
      amounts: { stamp: Stamp; currency: string; total: number } | null;
      subtotal: { stamp: Stamp; value: number } | null;
      items: { stamp: Stamp; value: { sku: string; unitPrice: number }[] } | null;
      times: Record<string, number | null>;
      refunds: Map<string, number>;
    }
  >();

  apply(batch: OrderEventItem[]): void {
    const byStamp = [...batch].sort((x, y) => later(stampOf(x.event), stampOf(y.event)));
    for (const { event, customerId } of byStamp) {
      const id = event.payload.orderId;
      let o = this.orders.get(id);
      if (!o) {
        o = { customer: null, amounts: null, subtotal: null, items: null, times: { placed_at: null, paid_at: null, cancelled_at: null, completed_at: null }, refunds: new Map() };
        this.orders.set(id, o);
      }
      if (!o.customer && customerId) o.customer = customerId; // events go in time order: the batch's earliest
      const stamp = stampOf(event);
      if (event.type === "order.refunded") {
        if (!o.refunds.has(event.payload.refundId)) o.refunds.set(event.payload.refundId, event.payload.amount);
        continue;
      }
      const t = TIME[event.type];
      if (o.times[t] === null || stamp[0] < o.times[t]!) o.times[t] = stamp[0];
      if (!o.amounts || later(stamp, o.amounts.stamp) > 0) o.amounts = { stamp, currency: event.payload.currency, total: event.payload.total };
      // Optional fields: each from the latest event that carries it.
      const p = event.payload;
      if (p.subtotal !== undefined && (!o.subtotal || later(stamp, o.subtotal.stamp) > 0)) o.subtotal = { stamp, value: p.subtotal };
      if (p.items !== undefined && (!o.items || later(stamp, o.items.stamp) > 0)) o.items = { stamp, value: p.items.map((i) => ({ sku: i.sku, unitPrice: i.unitPrice })) };
    }
  }

  /**
   * Each customer's stats by the documented definition, folded over the model's orders: counted orders are paid or
   * completed, in `currency` and not fully refunded; spent is net of refunds; first and last by when each order was
   * placed (or paid, or completed). In key order, zeros for a customer without one — as `storedStats` reads them.
   */
  stats(customerIds: string[], currency: string): Row[] {
    const counted = this.rows().filter((o) => (o.paid_at !== null || o.completed_at !== null) && o.refunded < o.total && o.currency === currency);
    return customerIds.map((id) => {
      const mine = counted.filter((o) => o.customer_id === id);
      if (!mine.length) return zeros(id);
      const when = mine.map((o) => (o.placed_at ?? o.paid_at ?? o.completed_at) as string).sort();
      return {
        customer_id: id,
        orders_count: mine.length,
        total_spent: String(mine.reduce((sum, o) => sum + o.total - o.refunded, 0)),
        first_order_at: when[0],
        last_order_at: when[when.length - 1],
      };
    });
  }

  rows(): Row[] {
    return [...this.orders.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, o]) => {
        const total = o.amounts?.total ?? 0;
        const refunded = [...o.refunds.values()].reduce((s, v) => s + v, 0);
        const t = o.times;
        const status =
          (t.paid_at !== null || t.completed_at !== null) && total > 0 && refunded >= total
            ? "REFUNDED"
            : t.completed_at !== null
              ? "COMPLETED"
              : t.cancelled_at !== null
                ? "CANCELLED"
                : t.paid_at !== null
                  ? "PAID"
                  : t.placed_at !== null
                    ? "PLACED"
                    : "PENDING";
        const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
        return {
          external_order_id: id,
          customer_id: o.customer,
          currency: o.amounts?.currency ?? null,
          total,
          subtotal: o.subtotal?.value ?? null,
          items: (o.items?.value ?? []).map((i) => ({ sku: i.sku, title: null, category: null, quantity: "1", unit: null, unitPrice: i.unitPrice, discount: null })),
          refunded,
          placed_at: iso(t.placed_at),
          paid_at: iso(t.paid_at),
          cancelled_at: iso(t.cancelled_at),
          completed_at: iso(t.completed_at),
          status,
          refunds_sum: undefined,
        };
      });
  }
}
