import { gunzipSync } from "node:zlib";

import { NormalizationError, parseJsonBody, type NormalizedEventInput } from "../../src/plugins";
import type { TmcValue } from "./frame";

/**
 * Taobao trade and refund messages → normalized events. Pure functions: the TMC consumer and the
 * replay webhook both end here.
 */

/**
 * A TMC message as the Taobao SDKs and the `taobao.tmc.messages.consume` API name its fields.
 * `content` is the topic's JSON document as a string; ids are decimal strings (they exceed 2^53).
 */
export interface TmcMessage {
  id: string;
  topic: string;
  /** App key of the publisher (Taobao's own for trade messages). */
  pub_app_key?: string;
  /** When Taobao published the change: ISO-8601, or `yyyy-MM-dd HH:mm:ss` in Beijing time as the API answers. */
  pub_time?: string;
  /** The seller (shop owner) the message is about — not the buyer. */
  user_id?: string;
  /** The seller's nick. */
  user_nick?: string;
  content: string;
}

export const CURRENCY = "CNY";

type Transition = "placed" | "paid" | "completed" | "cancelled";

/** Trade topics and the order transition each reports. Anything else is acknowledged and ignored. */
export const TRADE_TOPICS: Readonly<Record<string, Transition>> = {
  taobao_trade_TradeCreate: "placed",
  taobao_trade_TradeBuyerPay: "paid",
  // Shipped implies paid; the CRM has no shipped state. Keyed like TradeBuyerPay, so whichever of the
  // two arrives second is a duplicate.
  taobao_trade_TradeSellerShip: "paid",
  taobao_trade_TradeSuccess: "completed",
  taobao_trade_TradeClose: "cancelled",
};

/** A refund becomes `order.refunded` only once the money went back; requests can still be refused or closed. */
export const REFUND_TOPICS: readonly string[] = ["taobao_refund_RefundSuccess"];

const MAX_MESSAGES = 200;
const MAX_CONTENT_BYTES = 1024 * 1024;
const DIGITS = /^\d{1,30}$/;

/** `id`, `userid`… from a frame: Int64 (bigint), smaller ints, or strings — as decimal strings. */
function idString(v: unknown): string | undefined {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  if (typeof v === "string" && DIGITS.test(v.trim())) return v.trim();
  return undefined;
}

/**
 * A data frame's custom headers as a TmcMessage (the wire names `publisher`, `time`, `userid`, `nick`
 * become `pub_app_key`, `pub_time`, `user_id`, `user_nick`). Content sent as a byte array is gzip, as
 * the SDKs unzip it. Throws NormalizationError when the frame is not a usable message.
 */
export function tmcMessageFromFrame(fields: Readonly<Record<string, TmcValue>>): TmcMessage {
  const id = idString(fields.id);
  if (id === undefined) throw new NormalizationError("message has no numeric id");
  if (typeof fields.topic !== "string" || !fields.topic) throw new NormalizationError("message has no topic");
  let content: string;
  if (typeof fields.content === "string") content = fields.content;
  else if (Buffer.isBuffer(fields.content)) {
    try {
      content = new TextDecoder("utf-8", { fatal: true }).decode(gunzipSync(fields.content, { maxOutputLength: MAX_CONTENT_BYTES }));
    } catch (err) {
      throw new NormalizationError(`content is a byte array but not gzip-compressed UTF-8 (${(err as Error).message})`);
    }
  } else content = "";
  const message: TmcMessage = { id, topic: fields.topic, content };
  if (typeof fields.publisher === "string") message.pub_app_key = fields.publisher;
  if (fields.time instanceof Date) message.pub_time = fields.time.toISOString();
  const userId = idString(fields.userid);
  if (userId !== undefined) message.user_id = userId;
  if (typeof fields.nick === "string") message.user_nick = fields.nick;
  return message;
}

const NUMBER_CHARS = new Set([..."0123456789eE+-."].map((c) => c.charCodeAt(0)));

/**
 * JSON.parse, except that every number comes back as the exact text of its literal (a string), so
 * `tid` 4012345678901234567 stays that and "199.00" money cannot go through a float. Throws
 * SyntaxError for invalid JSON.
 */
export function parseJsonExact(text: string): unknown {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      // Skip the string, escapes included.
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
      i++;
    } else if (ch === 0x2d /* - */ || (ch >= 0x30 && ch <= 0x39)) {
      let end = i + 1;
      while (end < text.length && NUMBER_CHARS.has(text.charCodeAt(end))) end++;
      const literal = text.slice(i, end);
      if (!/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(literal)) throw new SyntaxError(`invalid number ${literal.slice(0, 40)} at position ${i}`);
      out.push(text.slice(start, i), '"', literal, '"');
      start = i = end;
    } else i++;
  }
  out.push(text.slice(start));
  return JSON.parse(out.join(""));
}

/** Yuan as Taobao writes it ("199.00", "0.5", "12") → integer fen, by string arithmetic. */
export function yuanToFen(value: unknown, field: string): number {
  const text = typeof value === "string" ? value.trim() : typeof value === "number" && Number.isSafeInteger(value) ? String(value) : undefined;
  // 13 integer digits keep every amount below Number.MAX_SAFE_INTEGER fen.
  const m = text === undefined ? null : /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(text);
  if (!m) throw new NormalizationError(`${field}: expected an amount in yuan such as "199.00", got ${describe(value)}`);
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** Beijing time, which Taobao's `yyyy-MM-dd HH:mm:ss` times are in. */
const BEIJING = "+08:00";

/** pub_time → ISO-8601 UTC. Accepts ISO-8601 with Z or an offset, Taobao's `yyyy-MM-dd HH:mm:ss[.SSS]` (Beijing), or epoch milliseconds. */
export function occurredAt(value: unknown, field = "pub_time"): string {
  let ms = Number.NaN;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "string") {
    const s = value.trim();
    if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?$/.test(s)) ms = Date.parse(`${s.replace(" ", "T")}${BEIJING}`);
    else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(s)) ms = Date.parse(s);
    else if (/^\d{12,13}$/.test(s)) ms = Number(s);
  } else if (typeof value === "number" && Number.isSafeInteger(value)) ms = value;
  // Within years 2000–2999: anything else is a broken clock or field, not a trade.
  if (!(ms >= 946_684_800_000 && ms < 32_503_680_000_000)) {
    throw new NormalizationError(`${field}: expected a time such as "2026-11-11 10:00:00" (Beijing) or ISO-8601, got ${describe(value)}`);
  }
  return new Date(ms).toISOString();
}

/**
 * One TMC message → its events: none for topics this adapter does not map (they are still
 * acknowledged), one for trade transitions and successful refunds. Throws NormalizationError when a
 * mapped message lacks what its event needs.
 *
 * externalIds name the fact, not the delivery: `trade:<tid>:<placed|paid|completed|cancelled>` and
 * `refund:<refund_id>`. A redelivered message (same id) gives the same key, and so does the same fact
 * published again under a new message id — TradeSellerShip after TradeBuyerPay, or a message resent
 * from the TMC console — which a `tmc:<message id>` key would apply twice.
 */
export function normalizeTmcMessage(message: unknown): NormalizedEventInput[] {
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    throw new NormalizationError(`a TMC message must be an object, got ${describe(message)}`);
  }
  const m = message as Record<string, unknown>;
  if (typeof m.topic !== "string" || !m.topic) throw new NormalizationError("topic: missing");
  const transition = Object.hasOwn(TRADE_TOPICS, m.topic) ? TRADE_TOPICS[m.topic] : undefined;
  const refund = REFUND_TOPICS.includes(m.topic);
  if (!transition && !refund) return [];

  if (typeof m.content !== "string") throw new NormalizationError(`content: expected the topic's JSON document as a string, got ${describe(m.content)}`);
  let content: unknown;
  try {
    content = parseJsonExact(m.content);
  } catch (err) {
    throw new NormalizationError(`content: not valid JSON (${(err as Error).message})`);
  }
  if (typeof content !== "object" || content === null || Array.isArray(content)) throw new NormalizationError(`content: expected a JSON object, got ${describe(content)}`);
  const c = content as Record<string, unknown>;
  const at = occurredAt(m.pub_time);
  const tid = idString(c.tid);
  if (tid === undefined) throw new NormalizationError(`content.tid: expected the trade number, got ${describe(c.tid)}`);
  // buyer_open_uid is the buyer's id for this app; nicks (buyer_nick) are masked and never identify anyone.
  const openUid = typeof c.buyer_open_uid === "string" ? c.buyer_open_uid.trim() : "";
  const identities = openUid ? [{ type: "taobao_buyer" as const, value: openUid }] : [];

  if (refund) {
    const refundId = idString(c.refund_id);
    if (refundId === undefined) throw new NormalizationError(`content.refund_id: expected the refund number, got ${describe(c.refund_id)}`);
    return [
      {
        type: "order.refunded",
        externalId: `refund:${refundId}`,
        occurredAt: at,
        identities,
        payload: { orderId: tid, refundId, amount: yuanToFen(c.refund_fee, "content.refund_fee") },
      },
    ];
  }
  // Cash on delivery is shipped before it is paid.
  if (m.topic === "taobao_trade_TradeSellerShip" && c.type === "cod") return [];
  const payload: { orderId: string; currency: string; total: number; shipping?: number; storeId?: string } = {
    orderId: tid,
    currency: CURRENCY,
    total: yuanToFen(c.payment, "content.payment"),
  };
  if (c.post_fee !== undefined && c.post_fee !== null && c.post_fee !== "") payload.shipping = yuanToFen(c.post_fee, "content.post_fee");
  const seller = idString(m.user_id);
  if (seller !== undefined) payload.storeId = seller;
  return [{ type: `order.${transition!}`, externalId: `trade:${tid}:${transition}`, occurredAt: at, identities, payload }];
}

/**
 * What the replay webhook accepts: one TMC message object or an array of them, as parsed JSON or as
 * raw UTF-8 JSON text (numbers are read exactly).
 */
export function normalizeTmcPayload(payload: unknown): NormalizedEventInput[] {
  const value = typeof payload === "string" || Buffer.isBuffer(payload) ? parseJsonBody(payload, parseJsonExact) : payload;
  if (!Array.isArray(value)) return normalizeTmcMessage(value);
  if (value.length > MAX_MESSAGES) throw new NormalizationError(`too many messages: ${value.length} (at most ${MAX_MESSAGES} per request)`);
  const events = value.flatMap((m, i) => {
    try {
      return normalizeTmcMessage(m);
    } catch (err) {
      if (err instanceof NormalizationError) throw new NormalizationError(`messages[${i}]: ${err.message}`);
      throw err;
    }
  });
  // One fact reported twice in a batch (TradeBuyerPay and TradeSellerShip): the first stands, as the
  // pipeline would decide — keys stay unique within a request.
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.externalId) && Boolean(seen.add(e.externalId)));
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}
