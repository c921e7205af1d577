import type { App } from "../../app";
import { tenantOf, type Ctx, type TxCtx } from "../../core/context";
import { lockKeys } from "../../core/locks";
import { inTransaction } from "../../core/transaction";
import { pageOf, paginate, SortDirection, type ConnectionArgs } from "../../core/pagination";
import { getManyFast } from "../../db/hydrate";
import type { MergeHook } from "../customers";
import { tenantCurrencySql } from "../tenancy";
import { In } from "typeorm";
import { CustomerStats, Order, OrderRefund } from "./entity";
import { foldOrderEvents, OPTIONAL_FIELDS, type FoldedOrder, type OrderEventItem } from "./fold-events";
import { OrderSortField, type OrderFilter, type OrderOrder } from "./inputs";

export type { OrderEventItem };


/** The list order, newest first. Must match the expression in the orders indexes (migration 1764330000000). */
const SORT_KEY = "coalesce(o.placed_at, o.created_at)";

/**
 * Sums saturate here (2^53 − 1 minor units, 90 trillion yuan): every amount an event carries is at most
 * 10^13, so only a hostile producer gets near it, and then the figure stays servable and exact below it.
 */
const MAX_SUM = String(Number.MAX_SAFE_INTEGER);


const ORDER_COLUMNS = [
  ["channel", "text"],
  ["external_order_id", "text"],
  ["customer_id", "uuid"],
  ["store_id", "text"],
  ["currency", "text"],
  ["subtotal", "bigint"],
  ["discount", "bigint"],
  ["shipping", "bigint"],
  ["total", "bigint"],
  ["items", "jsonb"],
  ["amounts_at", "timestamptz"],
  ["amounts_rank", "smallint"],
  ["amounts_event_id", "text"],
  ["field_stamps", "jsonb"],
  ["placed_at", "timestamptz"],
  ["paid_at", "timestamptz"],
  ["cancelled_at", "timestamptz"],
  ["completed_at", "timestamptz"],
] as const satisfies readonly (readonly [keyof FoldedOrder, string])[];

const AMOUNT_COLUMNS = ["currency", "total", "amounts_at", "amounts_rank", "amounts_event_id"];
const TIME_COLUMNS = ["placed_at", "paid_at", "cancelled_at", "completed_at"];

// The incoming row carries newer amounts than the stored one. `amounts_event_id` is COLLATE "C" (byte order, as the fold).
const NEWER = `(EXCLUDED.amounts_at IS NOT NULL AND (o.amounts_at IS NULL
  OR (EXCLUDED.amounts_at, EXCLUDED.amounts_rank, EXCLUDED.amounts_event_id) > (o.amounts_at, o.amounts_rank, o.amounts_event_id)))`;

/** The incoming row carries a newer value of this optional field (stamps are encoded to sort byte-wise). */
const newerField = (f: string) => `(EXCLUDED.field_stamps->>'${f}') COLLATE "C" > coalesce(o.field_stamps->>'${f}', '') COLLATE "C"`;

/** The stored stamps, with every one the incoming row beats replaced. */
const MERGED_FIELD_STAMPS = `o.field_stamps || coalesce((SELECT jsonb_object_agg(e.k, e.v) FROM jsonb_each_text(EXCLUDED.field_stamps) AS e(k, v)
                                            WHERE e.v COLLATE "C" > coalesce(o.field_stamps->>e.k, '') COLLATE "C"), '{}')`;

/**
 * One statement for a whole batch: insert its refunds (a refund id seen before is skipped), then upsert
 * each order once, merging the folded row into the stored one. `refunded` grows by the refunds this
 * statement inserted — added to the row as locked by the upsert, so concurrent batches cannot lose one.
 * Rows go in key order so two batches lock shared orders in the same order (no deadlock). Only orders
 * that changed are updated and returned.
 */
const UPSERT_SQL = `
WITH incoming AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS e(${ORDER_COLUMNS.map(([c, t]) => `${c} ${t}`).join(", ")})
), new_refunds AS (
  INSERT INTO order_refunds (tenant_id, channel, external_order_id, refund_id, amount, items, occurred_at)
  SELECT $1, r.channel, r.external_order_id, r.refund_id, r.amount, r.items, r.occurred_at
    FROM jsonb_to_recordset($3::jsonb) AS r(channel text, external_order_id text, refund_id text, amount bigint, items jsonb, occurred_at timestamptz)
   ORDER BY r.channel COLLATE "C", r.external_order_id COLLATE "C", r.refund_id COLLATE "C"
  ON CONFLICT DO NOTHING
  RETURNING channel, external_order_id, amount
), added AS (
  SELECT channel, external_order_id, sum(amount) AS amount FROM new_refunds GROUP BY channel, external_order_id
), old AS (
  -- The rows as they were (the statement's snapshot; the order-key locks taken before keep them current).
  SELECT o.id, o.paid_at, o.completed_at, o.cancelled_at, o.refunded
    FROM orders o JOIN incoming i ON o.tenant_id = $1 AND o.channel = i.channel AND o.external_order_id = i.external_order_id
), up AS (
INSERT INTO orders AS o (tenant_id, ${ORDER_COLUMNS.map(([c]) => c).join(", ")}, refunded, created_at, updated_at)
SELECT $1, ${ORDER_COLUMNS.map(([c]) => (c === "total" ? "coalesce(i.total, 0)" : c === "items" ? `coalesce(i.items, '[]')` : c === "field_stamps" ? `coalesce(i.field_stamps, '{}')` : `i.${c}`)).join(", ")},
       least(coalesce(a.amount, 0), ${MAX_SUM}), now(), now()
  FROM incoming i LEFT JOIN added a USING (channel, external_order_id)
 ORDER BY i.channel COLLATE "C", i.external_order_id COLLATE "C"
ON CONFLICT (tenant_id, channel, external_order_id) DO UPDATE SET
  customer_id = coalesce(o.customer_id, EXCLUDED.customer_id),
  ${AMOUNT_COLUMNS.map((c) => `${c} = CASE WHEN ${NEWER} THEN EXCLUDED.${c} ELSE o.${c} END`).join(",\n  ")},
  ${OPTIONAL_FIELDS.map((c) => `${c} = CASE WHEN ${newerField(c)} THEN EXCLUDED.${c} ELSE o.${c} END`).join(",\n  ")},
  field_stamps = ${MERGED_FIELD_STAMPS},
  ${TIME_COLUMNS.map((c) => `${c} = least(o.${c}, EXCLUDED.${c})`).join(",\n  ")},
  refunded = least(o.refunded + EXCLUDED.refunded, ${MAX_SUM}),
  updated_at = EXCLUDED.updated_at
WHERE ${NEWER}
   OR ${OPTIONAL_FIELDS.map(newerField).join("\n   OR ")}
   OR EXCLUDED.refunded <> 0
   OR (o.customer_id IS NULL AND EXCLUDED.customer_id IS NOT NULL)
   OR ${TIME_COLUMNS.map((c) => `least(o.${c}, EXCLUDED.${c}) IS DISTINCT FROM o.${c}`).join("\n   OR ")}
RETURNING o.id, o.customer_id, o.channel, o.external_order_id, o.status, o.currency, o.total, o.refunded, o.paid_at, o.completed_at, o.cancelled_at
)
SELECT up.id, up.customer_id, up.channel, up.external_order_id, up.status, up.currency, up.total::text AS total, up.refunded::text AS refunded,
       old.id IS NULL AS created,
       (old.id IS NULL OR (old.paid_at IS NULL AND old.completed_at IS NULL)) AND (up.paid_at IS NOT NULL OR up.completed_at IS NOT NULL) AS became_paid,
       (old.id IS NULL OR old.cancelled_at IS NULL) AND up.cancelled_at IS NOT NULL AS became_cancelled,
       coalesce(old.refunded, 0)::text AS refunded_before
  FROM up LEFT JOIN old USING (id)`;

/**
 * Recomputes stats from the orders (never incrementally, so they cannot drift), writes rows that
 * changed, deletes rows of customers left with no counted order, and returns whose stats changed.
 */
const REFRESH_STATS_SQL = `
WITH tenant AS (SELECT ${tenantCurrencySql("$1")} AS currency), -- stats count only orders in the tenant's currency
fresh AS (
  SELECT o.customer_id,
         count(*)::int AS orders_count,
         least(sum(o.total - o.refunded), ${MAX_SUM}) AS total_spent,
         min(coalesce(o.placed_at, o.paid_at, o.completed_at)) AS first_order_at,
         max(coalesce(o.placed_at, o.paid_at, o.completed_at)) AS last_order_at
    FROM orders o JOIN tenant t ON o.currency = t.currency
   WHERE o.tenant_id = $1 AND o.customer_id = ANY($2::uuid[])
     AND (o.paid_at IS NOT NULL OR o.completed_at IS NOT NULL)
     AND o.refunded < o.total
   GROUP BY o.customer_id
), upserted AS (
  INSERT INTO customer_stats AS s (customer_id, tenant_id, orders_count, total_spent, first_order_at, last_order_at, currency)
  SELECT f.customer_id, $1, f.orders_count, f.total_spent, f.first_order_at, f.last_order_at, t.currency
    FROM fresh f CROSS JOIN tenant t
   ORDER BY f.customer_id
  ON CONFLICT (customer_id, tenant_id) DO UPDATE SET
    orders_count = EXCLUDED.orders_count, total_spent = EXCLUDED.total_spent, first_order_at = EXCLUDED.first_order_at,
    last_order_at = EXCLUDED.last_order_at, currency = EXCLUDED.currency
  WHERE (s.orders_count, s.total_spent, s.first_order_at, s.last_order_at, s.currency)
        IS DISTINCT FROM (EXCLUDED.orders_count, EXCLUDED.total_spent, EXCLUDED.first_order_at, EXCLUDED.last_order_at, EXCLUDED.currency)
  RETURNING s.customer_id
), deleted AS (
  DELETE FROM customer_stats s
   WHERE s.tenant_id = $1 AND s.customer_id = ANY($2::uuid[])
     AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.customer_id = s.customer_id)
  RETURNING s.customer_id
)
SELECT customer_id::text AS id FROM upserted UNION SELECT customer_id::text FROM deleted`;

type UpsertedRow = {
  id: string;
  customer_id: string | null;
  channel: string;
  external_order_id: string;
  status: string;
  currency: string | null;
  total: string;
  refunded: string;
  created: boolean;
  became_paid: boolean;
  became_cancelled: boolean;
  refunded_before: string;
};

/** One order a batch changed: what it was and what it is now (for hooks and domain events). */
export interface OrderChange {
  id: string;
  channel: string;
  externalOrderId: string;
  customerId: string | null;
  /** The batch created the order (its first event, of any kind). */
  created: boolean;
  /** Payment (or completion) became known with this batch. */
  becamePaid: boolean;
  becameCancelled: boolean;
  status: string;
  currency: string | null;
  total: number;
  /** Sums of the order's recorded refunds before and after the batch (not capped at the total). */
  refundedBefore: number;
  refundedNow: number;
}

export interface AppliedOrders {
  orders: OrderChange[];
  /** Customers whose stats changed (already recomputed). */
  statsChanged: string[];
}

function orderChangeOf(r: UpsertedRow): OrderChange {
  return {
    id: r.id,
    channel: r.channel,
    externalOrderId: r.external_order_id,
    customerId: r.customer_id,
    created: r.created,
    becamePaid: r.became_paid,
    becameCancelled: r.became_cancelled,
    status: r.status,
    currency: r.currency,
    total: Number(r.total),
    refundedBefore: Number(r.refunded_before),
    refundedNow: Number(r.refunded),
  };
}

/** What OrdersService uses of the app, and nothing more. */
export type OrdersDeps = Pick<App, "db">;

/** Orders folded from channel events, their refunds, and the per-customer stats derived from them. */
export class OrdersService {
  constructor(private readonly app: OrdersDeps) {}

  /** Registered with the customers' merge service: orders follow a merge and go back on unmerge. */
  readonly mergeHook: MergeHook = {
    name: "orders",
    move: (tx, sourceId, targetId) => this.moveOrders(tx, sourceId, targetId),
    restore: (tx, ids, sourceId) => this.restoreOrders(tx, ids, sourceId),
    after: (tx, customerIds) => this.refreshStats(tx, customerIds),
  };

  // ---- reads ------------------------------------------------------------------------------

  /** Orders of `tenantId` by local id, in no particular order (loaders re-order). */
  byIds(tenantId: string, ids: readonly string[]): Promise<Order[]> {
    return getManyFast(this.app.db.dataSource.manager.createQueryBuilder(Order, "o").where("o.tenantId = :tenantId AND o.id = ANY(:ids)", { tenantId, ids }));
  }

  /** Keyset options of the orders lists: by SORT_KEY (newest first unless told) or by total, ties by id. */
  private keyset(args: ConnectionArgs, order?: OrderOrder | null) {
    const direction = order?.direction ?? SortDirection.DESC;
    if (order?.field === OrderSortField.TOTAL) {
      return { args, sortColumn: "o.total", idColumn: "o.id", direction, sortValue: (o: Order) => String(o.total), id: (o: Order) => o.id };
    }
    return { args, sortColumn: SORT_KEY, idColumn: "o.id", direction, sortValue: (o: Order) => (o.placedAt ?? o.createdAt).toISOString(), id: (o: Order) => o.id };
  }

  /** One page of one customer's orders, newest first, at any cursor (the first pages of many customers go through `latestOfCustomers`). */
  customerOrders(ctx: Ctx, customerId: string, args: ConnectionArgs) {
    const qb = this.app.db.dataSource.manager
      .createQueryBuilder(Order, "o")
      .where("o.tenantId = :tenantId AND o.customerId = :customerId", { tenantId: tenantOf(ctx), customerId });
    return paginate(qb, this.keyset(args));
  }

  /** How many orders each customer has, in key order. */
  async countsOf(tenantId: string, customerIds: readonly string[]): Promise<number[]> {
    const rows: { customer_id: string; n: number }[] = await this.app.db.dataSource.query(
      `SELECT customer_id, count(*)::int AS n FROM orders WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) GROUP BY customer_id`,
      [tenantId, customerIds],
    );
    const map = new Map(rows.map((r) => [r.customer_id, r.n]));
    return customerIds.map((id) => map.get(id) ?? 0);
  }

  /** The connection for a customer's first page read through `latestOfCustomers` (one more row than the page). */
  firstPageOf(rows: Order[], args: ConnectionArgs, count: () => Promise<number>) {
    return pageOf(rows, this.keyset(args), count);
  }

  /** `filter.customerId` is a local id here (the resolver reads the global one). */
  list(ctx: Ctx, filter: OrderFilter | null | undefined, order: OrderOrder | null | undefined, args: ConnectionArgs) {
    const qb = this.app.db.dataSource.manager.createQueryBuilder(Order, "o").where("o.tenantId = :tenantId", { tenantId: tenantOf(ctx) });
    if (filter?.customerId != null) qb.andWhere("o.customerId = :customerId", { customerId: filter.customerId });
    if (filter?.status) qb.andWhere("o.status = :status", { status: filter.status });
    if (filter?.channel != null) qb.andWhere("o.channel = :channel", { channel: filter.channel });
    if (filter?.placedAfter) qb.andWhere(`${SORT_KEY} >= :placedAfter`, { placedAfter: filter.placedAfter });
    if (filter?.placedBefore) qb.andWhere(`${SORT_KEY} < :placedBefore`, { placedBefore: filter.placedBefore });
    return paginate(qb, this.keyset(args, order));
  }

  /** The newest `limit` orders of each customer, in one statement whatever the number of customers. */
  latestOfCustomers(tenantId: string, customerIds: readonly string[], limit: number): Promise<Order[]> {
    const qb = this.app.db.dataSource.manager
      .createQueryBuilder(Order, "o")
      .where(
        `o.id IN (
          SELECT ranked.id FROM (
            SELECT w.id, row_number() OVER (PARTITION BY w.customer_id ORDER BY coalesce(w.placed_at, w.created_at) DESC, w.id DESC) AS n
              FROM orders w
             WHERE w.tenant_id = :tenantId AND w.customer_id = ANY(:customerIds)
          ) ranked
          WHERE ranked.n <= :limit)`,
        { tenantId, customerIds, limit },
      )
      .orderBy(SORT_KEY, "DESC")
      .addOrderBy("o.id", "DESC");
    return getManyFast(qb);
  }

  /** Stats of each customer in key order; customers without a stats row get zeros in the tenant's currency. */
  async statsOf(tenantId: string, customerIds: readonly string[]): Promise<CustomerStats[]> {
    const rows: {
      customer_id: string;
      orders_count: number | null;
      total_spent: string | null;
      first_order_at: Date | string | null;
      last_order_at: Date | string | null;
      currency: string;
    }[] = await this.app.db.dataSource.query(
      `SELECT c.id AS customer_id, s.orders_count, s.total_spent, s.first_order_at, s.last_order_at,
              coalesce(s.currency, ${tenantCurrencySql("$1")}) AS currency
         FROM unnest($2::uuid[]) WITH ORDINALITY AS c(id, n)
         LEFT JOIN customer_stats s ON s.customer_id = c.id AND s.tenant_id = $1
        ORDER BY c.n`,
      [tenantId, customerIds],
    );
    return rows.map((r) =>
      Object.assign(new CustomerStats(), {
        customerId: r.customer_id,
        tenantId,
        ordersCount: r.orders_count ?? 0,
        totalSpent: Number(r.total_spent ?? 0),
        firstOrderAt: r.first_order_at == null ? null : new Date(r.first_order_at),
        lastOrderAt: r.last_order_at == null ? null : new Date(r.last_order_at),
        currency: r.currency,
      }),
    );
  }

  /** Units refunded per SKU, for each of these orders that has refunds with lines. */
  /** Quantities refunded per SKU, summed exactly (numeric), as canonical decimal strings. */
  async refundedQuantities(tenantId: string, orderIds: readonly string[]): Promise<{ orderId: string; sku: string; quantity: string }[]> {
    const rows: { order_id: string; sku: string; quantity: string }[] = await this.app.db.dataSource.query(
      `SELECT o.id AS order_id, line->>'sku' AS sku, sum((line->>'quantity')::numeric)::text AS quantity
         FROM orders o
         JOIN order_refunds r ON r.tenant_id = o.tenant_id AND r.channel = o.channel AND r.external_order_id = o.external_order_id
        CROSS JOIN LATERAL jsonb_array_elements(r.items) AS line
        WHERE o.tenant_id = $1 AND o.id = ANY($2::uuid[])
        GROUP BY o.id, line->>'sku'`,
      [tenantId, orderIds],
    );
    return rows.map((r) => ({ orderId: r.order_id, sku: r.sku, quantity: r.quantity }));
  }

  // ---- writes (inside the caller's transaction) --------------------------------------------

  /**
   * Applies already-deduplicated order events of tx's tenant and refreshes the stats of the customers
   * whose orders changed. A fixed number of statements per call (three at most), whatever the batch
   * size. Any order and any split of the same events into batches ends in the same rows; replays
   * change nothing. Returns the customers whose stats changed (already refreshed), e.g. to announce them.
   *
   * Lock order: order rows, then customers' stats. A transaction that also calls `refreshStats` should
   * call it after this, not before, or it may deadlock with a concurrent batch.
   */
  async applyEvents(tx: TxCtx, items: OrderEventItem[]): Promise<AppliedOrders> {
    if (!items.length) return { orders: [], statsChanged: [] };
    const tenantId = tenantOf(tx);
    const { orders, refunds } = foldOrderEvents(items);
    // Serializes batches that touch the same orders, so each reads the before-values the previous one committed.
    await lockKeys(tx.manager, "order", tenantId, orders.map((o) => JSON.stringify([o.channel, o.external_order_id])));
    const rows: UpsertedRow[] = await tx.manager.query(UPSERT_SQL, [tenantId, JSON.stringify(orders), JSON.stringify(refunds)]);
    const changes = rows.map(orderChangeOf);
    const customers = [...new Set(changes.map((r) => r.customerId).filter((id): id is string => id !== null))];
    const statsChanged = await this.refresh(tx, customers);
    for (const c of changes) {
      if (c.created) tx.emit({ type: "order.created", tenantId, orderId: c.id, channel: c.channel, externalOrderId: c.externalOrderId, customerId: c.customerId });
      if (c.becamePaid) tx.emit({ type: "order.paid", tenantId, orderId: c.id, customerId: c.customerId, total: c.total, currency: c.currency });
      if (c.refundedNow > c.refundedBefore) {
        tx.emit({ type: "order.refunded", tenantId, orderId: c.id, customerId: c.customerId, amount: c.refundedNow - c.refundedBefore, refunded: Math.min(c.refundedNow, c.total), status: c.status });
      }
      if (c.becameCancelled) tx.emit({ type: "order.cancelled", tenantId, orderId: c.id, customerId: c.customerId });
    }
    for (const customerId of statsChanged) tx.emit({ type: "customer.stats_changed", tenantId, customerId });
    return { orders: changes, statsChanged };
  }

  /**
   * Recomputes the stats of these customers of tx's tenant from their orders. Holds a lock per
   * customer until the transaction ends, so concurrent refreshes of one customer cannot overwrite
   * each other with stale counts.
   */
  async refreshStats(tx: TxCtx, customerIds: string[]): Promise<void> {
    const tenantId = tenantOf(tx);
    for (const customerId of await this.refresh(tx, customerIds)) tx.emit({ type: "customer.stats_changed", tenantId, customerId });
  }

  /**
   * Re-derives the stats of every customer of the tenant who has orders or stats (after a currency
   * change): `chunk` customers per transaction, in id order, so a large tenant never holds one long
   * transaction. Safe to run again (each chunk recomputes from the orders as they are).
   */
  async rederiveAllStats(ctx: Ctx, chunk = 2_000): Promise<number> {
    const tenantId = tenantOf(ctx);
    let after = "00000000-0000-0000-0000-000000000000";
    let total = 0;
    for (;;) {
      const rows: { id: string }[] = await this.app.db.dataSource.query(
        `SELECT id FROM (SELECT customer_id AS id FROM orders WHERE tenant_id = $1 AND customer_id > $2
                          UNION SELECT customer_id FROM customer_stats WHERE tenant_id = $1 AND customer_id > $2) c
          ORDER BY id LIMIT $3`,
        [tenantId, after, chunk],
      );
      if (!rows.length) return total;
      await inTransaction(ctx, (tx) => this.refreshStats(tx, rows.map((r) => r.id)));
      total += rows.length;
      after = rows[rows.length - 1].id;
      if (rows.length < chunk) return total;
    }
  }

  /** Personal data hook: each customer's orders, with their lines and refunds, oldest first. */
  async exportOf(tx: TxCtx, customerIds: readonly string[]): Promise<Map<string, unknown>> {
    const tenantId = tenantOf(tx);
    const orders = await tx.manager.find(Order, { where: { tenantId, customerId: In([...customerIds]) }, order: { createdAt: "ASC", id: "ASC" } });
    const refunds = orders.length
      ? await tx.manager.find(OrderRefund, { where: { tenantId, externalOrderId: In(orders.map((o) => o.externalOrderId)) }, order: { occurredAt: "ASC", refundId: "ASC" } })
      : [];
    const out = new Map<string, unknown[]>();
    for (const o of orders) {
      const record = {
        channel: o.channel,
        externalOrderId: o.externalOrderId,
        status: o.status,
        currency: o.currency,
        total: Number(o.total),
        items: o.items,
        placedAt: o.placedAt,
        refunds: refunds
          .filter((r) => r.channel === o.channel && r.externalOrderId === o.externalOrderId)
          .map((r) => ({ refundId: r.refundId, amount: Number(r.amount), items: r.items, occurredAt: r.occurredAt })),
      };
      out.set(o.customerId!, [...(out.get(o.customerId!) ?? []), record]);
    }
    return out;
  }

  /**
   * Personal data hook, on erasure: the orders stay — the merchant's revenue and counts do not change — but
   * belong to no one (they hold no personal value of their own: lines, amounts, store, times); the
   * customers' stats go with them.
   */
  async unlinkFrom(tx: TxCtx, customerIds: readonly string[]): Promise<void> {
    const tenantId = tenantOf(tx);
    await tx.manager.query(`UPDATE orders SET customer_id = NULL, updated_at = now() WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`, [tenantId, customerIds]);
    await tx.manager.query(`DELETE FROM customer_stats WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`, [tenantId, customerIds]);
  }

  /** Merge hook: the source customer's orders now belong to the target. Returns exactly the orders moved. */
  async moveOrders(tx: TxCtx, sourceId: string, targetId: string): Promise<string[]> {
    const rows: { id: string }[] = await tx.manager.query(
      `WITH moved AS (
         UPDATE orders SET customer_id = $3, updated_at = now() WHERE tenant_id = $1 AND customer_id = $2 RETURNING id
       ) SELECT id FROM moved ORDER BY id`,
      [tenantOf(tx), sourceId, targetId],
    );
    return rows.map((r) => r.id);
  }

  /** Unmerge hook: puts exactly these orders back on the source customer. */
  async restoreOrders(tx: TxCtx, orderIds: string[], sourceId: string): Promise<void> {
    if (!orderIds.length) return;
    await tx.manager.query(`UPDATE orders SET customer_id = $2, updated_at = now() WHERE tenant_id = $1 AND id = ANY($3::uuid[])`, [
      tenantOf(tx),
      sourceId,
      orderIds,
    ]);
  }

  private async refresh(tx: TxCtx, customerIds: string[]): Promise<string[]> {
    const ids = [...new Set(customerIds)];
    if (!ids.length) return [];
    const tenantId = tenantOf(tx);
    // Serializes stats refreshes of the same customers: each recomputation then reads the orders the previous one committed.
    await lockKeys(tx.manager, "customer_stats", tenantId, ids);
    const rows: { id: string }[] = await tx.manager.query(REFRESH_STATS_SQL, [tenantId, ids]);
    return rows.map((r) => r.id).sort();
  }
}
