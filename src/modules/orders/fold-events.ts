import type { OrderEvent } from "../../plugins/events";
import type { StoredOrderItem } from "./entity";

/** An already-deduplicated order event, with the customer identity resolution found for it (if any). */
export interface OrderEventItem {
  channel: string;
  event: OrderEvent;
  customerId: string | null;
}

/**
 * Ties between events at the same instant go to the later stage of an order's life, whose amounts
 * are the most final. Stored as `orders.amounts_rank`, so the database breaks ties the same way.
 */
const RANK: Record<OrderEvent["type"], number> = {
  "order.placed": 1,
  "order.paid": 2,
  "order.cancelled": 3,
  "order.completed": 4,
  "order.refunded": 5,
};

const TIME_COLUMN = {
  "order.placed": "placed_at",
  "order.paid": "paid_at",
  "order.cancelled": "cancelled_at",
  "order.completed": "completed_at",
} as const;

/** An order's changes from one batch, in the column names of `orders` (timestamps as ISO strings, whole ms). */
export interface FoldedOrder {
  channel: string;
  external_order_id: string;
  customer_id: string | null;
  store_id: string | null;
  currency: string | null;
  subtotal: number | null;
  discount: number | null;
  shipping: number | null;
  total: number | null;
  items: StoredOrderItem[] | null;
  amounts_at: string | null;
  amounts_rank: number | null;
  amounts_event_id: string | null;
  /** Per optional field, the stamp of the event its value comes from (see `encodeStamp`). */
  field_stamps: Partial<Record<OptionalField, string>>;
  placed_at: string | null;
  paid_at: string | null;
  cancelled_at: string | null;
  completed_at: string | null;
}

export interface FoldedRefund {
  channel: string;
  external_order_id: string;
  refund_id: string;
  amount: number;
  items: { sku: string; quantity: string; amount: number }[];
  occurred_at: string;
}

/**
 * Amounts every order event carries (currency, total) come from the newest event. The optional ones
 * come, each on its own, from the newest event that carries them: a lean `order.paid` with only a
 * total must not blank the lines and subtotal an earlier `order.placed` brought.
 */
export const OPTIONAL_FIELDS = ["store_id", "subtotal", "discount", "shipping", "items"] as const;
export type OptionalField = (typeof OPTIONAL_FIELDS)[number];

interface Stamp {
  /** occurredAt truncated to whole milliseconds: what timestamptz(3) keeps of it, so JS and SQL compare alike. */
  ms: number;
  rank: number;
  eventId: string;
}

/** Byte-wise on the event id, as `amounts_event_id COLLATE "C"` compares in the database. */
function compareStamps(a: Stamp, b: Stamp): number {
  return a.ms - b.ms || a.rank - b.rank || Buffer.compare(Buffer.from(a.eventId, "utf8"), Buffer.from(b.eventId, "utf8"));
}

function stampOf(event: OrderEvent): Stamp {
  return { ms: Date.parse(event.occurredAt), rank: RANK[event.type], eventId: event.externalId };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Offset that keeps every instant from year -1200 on non-negative, so the fixed-width digits sort as numbers. */
const STAMP_EPOCH_OFFSET = 1e14;

/**
 * A stamp as text that sorts byte-wise (COLLATE "C") exactly as `compareStamps` orders stamps:
 * fixed-width milliseconds, the one-digit rank, then the event id. Stored in `orders.field_stamps`.
 */
export function encodeStamp(s: Stamp): string {
  return `${String(s.ms + STAMP_EPOCH_OFFSET).padStart(16, "0")}|${s.rank}|${s.eventId}`;
}

function optionalValues(p: Extract<OrderEvent, { type: "order.placed" }>["payload"]): Record<OptionalField, unknown> {
  return {
    store_id: p.storeId,
    subtotal: p.subtotal,
    discount: p.discount,
    shipping: p.shipping,
    items: p.items?.map((i) => ({
      sku: i.sku,
      title: i.title ?? null,
      category: i.category ?? null,
      quantity: i.quantity,
      unit: i.unit ?? null,
      unitPrice: i.unitPrice,
      discount: i.discount ?? null,
    })),
  };
}

/**
 * Folds a batch into one row per order and one per refund. Every rule is a max, a min or a
 * first-of, all associative and commutative, so folding a batch then merging it in SQL gives what
 * applying the events one at a time in any order would. The exception is the customer, which is
 * kept from the order's first sight (identity resolution may change its mind later; merges move orders).
 */
export function foldOrderEvents(items: readonly OrderEventItem[]): { orders: FoldedOrder[]; refunds: FoldedRefund[] } {
  const orders = new Map<string, { row: FoldedOrder; amounts: Stamp | null; customer: Stamp | null; fields: Partial<Record<OptionalField, Stamp>> }>();
  const refunds = new Map<string, { row: FoldedRefund; stamp: Stamp }>();

  for (const { channel, event, customerId } of items) {
    const orderId = event.payload.orderId;
    const key = JSON.stringify([channel, orderId]);
    const stamp = stampOf(event);
    let entry = orders.get(key);
    if (!entry) {
      entry = { row: emptyOrder(channel, orderId), amounts: null, customer: null, fields: {} };
      orders.set(key, entry);
    }
    const { row } = entry;
    if (customerId && (!entry.customer || compareStamps(stamp, entry.customer) < 0)) {
      entry.customer = stamp;
      row.customer_id = customerId;
    }

    if (event.type === "order.refunded") {
      const p = event.payload;
      const refundKey = JSON.stringify([channel, orderId, p.refundId]);
      const seen = refunds.get(refundKey);
      // The same refund id twice in a batch: keep the first to happen, like ON CONFLICT DO NOTHING across batches would.
      if (!seen || compareStamps(stamp, seen.stamp) < 0) {
        refunds.set(refundKey, {
          stamp,
          row: {
            channel,
            external_order_id: orderId,
            refund_id: p.refundId,
            amount: p.amount,
            items: (p.items ?? []).map((i) => ({ sku: i.sku, quantity: i.quantity, amount: i.amount })),
            occurred_at: iso(stamp.ms),
          },
        });
      }
      continue;
    }

    const column = TIME_COLUMN[event.type];
    const current = row[column];
    if (current === null || stamp.ms < Date.parse(current)) row[column] = iso(stamp.ms);

    if (!entry.amounts || compareStamps(stamp, entry.amounts) > 0) {
      entry.amounts = stamp;
      Object.assign(row, {
        currency: event.payload.currency,
        total: event.payload.total,
        amounts_at: iso(stamp.ms),
        amounts_rank: stamp.rank,
        amounts_event_id: stamp.eventId,
      });
    }
    for (const [field, value] of Object.entries(optionalValues(event.payload)) as [OptionalField, unknown][]) {
      if (value === undefined) continue;
      const held = entry.fields[field];
      if (!held || compareStamps(stamp, held) > 0) {
        entry.fields[field] = stamp;
        (row as unknown as Record<OptionalField, unknown>)[field] = value;
        row.field_stamps[field] = encodeStamp(stamp);
      }
    }
  }
  return { orders: [...orders.values()].map((e) => e.row), refunds: [...refunds.values()].map((e) => e.row) };
}

function emptyOrder(channel: string, orderId: string): FoldedOrder {
  return {
    channel,
    external_order_id: orderId,
    customer_id: null,
    store_id: null,
    currency: null,
    subtotal: null,
    discount: null,
    shipping: null,
    total: null,
    items: null,
    amounts_at: null,
    amounts_rank: null,
    amounts_event_id: null,
    field_stamps: {},
    placed_at: null,
    paid_at: null,
    cancelled_at: null,
    completed_at: null,
  };
}
