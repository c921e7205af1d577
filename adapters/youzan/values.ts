import { parsePhoneNumberFromString } from "libphonenumber-js/max";

/**
 * Youzan's scalar values, read exactly: yuan strings to integer fen, Beijing wall-clock times to
 * instants, ids that may exceed 2^53, and JSON whose big numbers must not be rounded.
 */

/** Largest amount accepted: 13 integer digits of yuan, so fen stay below 2^53. */
const YUAN = /^(\d{1,13})(?:\.(\d{1,2})0*)?$/;

/**
 * "99.90" → 9990, "0.01" → 1, "1234567.89" → 123456789. Digits are split, never parsed as a
 * float (parseFloat("0.29") * 100 is 28.999999999999996). A safe integer is read as whole yuan.
 * Undefined when the value is not a non-negative yuan amount with at most two decimals.
 */
export function yuanToFen(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 && value < 1e13 ? value * 100 : undefined;
  if (typeof value !== "string") return undefined;
  const m = YUAN.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

const BEIJING_OFFSET_MS = 8 * 3600_000;
const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;
const WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * A Youzan time as an ISO-8601 instant in UTC. Youzan writes "2026-11-20 10:15:30" in Beijing time
 * (UTC+8, no daylight saving); ISO strings with an offset and epoch seconds or milliseconds are
 * read too. Undefined for anything else, including impossible dates such as February 30th.
 */
export function youzanTime(value: unknown): string | undefined {
  if (typeof value === "number" || (typeof value === "string" && /^\d{10}(?:\d{3})?$/.test(value))) {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) return undefined;
    const ms = n < 1e11 ? n * 1000 : n;
    return ms < 8.64e15 ? new Date(ms).toISOString() : undefined;
  }
  if (typeof value !== "string") return undefined;
  const m = WALL_CLOCK.exec(value);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
    const utc = Date.UTC(y, mo - 1, d, h, mi, s);
    const check = new Date(utc);
    // Date.UTC rolls 02-30 over into March: a real date comes back with the same fields.
    if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
    return new Date(utc - BEIJING_OFFSET_MS).toISOString();
  }
  if (WITH_OFFSET.test(value)) {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
  }
  return undefined;
}

/** An instant as Youzan's Beijing wall-clock "YYYY-MM-DD HH:mm:ss" (for API query parameters). */
export function toYouzanTime(ms: number): string {
  return new Date(ms + BEIJING_OFFSET_MS).toISOString().slice(0, 19).replace("T", " ");
}

const ID = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * An id as a string: strings of letters, digits, `_` and `-` as they are, safe integers in decimal.
 * Numbers beyond 2^53 never get here as numbers: {@link parseJsonExact} keeps them as their digits.
 * Undefined for empty, zero ("0" means "none" in Youzan's payloads) and anything else.
 */
export function idOf(value: unknown): string | undefined {
  const s = typeof value === "number" ? (Number.isSafeInteger(value) ? String(value) : undefined) : typeof value === "string" ? value.trim() : undefined;
  if (s === undefined || !ID.test(s) || /^0+$/.test(s)) return undefined;
  return s;
}

/**
 * A buyer's mobile in E.164, or undefined when it is absent, masked ("139****5678", which Youzan
 * sends to apps without the privacy scope) or not a valid number. Youzan is a mainland-China
 * platform, so national numbers are read as Chinese. Skipping a doubtful number keeps the rest
 * of the event: the pipeline would reject an event whose phone identity it cannot read.
 */
export function mobileOf(value: unknown): string | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const s = String(value).trim();
  if (!s || s.length > 40 || !/^[+\d][\d\s-]*$/.test(s)) return undefined;
  const parsed = parsePhoneNumberFromString(s, "CN");
  return parsed && parsed.isValid() ? parsed.number : undefined;
}

/** Non-empty trimmed text cut to `max` characters, or undefined. */
export function textOf(value: unknown, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const s = value.trim();
  return s ? [...s].slice(0, max).join("") : undefined;
}

// ---------------------------------------------------------------------------------------------
// JSON with exact numbers
// ---------------------------------------------------------------------------------------------

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * JSON.parse, except that numbers which are not safe integers — ids beyond 2^53 (tid, oid, refund
 * and buyer ids) and decimals (yuan amounts) — become strings of their literal digits, so
 * 2911234567890123456 stays "2911234567890123456" and 99.90 stays "99.90" instead of being rounded.
 * Throws SyntaxError exactly when JSON.parse would.
 */
export function parseJsonExact(text: string): unknown {
  let out = "";
  let copied = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string literal: digits inside it are text, not numbers.
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) {
        i++;
        continue;
      }
      const token = m[0];
      const end = i + token.length;
      if (!Number.isSafeInteger(Number(token)) && !followedByColon(text, end)) {
        out += `${text.slice(copied, i)}"${token}"`;
        copied = end;
      }
      i = end;
      continue;
    }
    i++;
  }
  return JSON.parse(copied === 0 ? text : out + text.slice(copied));
}

/**
 * A number before a colon sits where only a key may: quoting it would turn invalid JSON
 * (`{1.5: 1}`) into valid JSON, so it is left for JSON.parse to refuse.
 */
function followedByColon(text: string, from: number): boolean {
  for (let j = from; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === 0x3a;
  }
  return false;
}

/** A JSON object that is a plain record (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * Youzan's `msg`: URL-encoded JSON. Youzan's services use two encoders — one writes spaces as `%20`
 * and leaves `+` alone, the other (form encoding) writes spaces as `+` — so `+` means a space
 * unless the text also holds `%20`. Plain JSON (starting with `{`), as the cloud form may send it,
 * is read as it is. Returns the object, or a reason why it cannot be read.
 */
export function decodeMsg(raw: string): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  const trimmed = raw.trim();
  if (!trimmed) return { ok: false, reason: "msg is empty" };
  if (trimmed.startsWith("{")) {
    const plain = parseObject(trimmed);
    if (plain.ok) return plain;
  }
  let json: string;
  try {
    json = decodeURIComponent(trimmed.includes("%20") ? trimmed : trimmed.replace(/\+/g, " "));
  } catch {
    return { ok: false, reason: "msg is not valid URL-encoded UTF-8" };
  }
  return parseObject(json);
}

function parseObject(json: string): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = parseJsonExact(json);
  } catch (err) {
    return { ok: false, reason: `msg is not valid JSON: ${(err as Error).message}` };
  }
  return isRecord(value) ? { ok: true, value } : { ok: false, reason: "msg must be a JSON object" };
}
