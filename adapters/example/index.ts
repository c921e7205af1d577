/**
 * TEMPLATE ADAPTER — copy this folder to start a channel of your own (see README.md beside it).
 *
 * "Acme Shop" is an imaginary mainland-China web shop. When a merchant saves our webhook URL in
 * Acme's back office, Acme:
 *   1. calls  GET  <url>?challenge=<random>  and expects the challenge echoed as text/plain;
 *   2. then   POST <url>  with one JSON payload per change, `{"kind": "member" | "order", ...}`,
 *      carrying the merchant's shared token in the `X-Acme-Token` header;
 *   3. expects HTTP 200 `{"code": 0, "message": "ok"}`, and retries anything else a few times.
 *
 * The adapter's whole job: prove a request is really from Acme (verify), then translate Acme's
 * vocabulary into normalized events (normalize). It knows nothing of customers tables, merging or
 * orders storage — the ingestion pipeline does that, identically for every channel.
 *
 * Import only from the public plugin contract (`src/plugins`); plain libraries such as zod are fine.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";

import {
  definePlugin,
  NormalizationError,
  parseJsonBody,
  VerificationError,
  type ChannelRequest,
  type ChannelResponse,
  type NormalizedEventInput,
} from "../../src/plugins";

/** The channel name: URLs are `/channels/example/<connectionId>`. Rename it when you copy. */
export const CHANNEL = "example";

/** Lower-cased: the host hands request headers over lower-cased. */
export const TOKEN_HEADER = "x-acme-token";

/**
 * Namespace of Acme member ids in the `external` identity. `external` is shared by every channel,
 * so the prefix keeps Acme's "M1001" from colliding with another system's "M1001".
 */
export const MEMBER_ID_NAMESPACE = "acme-shop";

// ---------------------------------------------------------------------------------------------
// 1. Connection config: what a merchant enters in createChannelConnection(channel: "example").
//    The host validates it with this schema before the connection is saved, so verify and
//    normalize can trust its shape. Keep secrets long enough to resist guessing.
// ---------------------------------------------------------------------------------------------
const configSchema = z.object({
  token: z.string().min(16, "must be at least 16 characters"),
});
export type ExampleConfig = z.infer<typeof configSchema>;

// ---------------------------------------------------------------------------------------------
// 2. The channel's own payloads, described once with zod. Parsing (rather than reading fields
//    and hoping) turns every surprise into a 400 that names the offending field — which is what
//    the channel's developers need to see in their delivery log.
// ---------------------------------------------------------------------------------------------

/** Acme sends timestamps with an offset, e.g. 2026-11-20T10:15:30+08:00. */
const timestamp = z.iso.datetime({ offset: true });
/** Acme sends money as yuan in decimal strings ("258.00"); we store integer fen. */
const yuan = z.string().regex(/^\d{1,13}(\.\d{1,2})?$/, "must be a yuan amount such as 258.00");
const mobile = z.string().trim().min(5).max(40);

const memberPayload = z.object({
  kind: z.literal("member"),
  memberId: z.string().trim().min(1).max(64),
  name: z.string().trim().max(200).optional(),
  mobile: mobile.optional(),
  gender: z.enum(["M", "F", ""]).optional(),
  birthday: z.iso.date().optional(),
  province: z.string().max(100).optional(),
  city: z.string().max(100).optional(),
  level: z.string().max(32).optional(),
  points: z.number().int().min(0).optional(),
  updatedAt: timestamp,
});

const orderPayload = z.object({
  kind: z.literal("order"),
  orderNo: z.string().trim().min(1).max(64),
  status: z.string().min(1).max(32),
  memberId: z.string().trim().min(1).max(64).optional(),
  mobile: mobile.optional(),
  storeCode: z.string().max(100).optional(),
  currency: z.string().regex(/^[A-Z]{3}$/).default("CNY"),
  totalAmount: yuan,
  discountAmount: yuan.optional(),
  shippingAmount: yuan.optional(),
  items: z
    .array(
      z.object({
        sku: z.string().trim().min(1).max(100),
        title: z.string().max(500).optional(),
        quantity: z.number().int().positive(),
        price: yuan,
      }),
    )
    .max(1000)
    .default([]),
  createdAt: timestamp,
  paidAt: timestamp.optional(),
});

type MemberPayload = z.infer<typeof memberPayload>;
type OrderPayload = z.infer<typeof orderPayload>;

export const examplePlugin = definePlugin<ExampleConfig>({
  name: CHANNEL,
  version: "1.0.0",
  compatibility: "^1.0.0",
  description: "Template channel for the imaginary Acme Shop: members and orders, shared-token auth.",
  configSchema,
  // The host never returns these config keys through the API (and should keep them out of logs).
  secretKeys: ["token"],

  channel: {
    // -------------------------------------------------------------------------------------------
    // 3. verify: authenticity only. Throw VerificationError (→ 401, nothing written) when the
    //    request is not from Acme; otherwise return what normalize needs — here the raw bytes.
    //    Do not parse or interpret the payload here: a malformed but authentic payload is a 400
    //    (normalize's job), and the distinction tells the channel's developers which side to fix.
    //
    //    Acme only sends a shared token, which proves the sender knows the secret but does not
    //    protect the body (TLS does). If your channel signs the body — most do — check an HMAC over
    //    `req.rawBody` instead: see adapters/http-json. If it sends a nonce or message id, record it
    //    with `ctx.state(connection.id).setIfAbsent(id, 1, ttl)` and reject a second sighting.
    // -------------------------------------------------------------------------------------------
    verify(req, connection) {
      checkToken(req, connection.config.token);
      return req.rawBody;
    },

    // -------------------------------------------------------------------------------------------
    // 4. normalize: the payload in the channel's words → zero or more normalized events.
    //    Must be deterministic: the same payload (a channel retry) must give the same externalIds,
    //    because the pipeline deduplicates on them — that is what makes retries harmless.
    //    Never read the clock or generate random ids here.
    // -------------------------------------------------------------------------------------------
    normalize(payload) {
      // The raw bytes as JSON; bytes that are not UTF-8 or not JSON are a 400 with the reason.
      const body = parseJsonBody(payload);
      const kind = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as { kind?: unknown }).kind : undefined;
      if (typeof kind !== "string") throw new NormalizationError('payload must be a JSON object with a string "kind"');

      if (kind === "member") return [memberEvent(parseOrThrow(memberPayload, body))];
      if (kind === "order") return orderEvents(parseOrThrow(orderPayload, body));
      // Channels add new kinds without warning. Answering 400 would make Acme retry (and maybe
      // disable the webhook); acknowledging with no events keeps the integration healthy.
      return [];
    },

    // -------------------------------------------------------------------------------------------
    // 5. handshake: Acme's GET ?challenge=… when the URL is saved. Only echo what we expect
    //    (a short token of safe characters), and only to a caller who knows the token, so the
    //    endpoint cannot be used to reflect arbitrary content.
    // -------------------------------------------------------------------------------------------
    handshake(req, connection) {
      try {
        checkToken(req, connection.config.token);
      } catch (err) {
        return acmeError(401, (err as Error).message);
      }
      const challenge = req.query.challenge;
      if (typeof challenge !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(challenge)) {
        return acmeError(400, "challenge must be 1–128 letters, digits, '-' or '_'");
      }
      return { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: challenge };
    },

    // -------------------------------------------------------------------------------------------
    // 6. acknowledge / reject: answer in the form the channel expects. Events the pipeline
    //    rejected are still acknowledged: a retry would be rejected the same way, forever, and
    //    could get the webhook disabled. Omit both hooks if the host's default answers suit.
    // -------------------------------------------------------------------------------------------
    acknowledge(results) {
      const rejected = results.filter((r) => r.status === "rejected").length;
      return { status: 200, body: { code: 0, message: rejected ? `ok (${rejected} rejected)` : "ok" } };
    },

    reject(status, reason) {
      return acmeError(status, reason);
    },
  },
});

export default examplePlugin;

// ---------------------------------------------------------------------------------------------
// Translation helpers: one function per channel payload kind keeps each mapping readable.
// ---------------------------------------------------------------------------------------------

function memberEvent(m: MemberPayload): NormalizedEventInput {
  const phone = m.mobile ? toE164(m.mobile) : undefined;
  const updatedAt = toIso(m.updatedAt);
  return {
    type: "customer.upserted",
    // The member id alone would make a later profile change look like a duplicate of the first
    // one; the update time makes each version its own event, and a retry of one version a no-op.
    externalId: `member:${m.memberId}:${updatedAt}`,
    occurredAt: updatedAt,
    // Every way the pipeline may recognise this person: it attaches them to one customer, or
    // merges customers when two identities turn out to belong together.
    identities: [{ type: "external", value: `${MEMBER_ID_NAMESPACE}:${m.memberId}` }, ...(phone ? [{ type: "phone" as const, value: phone }] : [])],
    payload: {
      displayName: m.name || undefined,
      phone,
      gender: m.gender === "M" ? "MALE" : m.gender === "F" ? "FEMALE" : undefined,
      birthday: m.birthday,
      region: m.province || m.city ? { country: "CN", province: m.province || undefined, city: m.city || undefined } : undefined,
      // Channel-specific facts without a normalized field go to attributes, under a prefix.
      attributes: m.level !== undefined || m.points !== undefined ? { acmeLevel: m.level, acmePoints: m.points } : undefined,
    },
  };
}

/** Acme order statuses we turn into events; others (shipped, closed…) are acknowledged and ignored. */
const ORDER_EVENTS = { created: "order.placed", paid: "order.paid" } as const;

function orderEvents(o: OrderPayload): NormalizedEventInput[] {
  // hasOwn, not `in` or a bare lookup: a status of "constructor" must not find Object's.
  if (!Object.hasOwn(ORDER_EVENTS, o.status)) return [];
  const type = ORDER_EVENTS[o.status as keyof typeof ORDER_EVENTS];
  if (type === "order.paid" && !o.paidAt) throw new NormalizationError("paidAt: required when status is paid");
  const phone = o.mobile ? toE164(o.mobile) : undefined;
  return [
    {
      type,
      // One event per order *transition*: "placed" and "paid" of the same order are distinct.
      externalId: `order:${o.orderNo}:${type === "order.paid" ? "paid" : "placed"}`,
      occurredAt: toIso(type === "order.paid" ? o.paidAt! : o.createdAt),
      identities: [
        ...(o.memberId ? [{ type: "external" as const, value: `${MEMBER_ID_NAMESPACE}:${o.memberId}` }] : []),
        ...(phone ? [{ type: "phone" as const, value: phone }] : []),
      ],
      payload: {
        orderId: o.orderNo,
        currency: o.currency,
        total: toFen(o.totalAmount),
        discount: o.discountAmount === undefined ? undefined : toFen(o.discountAmount),
        shipping: o.shippingAmount === undefined ? undefined : toFen(o.shippingAmount),
        storeId: o.storeCode,
        items: o.items.map((i) => ({ sku: i.sku, title: i.title, quantity: i.quantity, unitPrice: toFen(i.price) })),
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Small, pure utilities; the exported ones have their edge cases pinned by the unit tests.
// ---------------------------------------------------------------------------------------------

/**
 * Constant-time token check. Comparing SHA-256 digests gives timingSafeEqual two equal-length
 * inputs, so neither the token's content nor its length leaks through response timing (a plain
 * `===` returns sooner the earlier the first differing character is).
 */
function checkToken(req: ChannelRequest, expected: string): void {
  const given = req.headers[TOKEN_HEADER];
  if (typeof given !== "string" || given === "") throw new VerificationError("missing X-Acme-Token header");
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  if (!timingSafeEqual(a, b)) throw new VerificationError("X-Acme-Token does not match this connection's token");
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new NormalizationError(`${issue.path.join(".") || "payload"}: ${issue.message}`);
}

/**
 * "258.00" → 25800 (fen). Decimal strings are split, never parsed as floats:
 * parseFloat("0.29") * 100 is 28.999999999999996.
 */
export function toFen(amount: string): number {
  const [whole, fraction = ""] = amount.split(".");
  return Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
}

/**
 * Acme only serves mainland China, so an 11-digit mobile is unambiguous: send it in E.164.
 * Anything else goes as received and the pipeline interprets it in the tenant's default region.
 */
export function toE164(mobile: string): string {
  const digits = mobile.replace(/[\s-]/g, "");
  if (/^1\d{10}$/.test(digits)) return `+86${digits}`;
  if (/^(\+|00)861\d{10}$/.test(digits)) return `+${digits.replace(/^(\+|00)/, "")}`;
  return mobile.trim();
}

/** One spelling per instant, so ids built from timestamps do not depend on Acme's offset format. */
function toIso(timestamp: string): string {
  const ms = Date.parse(timestamp);
  // The schema checked the shape; this catches impossible dates such as February 30th.
  if (Number.isNaN(ms)) throw new NormalizationError(`not a real point in time: ${timestamp}`);
  return new Date(ms).toISOString();
}

function acmeError(status: number, reason: string): ChannelResponse {
  return { status, body: { code: status, message: reason } };
}
