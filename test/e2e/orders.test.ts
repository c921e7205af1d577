import type { Ctx } from "../../src/core/context";
import { localId, toGlobalId } from "../../src/core/global-id";
import { inTransaction } from "../../src/core/transaction";
import type { OrderEventItem } from "../../src/modules/orders/service";
import type { OrderEvent } from "../../src/plugins/events";
import { aCustomer, createCustomer } from "../fixtures/customers";
import { anOrderEvent, aRefundEvent, minute } from "../fixtures/orders";
import { silentLog } from "../helpers/database";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
let key: string; // a tenant of its own, so counts are exact
let customers: { id: string; local: string }[];

/** What was seeded, sorted newest first once seeding is done. `at`: minutes after minute(0) it was placed. */
interface Seeded {
  externalId: string;
  channel: string;
  customer: number | null;
  status: string;
  at: number | null;
}
const seeded: Seeded[] = [];

function seedOrder(externalId: string, channel: string, customer: number | null, at: number | null, events: (id: string) => OrderEvent[], status: string) {
  seeded.push({ externalId, channel, customer, status, at });
  return events(externalId).map((event) => ({ channel, event, customerId: customer === null ? null : customers[customer].local }));
}

beforeAll(async () => {
  t = await createTestServer();
  let tenantId: string;
  ({ key, tenantId } = await createTenant(t, "orders-tenant"));
  customers = [];
  for (let i = 0; i < 55; i++) {
    const c = await createCustomer(t, aCustomer(), key);
    customers.push({ id: c.id, local: localId(c.id, "Customer")! });
  }
  const items: OrderEventItem[] = [
    ...seedOrder("yz-1001", "youzan", 0, 1, (id) => [anOrderEvent("order.placed", id, minute(1)), anOrderEvent("order.paid", id, minute(2))], "PAID"),
    ...seedOrder(
      "yz-1002",
      "youzan",
      0,
      3,
      (id) => [
        anOrderEvent("order.placed", id, minute(3)),
        anOrderEvent("order.paid", id, minute(4)),
        anOrderEvent("order.completed", id, minute(60)),
        aRefundEvent(id, "rf-1", 4_000, minute(61), [{ sku: "TEA-1", quantity: 1, amount: 4_000 }]),
      ],
      "COMPLETED",
    ),
    ...seedOrder("pos-1", "pos", 0, 5, (id) => [anOrderEvent("order.placed", id, minute(5), { total: 3_000, items: [] })], "PLACED"),
    ...seedOrder(
      "yz-1003",
      "youzan",
      0,
      7,
      (id) => [anOrderEvent("order.placed", id, minute(7)), anOrderEvent("order.paid", id, minute(8)), aRefundEvent(id, "rf-1", 10_000, minute(9))],
      "REFUNDED",
    ),
    ...seedOrder("pos-2", "pos", 1, 10, (id) => [anOrderEvent("order.placed", id, minute(10), { total: 2_000 }), anOrderEvent("order.paid", id, minute(10), { total: 2_000 })], "PAID"),
    ...seedOrder("pos-3", "pos", 1, 11, (id) => [anOrderEvent("order.placed", id, minute(11), { total: 5_000 }), anOrderEvent("order.cancelled", id, minute(12), { total: 5_000 })], "CANCELLED"),
    ...seedOrder("pos-4", "pos", null, 13, (id) => [anOrderEvent("order.placed", id, minute(13))], "PLACED"),
  ];
  for (let n = 0; n < 9; n++) {
    items.push(...seedOrder(`pos-${100 + n}`, "pos", 1, 80 + n, (id) => [anOrderEvent("order.placed", id, minute(80 + n), { total: 1_000 })], "PLACED"));
  }
  // Customer 2 has no orders; customers 3… have one each.
  for (let c = 3; c < customers.length; c++) {
    items.push(...seedOrder(`yz-${2000 + c}`, "youzan", c, 20 + c, (id) => [anOrderEvent("order.placed", id, minute(20 + c)), anOrderEvent("order.paid", id, minute(21 + c))], "PAID"));
  }
  // Never reported as placed: listed by when we first saw it.
  items.push(...seedOrder("yz-paid-only", "youzan", 1, null, (id) => [anOrderEvent("order.paid", id, minute(100))], "PAID"));

  const app = t.server.app;
  const ctx: Ctx = { requestId: "seed", principal: { kind: "system", tenantId: localId(tenantId, "Tenant")!, actor: "test" }, app, log: silentLog };
  await inTransaction(ctx, (tx) => app.orders.applyEvents(tx, items));
  // The paid-only order sorts by its creation time, in minutes after minute(0) like the others.
  const [row] = await app.db.dataSource.query(`SELECT created_at FROM orders WHERE external_order_id = 'yz-paid-only'`);
  seeded.find((s) => s.at === null)!.at = (new Date(row.created_at).getTime() - Date.parse(minute(0))) / 60_000;
  seeded.sort((a, b) => b.at! - a.at!);
});
afterAll(() => t?.close());

const LIST = `query($first: Int, $after: String, $last: Int, $before: String, $filter: OrderFilter) {
  orders(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount
    edges { cursor node { id externalId channel status } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

async function list(vars: Record<string, unknown>, as = key) {
  const r = await t.gql(LIST, vars, as);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data.orders;
}

async function all(filter: Record<string, unknown>): Promise<string[]> {
  const c = await list({ first: 250, filter });
  expect(c.totalCount).toBe(c.edges.length);
  return c.edges.map((e: any) => e.node.externalId);
}

const ids = (xs: Seeded[]) => xs.map((s) => s.externalId);

async function globalIdOf(externalId: string): Promise<string> {
  const [row] = await t.server.app.db.dataSource.query(`SELECT id FROM orders WHERE external_order_id = $1`, [externalId]);
  return toGlobalId("Order", row.id);
}

describe("orders connection", () => {
  it("sorts by total or by placement in either direction when asked, paging each order once", async () => {
    const Q = `query($orderBy: OrderOrder, $after: String) { orders(first: 7, after: $after, orderBy: $orderBy) {
      nodes { id total placedAt createdAt } pageInfo { hasNextPage endCursor } } }`;
    const all = async (orderBy: Record<string, unknown>) => {
      const out: { id: string; total: number; placedAt: string | null; createdAt: string }[] = [];
      let after: string | null = null;
      for (;;) {
        const r: any = await t.gql(Q, { orderBy, after }, key);
        if (r.errors) throw new Error(JSON.stringify(r.errors));
        out.push(...r.data.orders.nodes);
        if (!r.data.orders.pageInfo.hasNextPage) return out;
        after = r.data.orders.pageInfo.endCursor;
      }
    };
    const byTotal = await all({ field: "TOTAL", direction: "ASC" });
    expect(byTotal).toHaveLength(seeded.length);
    // The reference order, computed here: total, then the local id (the tie-breaker, a uuid), both ascending.
    const uuid = (o: { id: string }) => localId(o.id, "Order")!;
    const expected = [...byTotal].sort((a, b) => a.total - b.total || (uuid(a) < uuid(b) ? -1 : uuid(a) > uuid(b) ? 1 : 0));
    expect(byTotal.map((o) => o.id)).toEqual(expected.map((o) => o.id));
    const desc = await all({ field: "TOTAL", direction: "DESC" });
    expect(desc.map((o) => o.id)).toEqual([...expected].reverse().map((o) => o.id));
    const oldest = await all({ field: "PLACED_AT", direction: "ASC" });
    const newest = await all({});
    expect(oldest.map((o) => o.id)).toEqual([...newest].reverse().map((o) => o.id));
    const placed = (o: { placedAt: string | null; createdAt: string }) => Date.parse(o.placedAt ?? o.createdAt);
    for (let i = 1; i < oldest.length; i++) expect(placed(oldest[i])).toBeGreaterThanOrEqual(placed(oldest[i - 1]));
  });

  it("pages forward through every order exactly once, newest first, and backward in the same order", async () => {
    const forward: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const c: any = await list({ first: 7, after });
      expect(c.totalCount).toBe(seeded.length);
      forward.push(...c.edges.map((e: any) => e.node.externalId));
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    expect(forward).toEqual(ids(seeded));

    const backward: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 20; page++) {
      const c: any = await list({ last: 7, before });
      backward.unshift(...c.edges.map((e: any) => e.node.externalId));
      if (!c.pageInfo.hasPreviousPage) break;
      before = c.pageInfo.startCursor;
    }
    expect(backward).toEqual(ids(seeded));
  });

  it("filters by customer, status, channel and placed time, together or alone", async () => {
    expect(await all({ customerId: customers[0].id })).toEqual(ids(seeded.filter((s) => s.customer === 0)));
    expect(await all({ customerId: customers[2].id })).toEqual([]);
    for (const status of ["PLACED", "PAID", "CANCELLED", "COMPLETED", "REFUNDED"]) {
      expect(await all({ status })).toEqual(ids(seeded.filter((s) => s.status === status)));
    }
    expect(await all({ channel: "pos" })).toEqual(ids(seeded.filter((s) => s.channel === "pos")));
    expect(await all({ placedAfter: minute(5), placedBefore: minute(11) })).toEqual(ids(seeded.filter((s) => s.at! >= 5 && s.at! < 11)));
    expect(await all({ customerId: customers[1].id, status: "PAID", channel: "pos" })).toEqual(["pos-2"]);
    const bad = await t.gql(LIST, { first: 1, filter: { customerId: await globalIdOf("pos-1") } }, key);
    expect(bad.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("refuses more than 250 per page", async () => {
    const r = await t.gql(LIST, { first: 251 }, key);
    expect(r.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("order(id) and node(id)", () => {
  const ORDER = `query($id: ID!) { order(id: $id) {
    id channel externalId storeId status currency subtotal discount shipping total refunded
    items { sku title category quantity unitPrice discount refundedQuantity }
    placedAt paidAt cancelledAt completedAt createdAt updatedAt
    customer { id }
  } }`;

  it("returns an order with its lines, refunded quantities and customer", async () => {
    const id = await globalIdOf("yz-1002");
    const r = await t.gql(ORDER, { id }, key);
    expect(r.errors).toBeUndefined();
    expect(r.data.order).toMatchObject({
      id,
      channel: "youzan",
      externalId: "yz-1002",
      storeId: "store-hz-1",
      status: "COMPLETED",
      currency: "CNY",
      subtotal: 10_500,
      discount: 500,
      shipping: 0,
      total: 10_000,
      refunded: 4_000,
      placedAt: minute(3),
      paidAt: minute(4),
      cancelledAt: null,
      completedAt: minute(60),
      customer: { id: customers[0].id },
    });
    expect(r.data.order.items).toEqual([
      { sku: "TEA-1", title: "龙井茶 250g", category: "茶叶", quantity: "2", unitPrice: 4_000, discount: null, refundedQuantity: "1" },
      { sku: "CUP-1", title: "茶杯", category: "器具", quantity: "1", unitPrice: 2_500, discount: 500, refundedQuantity: "0" },
    ]);
    const noBuyer = await t.gql(ORDER, { id: await globalIdOf("pos-4") }, key);
    expect(noBuyer.data.order.customer).toBeNull();
  });

  it("answers null for ids that are not orders of the tenant, and finds orders through node(id)", async () => {
    expect((await t.gql(ORDER, { id: customers[0].id }, key)).data.order).toBeNull();
    expect((await t.gql(ORDER, { id: toGlobalId("Order", "00000000-0000-4000-8000-000000000000") }, key)).data.order).toBeNull();
    const id = await globalIdOf("yz-1003");
    const node = await t.gql(`query($id: ID!) { node(id: $id) { id __typename ... on Order { externalId status refunded } } }`, { id }, key);
    expect(node.data.node).toEqual({ id, __typename: "Order", externalId: "yz-1003", status: "REFUNDED", refunded: 10_000 });
  });
});

describe("Customer.orders and Customer.stats", () => {
  const Q = `query($id: ID!, $n: Int) { customer(id: $id) {
    orders(first: $n) { totalCount nodes { externalId } }
    all: orders(first: 250) { nodes { externalId } }
    stats { ordersCount totalSpent averageOrderValue firstOrderAt lastOrderAt currency }
  } }`;

  it("lists the customer's newest orders and what they bought", async () => {
    const r = await t.gql(Q, { id: customers[0].id, n: 2 }, key);
    expect(r.errors).toBeUndefined();
    const mine = ids(seeded.filter((s) => s.customer === 0));
    expect(r.data.customer.orders.nodes.map((o: any) => o.externalId)).toEqual(mine.slice(0, 2));
    expect(r.data.customer.orders.totalCount).toBe(mine.length);
    expect(r.data.customer.all.nodes.map((o: any) => o.externalId)).toEqual(mine);
    // Counted: yz-1001 (10 000) and yz-1002 (10 000 − 4 000). Placed-only and fully refunded orders are not.
    expect(r.data.customer.stats).toEqual({
      ordersCount: 2,
      totalSpent: 16_000,
      averageOrderValue: 8_000,
      firstOrderAt: minute(1),
      lastOrderAt: minute(3),
      currency: "CNY",
    });
  });

  it("gives zeros and no orders for a customer who bought nothing", async () => {
    const r = await t.gql(Q, { id: customers[2].id }, key);
    expect(r.data.customer).toEqual({
      orders: { totalCount: 0, nodes: [] },
      all: { nodes: [] },
      stats: { ordersCount: 0, totalSpent: 0, averageOrderValue: 0, firstOrderAt: null, lastOrderAt: null, currency: "CNY" },
    });
  });

  it("returns ten orders unless asked for another number, at most 250", async () => {
    const r = await t.gql(Q, { id: customers[1].id }, key);
    const mine = ids(seeded.filter((s) => s.customer === 1));
    expect(mine.length).toBeGreaterThan(10);
    expect(r.data.customer.orders.nodes.map((o: any) => o.externalId)).toEqual(mine.slice(0, 10));
    expect(r.data.customer.all.nodes.map((o: any) => o.externalId)).toEqual(mine);
    const tooMany = await t.gql(Q, { id: customers[0].id, n: 251 }, key);
    expect(tooMany.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("pages through a customer's orders with cursors, both ways, as the orders list does", async () => {
    const mine = ids(seeded.filter((s) => s.customer === 1));
    const page = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { customer(id: $id) {
      orders(first: $first, after: $after, last: $last, before: $before) { totalCount nodes { externalId } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r: any = await t.gql(page, { id: customers[1].id, first: 4, after }, key);
      expect(r.errors).toBeUndefined();
      const o = r.data.customer.orders;
      expect(o.totalCount).toBe(mine.length);
      seen.push(...o.nodes.map((n: { externalId: string }) => n.externalId));
      if (!o.pageInfo.hasNextPage) break;
      after = o.pageInfo.endCursor;
    }
    expect(seen).toEqual(mine);
    const last = await t.gql(page, { id: customers[1].id, last: 3 }, key);
    expect(last.data.customer.orders.nodes.map((n: { externalId: string }) => n.externalId)).toEqual(mine.slice(-3));
    expect(last.data.customer.orders.pageInfo.hasPreviousPage).toBe(true);
    const before = await t.gql(page, { id: customers[1].id, last: 2, before: last.data.customer.orders.pageInfo.startCursor }, key);
    expect(before.data.customer.orders.nodes.map((n: { externalId: string }) => n.externalId)).toEqual(mine.slice(-5, -3));
  });

  it("sends as many SQL statements for 50 customers with orders and stats as for 5", async () => {
    const q = `query($n: Int) { customers(first: $n) { nodes { id orders { totalCount nodes { id status } pageInfo { hasNextPage } } stats { ordersCount } } } }`;
    const small = await t.countStatements(() => t.gql(q, { n: 5 }, key));
    const large = await t.countStatements(() => t.gql(q, { n: 50 }, key));
    expect(large).toBe(small);
    expect(small).toBeLessThanOrEqual(5); // auth, page, orders, order counts, stats
    const r = await t.gql(q, { n: 50 }, key);
    expect(r.data.customers.nodes).toHaveLength(50);
    expect(r.data.customers.nodes.filter((c: any) => c.orders.nodes.length === 1 && c.stats.ordersCount === 1)).toHaveLength(50);
  });

  it("reads refunds only for a page that asks for refundedQuantity", async () => {
    const q = (fields: string) => `{ orders(first: 50) { nodes { id items { ${fields} } } } }`;
    const without = await t.countStatements(() => t.gql(q("sku quantity"), {}, key));
    const withRefunds = await t.countStatements(() => t.gql(q("sku quantity refundedQuantity"), {}, key));
    expect(withRefunds).toBe(without + 1);
  });

  it("sends as many SQL statements for 50 orders with lines and customers as for 5", async () => {
    const q = `query($n: Int) { orders(first: $n) { nodes { id items { sku refundedQuantity } customer { id } } } }`;
    const small = await t.countStatements(() => t.gql(q, { n: 5 }, key));
    const large = await t.countStatements(() => t.gql(q, { n: 50 }, key));
    expect(large).toBe(small);
    expect(small).toBeLessThanOrEqual(4); // auth, page, refunds, customers
  });
});

describe("access", () => {
  it("refuses orders to a key without orders:read, and the buyer to a key without customers:read", async () => {
    const customersOnly = (await createKey(t, ["customers:read"], key)).key;
    const id = await globalIdOf("yz-1001");
    for (const q of [`{ orders(first: 1) { totalCount } }`, `{ order(id: "${id}") { id } }`, `{ customers(first: 1) { nodes { stats { ordersCount } } } }`]) {
      const r = await t.gql(q, {}, customersOnly);
      expect(r.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    }
    expect((await t.gql(`{ node(id: "${id}") { id } }`, {}, customersOnly)).data.node).toBeNull();

    const ordersOnly = (await createKey(t, ["orders:read"], key)).key;
    const ok = await t.gql(`{ order(id: "${id}") { externalId } }`, {}, ordersOnly);
    expect(ok.data.order).toEqual({ externalId: "yz-1001" });
    const buyer = await t.gql(`{ order(id: "${id}") { externalId customer { id } } }`, {}, ordersOnly);
    expect(buyer.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(buyer.data.order).toEqual({ externalId: "yz-1001", customer: null });
  });

  it("shows another tenant none of these orders", async () => {
    const other = (await createTenant(t, "orders-other-tenant")).key;
    const id = await globalIdOf("yz-1001");
    expect((await list({ first: 10 }, other)).totalCount).toBe(0);
    expect((await list({ first: 10, filter: { customerId: customers[0].id } }, other)).totalCount).toBe(0);
    expect((await t.gql(`{ order(id: "${id}") { id } }`, {}, other)).data.order).toBeNull();
    expect((await t.gql(`{ node(id: "${id}") { id } }`, {}, other)).data.node).toBeNull();
  });
});
