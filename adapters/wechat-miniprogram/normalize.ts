import { NormalizationError, type NormalizedEventInput } from "../../src/plugins";
import { ParseError, parseFields, type Fields } from "./parse";

/**
 * Mini-program customer-service pushes (客服消息) → normalized events. Pure: the same message
 * always gives the same events and externalIds, so WeChat's retries (it resends a message it got
 * no answer for within 5 s) are duplicates for the pipeline.
 *
 * | MsgType / Event                  | Event              | externalId                                   |
 * | -------------------------------- | ------------------ | -------------------------------------------- |
 * | text                             | message.received   | `msg:<MsgId>`                                |
 * | image                            | message.received   | `msg:<MsgId>`                                |
 * | miniprogrampage (a card)         | message.received   | `msg:<MsgId>`                                |
 * | event / user_enter_tempsession   | message.received   | `event:<FromUserName>:<CreateTime>:<Event>`  |
 * | anything else                    | none (acknowledged, so WeChat does not retry)     |
 */

/** Kinds of message this adapter turns into events; others are acknowledged and ignored. */
export const MESSAGE_TYPES = ["text", "image", "miniprogrampage"] as const;
export const EVENT_TYPES = ["user_enter_tempsession"] as const;

/** An openid or unionid as WeChat issues them (28 characters today; a little slack for the future). */
const WECHAT_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** MsgId is a 64-bit unsigned integer; kept as its digits. */
const MSG_ID = /^[0-9]{1,20}$/;

/** The authentic message (bytes, as verify hands them over) → events. */
export function normalizeMessage(payload: unknown): NormalizedEventInput[] {
  if (!Buffer.isBuffer(payload) && typeof payload !== "string") throw new NormalizationError("expected the message body (XML or JSON)");
  let fields: Fields;
  try {
    fields = parseFields(Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8")).fields;
  } catch (err) {
    if (err instanceof ParseError) throw new NormalizationError(err.message);
    throw err;
  }
  return messageEvents(fields);
}

/** Parsed fields → events; exported for tests that build fields directly. */
export function messageEvents(fields: Fields): NormalizedEventInput[] {
  const msgType = text(fields, "MsgType");
  if (msgType === undefined) throw new NormalizationError("MsgType: required");
  const isMessage = (MESSAGE_TYPES as readonly string[]).includes(msgType);
  const event = msgType === "event" ? text(fields, "Event") : undefined;
  const isEvent = event !== undefined && (EVENT_TYPES as readonly string[]).includes(event);
  // WeChat adds kinds without notice; a 4xx would only make it retry a message we will never read.
  if (!isMessage && !isEvent) return [];

  const openid = wechatId(fields, "FromUserName", true)!;
  const unionid = wechatId(fields, "UnionId", false) ?? wechatId(fields, "unionid", false);
  const createTime = required(fields, "CreateTime");
  if (!/^[0-9]{1,11}$/.test(createTime) || Number(createTime) === 0) throw new NormalizationError("CreateTime: must be unix seconds");
  const occurredAt = new Date(Number(createTime) * 1000).toISOString();
  const identities = [{ type: "wechat_openid" as const, value: openid }, ...(unionid ? [{ type: "wechat_unionid" as const, value: unionid }] : [])];

  if (isEvent) {
    const sessionFrom = optional(fields, "SessionFrom");
    return [
      {
        type: "message.received",
        externalId: `event:${openid}:${createTime}:${event}`,
        occurredAt,
        identities,
        payload: { threadId: openid, subject: event, ...(sessionFrom ? { text: sessionFrom } : {}) },
      },
    ];
  }

  const msgId = required(fields, "MsgId");
  if (!MSG_ID.test(msgId)) throw new NormalizationError("MsgId: must be an unsigned integer");
  const base = { type: "message.received" as const, externalId: `msg:${msgId}`, occurredAt, identities };
  switch (msgType) {
    case "text":
      return [{ ...base, payload: { threadId: openid, text: required(fields, "Content", true) } }];
    case "image": {
      const url = optional(fields, "PicUrl");
      const mediaId = optional(fields, "MediaId");
      if (!url && !mediaId) throw new NormalizationError("PicUrl or MediaId: required for an image");
      return [{ ...base, payload: { threadId: openid, attachments: [{ type: "image", ...(url ? { url } : {}), ...(mediaId ? { mediaId } : {}) }] } }];
    }
    default: {
      // miniprogrampage: a card of one of the merchant's pages, shared into the chat.
      const title = optional(fields, "Title");
      const pagePath = optional(fields, "PagePath");
      const thumbUrl = optional(fields, "ThumbUrl");
      const thumbMediaId = optional(fields, "ThumbMediaId");
      if (!pagePath) throw new NormalizationError("PagePath: required for a miniprogrampage card");
      const card = { type: "miniprogrampage", url: pagePath, ...(title ? { name: title } : {}) };
      const thumb = thumbUrl || thumbMediaId ? [{ type: "thumbnail", ...(thumbUrl ? { url: thumbUrl } : {}), ...(thumbMediaId ? { mediaId: thumbMediaId } : {}) }] : [];
      return [{ ...base, payload: { threadId: openid, ...(title ? { subject: title } : {}), attachments: [card, ...thumb] } }];
    }
  }
}

/**
 * A field's text: XML gives strings; JSON gives strings or numbers (ids and times). Absent, empty
 * or `null` is undefined; a nested or repeated element is a NormalizationError naming it.
 */
function text(fields: Fields, name: string): string | undefined {
  if (!Object.hasOwn(fields, name)) return undefined;
  const v = fields[name];
  if (v === null || v === undefined || v === "") return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return String(v);
  throw new NormalizationError(`${name}: must be a single text value`);
}

function required(fields: Fields, name: string, keepWhitespace = false): string {
  const v = text(fields, name);
  const value = v === undefined ? undefined : keepWhitespace ? v : v.trim();
  if (!value) throw new NormalizationError(`${name}: required`);
  return value;
}

function optional(fields: Fields, name: string): string | undefined {
  const v = text(fields, name)?.trim();
  return v ? v : undefined;
}

function wechatId(fields: Fields, name: string, mandatory: boolean): string | undefined {
  const v = mandatory ? required(fields, name) : optional(fields, name);
  if (v !== undefined && !WECHAT_ID.test(v)) throw new NormalizationError(`${name}: not a WeChat openid/unionid`);
  return v;
}
