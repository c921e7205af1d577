import { z } from "zod";

import { NormalizationError, type NormalizedEventInput } from "../../src/plugins";
import { buyerIdentities } from "./identities";
import { idOf, isRecord, textOf, youzanTime, yuanToFen } from "./values";

/**
 * Trades → order events. A trade arrives as a full snapshot (`full_order_info`: the structure of
 * Youzan's trade detail and `youzan.trades.sold.get`, pushed by Youzan Cloud's trade messages and
 * read by the pull job) or, from the oldest push subscriptions, as a lean message
 * (`{tid, status, payment, update_time}`). Both give the same externalIds for the same fact, so
 * pushes, their retries and pulls deduplicate.
 */

type OrderType = "order.placed" | "order.paid" | "order.completed" | "order.cancelled";

/** Youzan trade statuses we turn into events; others (e.g. TRADE_NO_CREATE_PAY) are acknowledged and ignored. */
const STATUS_EVENT: Record<string, OrderType> = {
  WAIT_BUYER_PAY: "order.placed",
  TRADE_PAID: "order.paid",
  PAID: "order.paid",
  WAIT_CONFIRM: "order.paid", // paid, waiting for the group to fill or the shop to accept
  WAIT_SELLER_SEND_GOODS: "order.paid",
  WAIT_BUYER_CONFIRM_GOODS: "order.paid", // shipped
  TRADE_BUYER_SIGNED: "order.paid", // delivered, not yet confirmed
  TRADE_SUCCESS: "order.completed",
  TRADE_CLOSED: "order.cancelled",
  TRADE_CLOSED_BY_USER: "order.cancelled",
};

/** One spelling per status in externalIds: the push docs say TRADE_CLOSE where the API says TRADE_CLOSED. */
const STATUS_ALIASES: Record<string, string> = { TRADE_CLOSE: "TRADE_CLOSED" };

/** Youzan Cloud trade message types, and the status each implies when the message carries none. */
export const TRADE_TYPE_STATUS: Record<string, string | undefined> = {
  TRADE_ORDER_STATE: undefined,
  trade_TradeCreate: "WAIT_BUYER_PAY",
  trade_TradeBuyerPay: "TRADE_PAID",
  trade_TradePaid: "TRADE_PAID",
  trade_TradePartlySellerShip: "WAIT_SELLER_SEND_GOODS",
  trade_TradeSellerShip: "WAIT_BUYER_CONFIRM_GOODS",
  trade_TradeBuyerSigned: "TRADE_BUYER_SIGNED",
  trade_TradeSuccess: "TRADE_SUCCESS",
  trade_TradeClose: "TRADE_CLOSED",
};

export function canonicalStatus(status: string): string {
  const s = status.trim().toUpperCase();
  return Object.hasOwn(STATUS_ALIASES, s) ? STATUS_ALIASES[s] : s;
}

/** Where a trade is sold: the shop id becomes the orders' storeId. */
export interface TradeContext {
  storeId?: string;
  /** The envelope's status and the status implied by the message type, when the msg has none. */
  fallbackStatus?: string;
  /** The envelope's version (a timestamp), for lean messages without update_time. */
  fallbackTime?: string;
}

const anyValue = z.unknown();
const lineSchema = z.looseObject({
  num: anyValue,
  price: anyValue,
  payment: anyValue.optional(),
  title: anyValue.optional(),
  outer_sku_id: anyValue.optional(),
  outer_item_id: anyValue.optional(),
  sku_id: anyValue.optional(),
  item_id: anyValue.optional(),
});
const snapshotSchema = z.looseObject({
  order_info: z.looseObject({ tid: anyValue, status: anyValue.optional() }),
  buyer_info: z.looseObject({}).optional(),
  pay_info: z.looseObject({ payment: anyValue, total_fee: anyValue.optional(), post_fee: anyValue.optional() }),
  orders: z.array(lineSchema).max(1000).optional(),
});

/** Events of one `full_order_info` snapshot; [] when its status is not one we record. */
export function snapshotEvents(fullOrderInfo: unknown, ctx: TradeContext, path = "msg.full_order_info"): NormalizedEventInput[] {
  const r = snapshotSchema.safeParse(fullOrderInfo);
  if (!r.success) throw issueError(r.error, path);
  const snap = r.data;
  const info = snap.order_info as Record<string, unknown>;
  const tid = orderIdOf(info.tid, `${path}.order_info.tid`);
  const status = statusOf(info.status, ctx.fallbackStatus, `${path}.order_info.status`);
  const type = eventTypeOf(status);
  if (!type) return [];

  const created = optionalTime(info.created, `${path}.order_info.created`);
  const updated = optionalTime(info.update_time, `${path}.order_info.update_time`);
  const paidAt = optionalTime(info.pay_time, `${path}.order_info.pay_time`);
  const successAt = optionalTime(info.success_time, `${path}.order_info.success_time`);
  const fallback = updated ?? ctx.fallbackTime;
  const at = (t: string | undefined, field: string) => {
    const v = t ?? fallback;
    if (!v) throw new NormalizationError(`${path}.order_info.${field}: required (no update_time either)`);
    return v;
  };

  const payload = orderPayload(tid, snap, ctx.storeId, path);
  const identities = buyerIdentities(isRecord(snap.buyer_info) ? snap.buyer_info : {});
  const event = (t: OrderType, key: string, occurredAt: string): NormalizedEventInput => ({
    type: t,
    externalId: `trade:${tid}:${key}`,
    occurredAt,
    identities,
    payload,
  });

  // A snapshot proves the earlier steps of the order's life too. Emitting them (under the keys
  // their own pushes would have) keeps an order complete when a push was lost or only a pull saw
  // it; when the push did arrive, they are duplicates. A closed trade is not assumed paid.
  const events: NormalizedEventInput[] = [];
  if (type !== "order.placed" && created) events.push(event("order.placed", "WAIT_BUYER_PAY", created));
  if (type === "order.completed" && paidAt) events.push(event("order.paid", "TRADE_PAID", paidAt));
  const when =
    type === "order.placed" ? at(created, "created") : type === "order.paid" ? at(paidAt, "pay_time") : type === "order.completed" ? at(successAt, "success_time") : at(undefined, "update_time");
  events.push(event(type, status, when));
  return events;
}

const leanSchema = z.looseObject({ tid: anyValue, status: anyValue.optional(), payment: anyValue, update_time: anyValue.optional() });

/** The oldest push form: tid, status and payment only, so the order gets its total but no lines or buyer. */
export function leanEvents(msg: Record<string, unknown>, ctx: TradeContext): NormalizedEventInput[] {
  const r = leanSchema.safeParse(msg);
  if (!r.success) throw issueError(r.error, "msg");
  const tid = orderIdOf(r.data.tid, "msg.tid");
  const status = statusOf(r.data.status, ctx.fallbackStatus, "msg.status");
  const type = eventTypeOf(status);
  if (!type) return [];
  const occurredAt = optionalTime(r.data.update_time, "msg.update_time") ?? ctx.fallbackTime;
  if (!occurredAt) throw new NormalizationError("msg.update_time: required");
  return [
    {
      type,
      externalId: `trade:${tid}:${status}`,
      occurredAt,
      identities: [],
      payload: { orderId: tid, currency: "CNY", total: fen(r.data.payment, "msg.payment"), ...(ctx.storeId ? { storeId: ctx.storeId } : {}) },
    },
  ];
}

function orderPayload(tid: string, snap: z.infer<typeof snapshotSchema>, storeId: string | undefined, path: string) {
  const pay = snap.pay_info as Record<string, unknown>;
  const total = fen(pay.payment, `${path}.pay_info.payment`);
  const subtotal = pay.total_fee === undefined || pay.total_fee === "" ? undefined : fen(pay.total_fee, `${path}.pay_info.total_fee`);
  const shipping = pay.post_fee === undefined || pay.post_fee === "" ? undefined : fen(pay.post_fee, `${path}.pay_info.post_fee`);
  // Youzan reports the price before promotions (total_fee), postage and what was paid; the
  // difference is what coupons, promotions and price changes took off.
  const reduction = subtotal === undefined ? undefined : subtotal + (shipping ?? 0) - total;
  return {
    orderId: tid,
    currency: "CNY",
    total,
    ...(subtotal !== undefined ? { subtotal } : {}),
    ...(reduction !== undefined && reduction >= 0 ? { discount: reduction } : {}),
    ...(shipping !== undefined ? { shipping } : {}),
    ...(storeId ? { storeId } : {}),
    // No lines in the push: leave them out, so the lines an earlier message brought are kept.
    ...(snap.orders ? { items: snap.orders.map((line, i) => orderLine(line, `${path}.orders.${i}`)) } : {}),
  };
}

function orderLine(line: z.infer<typeof lineSchema>, path: string) {
  const quantity = typeof line.num === "string" && /^\d{1,7}$/.test(line.num) ? Number(line.num) : line.num;
  if (typeof quantity !== "number" || !Number.isInteger(quantity) || quantity < 1 || quantity > 1_000_000) {
    throw new NormalizationError(`${path}.num: must be a whole number of units from 1 to 1000000`);
  }
  const unitPrice = fen(line.price, `${path}.price`);
  const paid = line.payment === undefined || line.payment === "" ? undefined : fen(line.payment, `${path}.payment`);
  const reduction = paid === undefined ? 0 : unitPrice * quantity - paid;
  const title = textOf(line.title, 500);
  return {
    sku: skuOf(line, path),
    ...(title ? { title } : {}),
    quantity,
    unitPrice,
    ...(reduction > 0 ? { discount: reduction } : {}),
  };
}

/**
 * The merchant's own code when there is one — it is what the shop's other channels (POS, ERP)
 * call the product too — else Youzan's sku or item id, prefixed so the two cannot collide.
 */
function skuOf(line: z.infer<typeof lineSchema>, path: string): string {
  const own = textOf(line.outer_sku_id, 101) ?? textOf(line.outer_item_id, 101);
  if (own && own.length <= 100) return own;
  const skuId = idOf(line.sku_id);
  if (skuId) return `yz-sku:${skuId}`;
  const itemId = idOf(line.item_id);
  if (itemId) return `yz-item:${itemId}`;
  throw new NormalizationError(`${path}: a line needs outer_sku_id, outer_item_id, sku_id or item_id`);
}

function orderIdOf(value: unknown, path: string): string {
  const id = idOf(value);
  if (!id) throw new NormalizationError(`${path}: must be the Youzan order number (letters, digits, '-' or '_', at most 100)`);
  return id;
}

function statusOf(value: unknown, fallback: string | undefined, path: string): string {
  const s = typeof value === "string" && value.trim() ? value : fallback;
  if (typeof s !== "string" || !/^[A-Za-z_]{1,64}$/.test(s.trim())) throw new NormalizationError(`${path}: required (a Youzan trade status such as WAIT_BUYER_PAY)`);
  return canonicalStatus(s);
}

function eventTypeOf(status: string): OrderType | undefined {
  return Object.hasOwn(STATUS_EVENT, status) ? STATUS_EVENT[status] : undefined;
}

/** A time field: absent or empty is undefined; present but unreadable is the channel's error. */
export function optionalTime(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null || value === "" || value === 0 || value === "0") return undefined;
  const t = youzanTime(value);
  if (!t) throw new NormalizationError(`${path}: not a time Youzan writes ("YYYY-MM-DD HH:mm:ss", Beijing time)`);
  return t;
}

export function fen(value: unknown, path: string): number {
  const v = yuanToFen(value);
  if (v === undefined) throw new NormalizationError(`${path}: must be a yuan amount such as "99.90" (at most two decimals)`);
  return v;
}

export function issueError(error: z.ZodError, prefix: string): NormalizationError {
  const issue = error.issues[0];
  return new NormalizationError(`${[prefix, ...issue.path.map(String)].join(".")}: ${issue.message}`);
}
