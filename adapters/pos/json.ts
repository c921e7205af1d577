import { z } from "zod";
import { lineQuantity, multiplyRounded, QUANTITY_DECIMALS } from "./money";

import {
  cardNumber,
  checkCurrency,
  checkStoreId,
  checkTransactionId,
  DEFAULT_CURRENCY,
  fail,
  MAX_LINES,
  MAX_TRANSACTIONS,
  parseDay,
  parseTimestamp,
  phoneNumber,
  title,
  type PosTransaction,
} from "./transaction";

/**
 * The POS JSON format (README.md, "JSON"): one transaction object, or `{ "transactions": [...] }`.
 * Amounts are integer minor units (fen); quantities whole units.
 */

const amount = z
  .number({ error: "must be an integer amount in minor units (fen)" })
  .int("must be an integer amount in minor units (fen)")
  .min(0, "must not be negative")
  .max(Number.MAX_SAFE_INTEGER, "too large");
const optionalText = (max: number) => z.string().trim().max(max).nullish();

const line = z.object({
  sku: z.string().trim().min(1, "a SKU is required").max(100),
  title: z.string().max(2000).nullish(),
  // Whole units, or a weighed quantity with up to three decimals (0.42 kg); signed either way in returns.
  quantity: z
    .number()
    .min(-1_000_000)
    .max(1_000_000)
    .refine((q) => q !== 0, "must not be 0")
    .refine((q) => lineQuantity(q) !== undefined, `must have at most ${QUANTITY_DECIMALS} decimal places`),
  /** What a weighed or measured quantity counts in (kg, g, l…); omit for pieces. */
  unit: z.string().trim().min(1).max(20).nullish(),
  /** Per unit (per kg for a weighed line). */
  unitPrice: amount,
  discount: amount.nullish(),
});

const transaction = z.object({
  storeId: z.string(),
  registerId: optionalText(60),
  transactionId: z.string(),
  receiptNumber: optionalText(60),
  cashier: optionalText(60),
  businessDay: z.string().nullish(),
  occurredAt: z.string(),
  type: z.enum(["sale", "return"]),
  originalTransactionId: z.string().nullish(),
  originalStoreId: z.string().nullish(),
  member: z.object({ cardNumber: z.string().nullish(), phone: z.string().nullish() }).nullish(),
  lines: z.array(line).min(1, "a transaction needs at least one line").max(MAX_LINES),
  tenders: z.array(z.object({ type: z.string().trim().min(1).max(40), amount })).max(50).nullish(),
  currency: z.string().nullish(),
  /** What was paid (sale) or handed back (return), when it differs from the lines' sum (rounding, whole-ticket discounts). */
  total: amount.nullish(),
});

type JsonTransaction = z.infer<typeof transaction>;

/** The transactions of a POS JSON document (already parsed). Throws NormalizationError with the offending path. */
export function readJson(document: unknown): PosTransaction[] {
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    fail("", 'body must be a JSON object: one transaction, or {"transactions": [...]}');
  }
  if ("transactions" in document) {
    const list = (document as { transactions: unknown }).transactions;
    if (!Array.isArray(list)) fail("transactions", "must be an array of transactions");
    if (list.length > MAX_TRANSACTIONS) fail("transactions", `too many transactions: ${list.length} (at most ${MAX_TRANSACTIONS} per request)`);
    return list.map((t, i) => readOne(t, `transactions.${i}`));
  }
  return [readOne(document, "")];
}

function readOne(input: unknown, prefix: string): PosTransaction {
  const at = (...path: (string | number)[]) => [prefix, ...path].filter((p) => p !== "").join(".");
  const parsed = transaction.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(at(...(issue.path as (string | number)[])) || "transaction", issue.message);
  }
  const t: JsonTransaction = parsed.data;
  const storeId = checkStoreId(t.storeId, at("storeId"));
  const transactionId = checkTransactionId(t.transactionId, at("transactionId"));
  const endedAt = parseTimestamp(t.occurredAt) ?? fail(at("occurredAt"), "must be an ISO-8601 date-time such as 2026-11-20T14:05:09+08:00");
  if (t.businessDay != null && !parseDay(t.businessDay)) fail(at("businessDay"), "must be a date YYYY-MM-DD");
  const currency = checkCurrency(t.currency ?? DEFAULT_CURRENCY, at("currency"));
  const member = {
    cardNumber: cardNumber(t.member?.cardNumber ?? undefined, at("member", "cardNumber")),
    phone: phoneNumber(t.member?.phone ?? undefined, at("member", "phone")),
  };
  const base = { label: at() || "transaction", storeId, transactionId, endedAt, currency, member, transactionDiscount: 0, statedTotal: t.total ?? undefined };

  const lines = t.lines.map((l, i) => {
    const { quantity, factor } = lineQuantity(l.quantity)!;
    const gross = multiplyRounded(l.unitPrice, factor) ?? fail(at("lines", i), "amount too large");
    const discount = l.discount ?? 0;
    if (!Number.isSafeInteger(gross)) fail(at("lines", i), "amount too large");
    if (discount > gross) fail(at("lines", i, "discount"), "larger than the line's amount");
    return { l, i, gross, discount, quantity };
  });

  if (t.type === "sale") {
    for (const { l, i } of lines) if (l.quantity < 0) fail(at("lines", i, "quantity"), "negative quantities are not allowed in a sale (send a return)");
    return {
      ...base,
      sales: lines.map(({ l, gross, discount, quantity }) => ({ sku: l.sku, title: title(l.title ?? undefined), quantity, ...(l.unit ? { unit: l.unit } : {}), unitPrice: l.unitPrice, discount, gross })),
      returns: [],
    };
  }
  if (t.originalTransactionId == null || !t.originalTransactionId.trim()) fail(at("originalTransactionId"), "a return must name the original transaction");
  const original = {
    storeId: t.originalStoreId != null && t.originalStoreId.trim() ? checkStoreId(t.originalStoreId, at("originalStoreId")) : storeId,
    transactionId: checkTransactionId(t.originalTransactionId, at("originalTransactionId")),
  };
  // Returned quantities may be signed either way (many registers print them negative).
  return {
    ...base,
    sales: [],
    returns: lines.map(({ l, gross, discount, quantity }) => ({ sku: l.sku, quantity, amount: gross - discount, original })),
  };
}
