import { NormalizationError, type NormalizedEventInput } from "../../src/plugins";
import { isKnownCurrency } from "./money";

/**
 * One store transaction as the three readers (JSON, POSLog, CSV) agree to describe it, and its
 * translation into normalized events. Everything here is format-independent, which is what makes
 * the same sale sent as JSON and as POSLog produce the same externalIds.
 */

/** Longest store id: `<storeId>:<transactionId>` must fit an orderId (100) and twice into an externalId (200). */
export const MAX_STORE_ID = 30;
export const MAX_TRANSACTION_ID = 60;
/** Most transactions one request may carry (an end-of-day file is split beyond that). */
export const MAX_TRANSACTIONS = 2000;
/** Most lines of one transaction (the order schema's item limit). */
export const MAX_LINES = 1000;
/** POS clocks without an offset are China Standard Time. */
export const DEFAULT_OFFSET = "+08:00";
export const DEFAULT_CURRENCY = "CNY";

export interface SaleLine {
  sku: string;
  title?: string;
  /** Positive: whole units as a number, a weighed quantity as its exact decimal text ("0.42"). */
  quantity: number | string;
  /** kg, g, l… for a weighed or measured line; undefined for pieces. */
  unit?: string;
  unitPrice: number;
  /** Line discount in minor units (0 when none). */
  discount: number;
  /** The line amount before its discount, in minor units. */
  gross: number;
}

export interface ReturnLine {
  sku: string;
  /** As in SaleLine. */
  quantity: number | string;
  /** What the customer got back for the line, in minor units. */
  amount: number;
  original: { storeId: string; transactionId: string };
}

export interface PosTransaction {
  /** Names the transaction in reasons: "transactions.2", "Transaction 3", "line 14". */
  label: string;
  storeId: string;
  transactionId: string;
  /** When the sale started (ISO, UTC); defaults to endedAt. */
  startedAt?: string;
  /** When it was completed and paid (ISO, UTC). */
  endedAt: string;
  currency: string;
  member: { cardNumber?: string; phone?: string };
  sales: SaleLine[];
  /** Transaction-level discount beyond the lines' own, in minor units. */
  transactionDiscount: number;
  returns: ReturnLine[];
  /** The amount the source states was paid (a sale) or refunded (negative or positive for a return), if it does. */
  statedTotal?: number;
}

export interface Restrictions {
  /** Store ids allowed on the connection; every store when absent. */
  stores?: readonly string[];
}

/** Throws the 400 every reader uses: "<where>: <what>". */
export function fail(where: string, what: string): never {
  throw new NormalizationError(where ? `${where}: ${what}` : what);
}

/** A store id: 1–30 characters, no colon (it separates store and transaction in order ids), no control characters. */
export function checkStoreId(value: string, where: string): string {
  const v = value.trim();
  if (!v) fail(where, "a store id is required");
  if (v.length > MAX_STORE_ID) fail(where, `store id longer than ${MAX_STORE_ID} characters`);
  if (v.includes(":")) fail(where, "a store id may not contain ':'");
  if (/\p{Cc}/u.test(v)) fail(where, "a store id may not contain control characters");
  return v;
}

/** A transaction id: 1–60 characters without control characters. */
export function checkTransactionId(value: string, where: string): string {
  const v = value.trim();
  if (!v) fail(where, "a transaction id is required");
  if (v.length > MAX_TRANSACTION_ID) fail(where, `transaction id longer than ${MAX_TRANSACTION_ID} characters`);
  if (/\p{Cc}/u.test(v)) fail(where, "a transaction id may not contain control characters");
  return v;
}

export function checkCurrency(value: string, where: string): string {
  const v = value.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(v) || !isKnownCurrency(v)) fail(where, `unknown currency ${JSON.stringify(value.slice(0, 20))}`);
  return v;
}

/** A member card number: trimmed, at most 64 characters; all zeros (a POS's "no member") counts as none. */
export function cardNumber(value: string | undefined, where: string): string | undefined {
  const v = value?.trim();
  if (!v || /^0+$/.test(v)) return undefined;
  if (v.length > 64 || /\p{Cc}/u.test(v)) fail(where, "not a member card number");
  return v;
}

/** Looks like a phone number (the pipeline brings it to E.164 in the tenant's region, or rejects it). */
export function looksLikePhone(value: string): boolean {
  return /^\+?[\d\s().-]{5,30}$/.test(value) && (value.match(/\d/g)?.length ?? 0) >= 5;
}

export function phoneNumber(value: string | undefined, where: string): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (!looksLikePhone(v)) fail(where, "not a phone number");
  return v;
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * A POS timestamp as ISO-8601 UTC: "2026-11-20T14:05:09+08:00", "2026-11-20 14:05:09" (read with
 * `defaultOffset`, China Standard Time unless the source says otherwise), fractions to ms.
 * Undefined when it is not one, or names a day that does not exist.
 */
export function parseTimestamp(text: string, defaultOffset = DEFAULT_OFFSET): string | undefined {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = "00", frac = "", zone] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offset = zone ?? defaultOffset;
  if (offset !== "Z") {
    const om = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset);
    if (!om || Number(om[2]) > 14 || Number(om[3] ?? 0) > 59) return undefined;
    offset = `${om[1]}${om[2]}:${om[3] ?? "00"}`;
  }
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}.${(frac + "000").slice(0, 3)}${offset}`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** A business day "YYYY-MM-DD" that exists; undefined otherwise. */
export function parseDay(text: string): string | undefined {
  const v = text.trim();
  return /^\d{4}-\d{2}-\d{2}$/.test(v) && parseTimestamp(`${v}T00:00:00Z`) ? v : undefined;
}

/** A title cut to the schema's 500 characters without splitting a character. */
export function title(value: string | undefined): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const chars = Array.from(v);
  return chars.length > 500 ? chars.slice(0, 500).join("") : v;
}

export const orderIdOf = (storeId: string, transactionId: string) => `${storeId}:${transactionId}`;

/**
 * The events of one transaction:
 * - sale lines → `order.placed` (at its start) and `order.paid` (at its end) of order `<store>:<transaction>`;
 * - return lines → one `order.refunded` per original transaction they reference, on the original's
 *   order, with refundId `<store>:<return transaction>`;
 * - a transaction with neither (all lines voided, blind returns only) → nothing.
 * externalIds are `pos:<store>:<transaction>:placed|paid|refunded` (a return of several original
 * transactions adds `:<original order id>` to each refund's).
 */
export function transactionEvents(tx: PosTransaction, restrictions: Restrictions): NormalizedEventInput[] {
  const allowed = restrictions.stores;
  const checkStore = (storeId: string, what: string) => {
    if (allowed && !allowed.includes(storeId)) fail(tx.label, `${what} ${JSON.stringify(storeId)} is not one of this connection's stores`);
  };
  checkStore(tx.storeId, "store");
  for (const r of tx.returns) checkStore(r.original.storeId, "the returned sale's store");

  const orderId = orderIdOf(tx.storeId, tx.transactionId);
  const identities = [
    ...(tx.member.cardNumber ? [{ type: "pos_member" as const, value: tx.member.cardNumber }] : []),
    ...(tx.member.phone ? [{ type: "phone" as const, value: tx.member.phone }] : []),
  ];
  const events: NormalizedEventInput[] = [];

  if (tx.sales.length) {
    const subtotal = tx.sales.reduce((sum, l) => sum + l.gross, 0);
    const lineDiscounts = tx.sales.reduce((sum, l) => sum + l.discount, 0);
    let total = subtotal - lineDiscounts - tx.transactionDiscount;
    if (tx.returns.length === 0 && tx.statedTotal !== undefined) {
      if (tx.statedTotal < 0) fail(tx.label, "a sale's total must not be negative");
      total = tx.statedTotal;
    }
    if (total < 0) fail(tx.label, "discounts exceed the sale's amount");
    if (!Number.isSafeInteger(subtotal)) fail(tx.label, "amounts too large");
    const payload = {
      orderId,
      storeId: tx.storeId,
      currency: tx.currency,
      subtotal,
      discount: lineDiscounts + tx.transactionDiscount,
      total,
      items: tx.sales.map((l) => ({
        sku: l.sku,
        ...(l.title ? { title: l.title } : {}),
        quantity: l.quantity,
        ...(l.unit ? { unit: l.unit } : {}),
        unitPrice: l.unitPrice,
        ...(l.discount ? { discount: l.discount } : {}),
      })),
    };
    events.push(
      { type: "order.placed", externalId: `pos:${orderId}:placed`, occurredAt: tx.startedAt ?? tx.endedAt, identities, payload },
      { type: "order.paid", externalId: `pos:${orderId}:paid`, occurredAt: tx.endedAt, identities, payload },
    );
  }

  if (tx.returns.length) {
    const byOriginal = new Map<string, ReturnLine[]>();
    for (const r of tx.returns) {
      const key = orderIdOf(r.original.storeId, r.original.transactionId);
      byOriginal.set(key, [...(byOriginal.get(key) ?? []), r]);
    }
    for (const [originalOrderId, lines] of byOriginal) {
      let amount = lines.reduce((sum, l) => sum + l.amount, 0);
      // The stated total is what was handed back, tax and rounding included — but only a return of one sale and nothing else says whose.
      if (tx.sales.length === 0 && byOriginal.size === 1 && tx.statedTotal !== undefined) amount = Math.abs(tx.statedTotal);
      if (!Number.isSafeInteger(amount)) fail(tx.label, "amounts too large");
      events.push({
        type: "order.refunded",
        externalId: byOriginal.size === 1 ? `pos:${orderId}:refunded` : `pos:${orderId}:refunded:${originalOrderId}`,
        occurredAt: tx.endedAt,
        identities,
        payload: {
          orderId: originalOrderId,
          refundId: orderId,
          amount,
          items: lines.map((l) => ({ sku: l.sku, quantity: l.quantity, amount: l.amount })),
        },
      });
    }
  }
  return events;
}
