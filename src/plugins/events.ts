import { z } from "zod";
import { canonicalDecimal, toMilli } from "../core/decimal";
import { describeUnstorable, findUnstorable, MAX_JSON_DEPTH, storableInstant } from "../core/storable";
import { identityTypes, isIdentityType, MAX_IDENTITY_VALUE, type IdentityTypeName } from "./identity";

/**
 * Normalized events, version 1: what every channel adapter turns its payloads into, and what
 * `ingestEvents` and the `http-json` channel accept as JSON. Validated with these schemas only.
 * The channel comes from the connection an event arrives through, never from the event.
 */
export const NORMALIZED_EVENT_VERSION = 1;

/**
 * Largest amount one event may carry, in minor units: 10^13 fen is 100 billion yuan. Sums of such
 * amounts stay exact far beyond any real customer (stored as bigint, served saturating at 2^53 − 1).
 */
export const MAX_AMOUNT = 10 ** 13;
/** Largest quantity of one line. */
export const MAX_QUANTITY = 1_000_000;

/**
 * A quantity: a JSON number or a decimal string with at most three fractional digits (0.42 kg,
 * "1.5"), at most {@link MAX_QUANTITY}; positive unless `allowZero`. Validated events carry it as
 * the canonical decimal string ("0.42", "2"), never as a binary float.
 */
const quantity = (allowZero = false) =>
  z
    .union([z.number(), z.string()])
    .refine((v) => canonicalDecimal(v) !== null, { message: "must be a decimal number with at most 3 fractional digits (a JSON number or a string such as \"0.42\")" })
    .transform((v) => canonicalDecimal(v)!)
    .refine((q) => toMilli(q) <= BigInt(MAX_QUANTITY) * 1000n, { message: `must be at most ${MAX_QUANTITY}` })
    .refine((q) => allowZero || toMilli(q) > 0n, { message: "must be greater than 0" });
/** What a line counts in: null or absent for pieces, else a unit such as kg, g, l, m. */
const unit = z.string().trim().min(1).max(20).nullish();
/** Birthdays accepted, here and in the GraphQL inputs: a real calendar date from 1900-01-01 to today (UTC). */
export const MIN_BIRTHDAY = "1900-01-01";
export function birthdayInRange(isoDate: string, today = new Date().toISOString().slice(0, 10)): boolean {
  return isoDate >= MIN_BIRTHDAY && isoDate <= today;
}

const money = z.number().int("must be an integer amount in minor units").min(0).max(MAX_AMOUNT, `must be at most ${MAX_AMOUNT} minor units`);
const currency = z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as CNY");
const text = (max: number) => z.string().max(max);

export const identitySchema = z.object({
  type: z
    .string()
    .refine(isIdentityType, { error: (issue) => `unknown identity type ${JSON.stringify(issue.input)}; known: ${identityTypes().join(", ")}` })
    .transform((t) => t as IdentityTypeName),
  value: z.string().trim().min(1).max(MAX_IDENTITY_VALUE),
});

const common = {
  /** Idempotency key within (tenant, channel): a replay with the same key changes nothing. */
  externalId: z.string().trim().min(1).max(200),
  occurredAt: z.iso
    .datetime({ offset: true })
    .refine((v) => storableInstant(Date.parse(v)), { message: "must lie between the years 0001 and 9999 (UTC)" }),
  identities: z.array(identitySchema).max(20).default([]),
  version: z
    .number()
    .optional()
    .refine((v) => v === undefined || v === NORMALIZED_EVENT_VERSION, { message: `unsupported version; this server speaks version ${NORMALIZED_EVENT_VERSION}` }),
};

const region = z.object({ country: text(2).optional(), province: text(100).optional(), city: text(100).optional() });

export const customerUpsertedPayload = z.object({
  displayName: text(200).optional(),
  phone: text(40).optional(),
  email: text(254).optional(),
  gender: z.enum(["MALE", "FEMALE", "UNKNOWN"]).optional(),
  birthday: z.iso
    .date()
    .refine((v) => birthdayInRange(v), { message: `must be between ${MIN_BIRTHDAY} and today` })
    .optional(),
  region: region.optional(),
  tags: z.array(z.string().trim().min(1).max(64)).max(100).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
});

const orderItem = z.object({
  sku: z.string().trim().min(1).max(100),
  title: text(500).optional(),
  category: text(200).optional(),
  quantity: quantity(),
  unit,
  /** Per unit (per kg for a weighed line); the line's amount is rounded by the channel. */
  unitPrice: money,
  discount: money.optional(),
});

export const orderPayload = z.object({
  orderId: z.string().trim().min(1).max(100),
  currency,
  total: money,
  subtotal: money.optional(),
  discount: money.optional(),
  shipping: money.optional(),
  storeId: text(100).optional(),
  items: z.array(orderItem).max(1000).optional(),
});

export const orderRefundedPayload = z.object({
  orderId: z.string().trim().min(1).max(100),
  refundId: z.string().trim().min(1).max(100),
  amount: money,
  items: z.array(z.object({ sku: z.string().trim().min(1).max(100), quantity: quantity(), amount: money })).max(1000).optional(),
});

export const cartUpdatedPayload = z.object({
  cartId: z.string().trim().min(1).max(100),
  items: z.array(z.object({ sku: z.string().trim().min(1).max(100), title: text(500).optional(), quantity: quantity(true), unit, unitPrice: money })).max(1000),
  total: money,
  currency,
});

export const messageReceivedPayload = z.object({
  threadId: z.string().trim().min(1).max(200),
  text: text(20_000).optional(),
  html: text(100_000).optional(),
  subject: text(500).optional(),
  attachments: z
    .array(z.object({ type: text(50).optional(), url: text(2000).optional(), mediaId: text(500).optional(), name: text(500).optional() }))
    .max(50)
    .optional(),
});

/** Shapes are owned by the feedback module; until it lands, any JSON object is kept as it is. */
export const openPayload = z.record(z.string(), z.unknown());

export const normalizedEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("customer.upserted"), ...common, payload: customerUpsertedPayload }),
  z.object({ type: z.literal("order.placed"), ...common, payload: orderPayload }),
  z.object({ type: z.literal("order.paid"), ...common, payload: orderPayload }),
  z.object({ type: z.literal("order.cancelled"), ...common, payload: orderPayload }),
  z.object({ type: z.literal("order.completed"), ...common, payload: orderPayload }),
  z.object({ type: z.literal("order.refunded"), ...common, payload: orderRefundedPayload }),
  z.object({ type: z.literal("cart.updated"), ...common, payload: cartUpdatedPayload }),
  z.object({ type: z.literal("message.received"), ...common, payload: messageReceivedPayload }),
  z.object({ type: z.literal("feedback.submitted"), ...common, payload: openPayload }),
  z.object({ type: z.literal("review.posted"), ...common, payload: openPayload }),
]);

/** A validated event (defaults applied). */
export type NormalizedEvent = z.output<typeof normalizedEventSchema>;
/** What an adapter's `normalize` returns; the host validates it. */
export type NormalizedEventInput = z.input<typeof normalizedEventSchema>;
export type NormalizedEventType = NormalizedEvent["type"];
export const NORMALIZED_EVENT_TYPES = normalizedEventSchema.options.map((o) => o.shape.type.value) as NormalizedEventType[];

export type OrderEvent = Extract<NormalizedEvent, { type: `order.${string}` }>;

/**
 * Validates one event; the reason names the first offending field. Before the schema, the whole
 * value is checked for what PostgreSQL cannot store (NUL, unpaired surrogates, nesting deeper than
 * {@link MAX_JSON_DEPTH} levels; see core/storable), so such an event is rejected, never half-written.
 */
export function parseNormalizedEvent(input: unknown): { ok: true; event: NormalizedEvent } | { ok: false; reason: string } {
  const unstorable = findUnstorable(input, MAX_JSON_DEPTH);
  if (unstorable) return { ok: false, reason: describeUnstorable(unstorable) };
  if (typeof input === "object" && input !== null && "type" in input && !NORMALIZED_EVENT_TYPES.includes((input as { type: never }).type)) {
    return { ok: false, reason: `type: unknown event type ${JSON.stringify((input as { type: unknown }).type).slice(0, 60)}` };
  }
  const r = normalizedEventSchema.safeParse(input);
  if (r.success) return { ok: true, event: r.data };
  const issue = r.error.issues[0];
  return { ok: false, reason: `${issue.path.join(".") || "event"}: ${issue.message}` };
}
