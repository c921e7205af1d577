import { createHash } from "node:crypto";
import { z } from "zod";

import { NormalizationError, parseJsonBody, type NormalizedEventInput } from "../../src/plugins";
import { buyerIdentities, buyerIdentity, uniqueIdentities, type Identity } from "./identities";
import { canonicalStatus, fen, issueError, leanEvents, optionalTime, snapshotEvents, TRADE_TYPE_STATUS } from "./trades";
import { decodeMsg, idOf, isRecord, mobileOf, parseJsonExact, textOf, youzanTime } from "./values";

/**
 * A verified Youzan message → normalized events. Business facts come from `msg` (the signed part of
 * the classic push); the envelope only routes: `type`, `test`, the shop (`kdt_id`) and, where the
 * msg carries none, the status and a version timestamp.
 */

/** Refund messages; only a refund that succeeded moves money, so only that becomes an event. */
const REFUND_TYPES = new Set(["TRADE_REFUND", "TRADE_ORDER_REFUND", "trade_refund_RefundSuccess"]);
const REFUND_SUCCESS = new Set(["SUCCESS", "REFUND_SUCCESS"]);
const CUSTOMER_TYPES = new Set(["SCRM_CUSTOMER_EVENT", "SCRM_CUSTOMER_CARD"]);
/** Youzan deleting its own record of a customer does not erase ours. */
const CUSTOMER_IGNORED_STATUSES = new Set(["CUSTOMER_DELETED", "CUSTOMER_DELETE"]);

const scalar = z.union([z.string(), z.number()]);
const envelopeSchema = z.looseObject({
  type: z.string().trim().min(1).max(100),
  status: z.string().max(100).optional().nullable(),
  id: scalar.optional().nullable(),
  kdt_id: scalar.optional().nullable(),
  kdtId: scalar.optional().nullable(),
  version: scalar.optional().nullable(),
  test: z.union([z.boolean(), z.string(), z.number()]).optional().nullable(),
  msg: z.unknown(),
});
type Envelope = z.infer<typeof envelopeSchema>;

export interface NormalizeOptions {
  /** The connection's shop: messages of other shops authorized to the same app are skipped. */
  kdtId?: string;
}

export function normalizeYouzan(payload: unknown, options: NormalizeOptions = {}): NormalizedEventInput[] {
  const r = envelopeSchema.safeParse(readEnvelope(payload));
  if (!r.success) throw issueError(r.error, "message");
  const envelope = r.data;
  // Youzan's "send a test message" button and URL check: answer success, record nothing.
  if (envelope.test === true || envelope.test === "true" || envelope.test === 1) return [];
  const shop = idOf(envelope.kdt_id ?? envelope.kdtId);
  if (options.kdtId && shop && shop !== options.kdtId) return [];

  const type = envelope.type;
  const envelopeStatus = typeof envelope.status === "string" && envelope.status.trim() ? canonicalStatus(envelope.status) : undefined;
  const version = versionTime(envelope.version);
  if (Object.hasOwn(TRADE_TYPE_STATUS, type)) {
    const msg = msgOf(envelope);
    const ctx = { storeId: shop, fallbackStatus: envelopeStatus ?? TRADE_TYPE_STATUS[type], fallbackTime: version };
    return "full_order_info" in msg ? snapshotEvents(msg.full_order_info, ctx) : leanEvents(msg, ctx);
  }
  if (REFUND_TYPES.has(type)) {
    const succeeded = type === "trade_refund_RefundSuccess" || (envelopeStatus !== undefined && REFUND_SUCCESS.has(envelopeStatus));
    return succeeded ? refundEvents(msgOf(envelope), version) : [];
  }
  if (CUSTOMER_TYPES.has(type)) {
    if (envelopeStatus && CUSTOMER_IGNORED_STATUSES.has(envelopeStatus)) return [];
    return customerEvents(type, envelope, msgOf(envelope), envelopeStatus, version);
  }
  // New message types appear without notice; a 400 would only make Youzan retry them.
  return [];
}

/** The verified envelope, or the raw body verify could not read (answered 400 here). */
function readEnvelope(payload: unknown): unknown {
  if (!Buffer.isBuffer(payload) && typeof payload !== "string") {
    if (!isRecord(payload)) throw new NormalizationError("expected a Youzan message: a JSON object with type and msg");
    return payload;
  }
  const value = parseJsonBody(payload, parseJsonExact);
  if (!isRecord(value)) throw new NormalizationError("body must be a JSON object with type and msg");
  if (typeof value.msg !== "string") return value;
  const decoded = decodeMsg(value.msg);
  return decoded.ok ? { ...value, msg: decoded.value } : value;
}

/** The decoded msg; verify decodes it, so a string here is one that could not be decoded. */
function msgOf(envelope: Envelope): Record<string, unknown> {
  const msg = envelope.msg;
  if (isRecord(msg)) return msg;
  if (typeof msg === "string") {
    const decoded = decodeMsg(msg);
    if (decoded.ok) return decoded.value;
    throw new NormalizationError(decoded.reason);
  }
  throw new NormalizationError("msg: required (the URL-encoded JSON message)");
}

/** Youzan's `version` is the message's timestamp (seconds in trade messages, milliseconds in SCRM ones). */
function versionTime(version: unknown): string | undefined {
  return version === undefined || version === null ? undefined : youzanTime(typeof version === "number" ? version : String(version));
}

// ---------------------------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------------------------

const refundSchema = z.looseObject({ refund_id: z.unknown(), tid: z.unknown(), refunded_fee: z.unknown(), update_time: z.unknown().optional() });

function refundEvents(msg: Record<string, unknown>, version: string | undefined): NormalizedEventInput[] {
  const r = refundSchema.safeParse(msg);
  if (!r.success) throw issueError(r.error, "msg");
  const refundId = idOf(r.data.refund_id);
  if (!refundId) throw new NormalizationError("msg.refund_id: required (the Youzan refund id)");
  const tid = idOf(r.data.tid);
  if (!tid) throw new NormalizationError("msg.tid: required (the order the refund belongs to)");
  const occurredAt = optionalTime(r.data.update_time, "msg.update_time") ?? version;
  if (!occurredAt) throw new NormalizationError("msg.update_time: required");
  return [
    {
      type: "order.refunded",
      // Both spellings of success (SUCCESS, REFUND_SUCCESS, or the cloud type) are one fact.
      externalId: `refund:${refundId}:REFUND_SUCCESS`,
      occurredAt,
      identities: [],
      payload: { orderId: tid, refundId, amount: fen(r.data.refunded_fee, "msg.refunded_fee") },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Customers and member cards
// ---------------------------------------------------------------------------------------------

/** SCRM_CUSTOMER_EVENT names the customer by `account_type` + `account_id`. */
const ACCOUNT_KINDS: Record<string, "buyer_id" | "fans_id" | "yz_open_id" | "phone"> = {
  YouZanAccount: "buyer_id",
  FansID: "fans_id",
  YzOpenId: "yz_open_id",
  Mobile: "phone",
};

function customerEvents(type: string, envelope: Envelope, msg: Record<string, unknown>, status: string | undefined, version: string | undefined): NormalizedEventInput[] {
  const accountType = typeof msg.account_type === "string" ? msg.account_type : undefined;
  const accountKind = accountType && Object.hasOwn(ACCOUNT_KINDS, accountType) ? ACCOUNT_KINDS[accountType] : undefined;
  const phone = mobileOf(msg.mobile) ?? (accountKind === "phone" ? mobileOf(msg.account_id) : undefined);
  const identities: Identity[] = uniqueIdentities([
    phone ? { type: "phone", value: phone } : undefined,
    ...buyerIdentities(msg).filter((i) => i.type !== "phone"),
    accountKind && accountKind !== "phone" ? buyerIdentity(accountKind, msg.account_id) : undefined,
  ]);
  // Nobody to attach the change to (a masked mobile and no id): acknowledged, nothing to record.
  if (!identities.length) return [];

  const occurredAt = optionalTime(msg.update_time ?? msg.event_time ?? msg.updated_at, "msg.update_time") ?? version;
  if (!occurredAt) throw new NormalizationError("msg.event_time: required (or a version timestamp)");

  const key = customerKey(type, msg, envelope, identities[0]);
  const stamp = envelope.version !== undefined && envelope.version !== null && /^\d{1,16}$/.test(String(envelope.version)) ? String(envelope.version) : occurredAt;
  const payload: Record<string, unknown> = {};
  const name = textOf(msg.name ?? msg.nick_name ?? msg.fans_nickname, 200);
  if (name) payload.displayName = name;
  if (phone) payload.phone = phone;
  const gender = msg.gender === 1 || msg.gender === "1" ? "MALE" : msg.gender === 2 || msg.gender === "2" ? "FEMALE" : undefined;
  if (gender) payload.gender = gender;
  const birthday = birthdayOf(msg.birthday);
  if (birthday) payload.birthday = birthday;
  const province = textOf(msg.province, 100);
  const city = textOf(msg.city, 100);
  if (province || city) payload.region = { country: "CN", ...(province ? { province } : {}), ...(city ? { city } : {}) };
  if (type === "SCRM_CUSTOMER_CARD") {
    const card = { no: idOf(msg.card_no), alias: textOf(msg.card_alias, 100), status };
    payload.attributes = { youzanMemberCard: Object.fromEntries(Object.entries(card).filter(([, v]) => v !== undefined)) };
  }
  const statusKey = status && /^[A-Z0-9_]{1,40}$/.test(status) ? status : "CHANGED";
  let externalId = `customer:${key}:${statusKey}:${stamp}`;
  // Ids are bounded, but not so tightly that every combination fits the 200-character key.
  if (externalId.length > 200) externalId = `customer:sha256:${createHash("sha256").update(externalId, "utf8").digest("hex")}`;
  return [
    {
      type: "customer.upserted",
      externalId,
      occurredAt,
      identities,
      payload,
    },
  ];
}

/** Who the message is about, from the signed msg where it says so. */
function customerKey(type: string, msg: Record<string, unknown>, envelope: Envelope, first: Identity): string {
  if (type === "SCRM_CUSTOMER_CARD") {
    const card = idOf(msg.card_no);
    if (card) return `card:${card}`;
  }
  const account = idOf(msg.account_id);
  const accountType = typeof msg.account_type === "string" && /^[A-Za-z]{1,32}$/.test(msg.account_type) ? msg.account_type : undefined;
  if (account && accountType) return `${accountType}:${account}`;
  const id = idOf(envelope.id);
  if (id) return `id:${id}`;
  return first.type === "phone" ? `phone:${first.value}` : first.value;
}

/** "1992-05-17" (a time part, as some SCRM payloads add, is dropped); anything else is no birthday. */
function birthdayOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}:\d{2})?$/.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  const valid = y >= 1900 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
  return valid ? `${m[1]}-${m[2]}-${m[3]}` : undefined;
}

