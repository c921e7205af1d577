import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

import {
  definePlugin,
  NormalizationError,
  VerificationError,
  type ChannelRequest,
  type NormalizedEventInput,
} from "../../src/plugins";

/**
 * The generic signed channel: any producer (an ETL job, a mini-program backend, a partner's
 * middleware) POSTs normalized events v1 as JSON, signed Stripe-style with a per-connection secret.
 * See README.md beside this file for the wire format.
 */

/** Lower-cased: the host hands headers over lower-cased. */
export const SIGNATURE_HEADER = "x-crm-signature";
/** How far the signed timestamp may be from the server clock, either way. */
export const TOLERANCE_SECONDS = 300;
/** Most events one request may carry; bigger batches are split by the producer. */
export const MAX_EVENTS = 1000;

// Bounds that keep a hostile header from costing more than a few microseconds to parse.
const MAX_HEADER_LENGTH = 2048;
const MAX_SIGNATURES = 8;

const configSchema = z.object({
  secret: z.string().min(16, "must be at least 16 characters"),
});
export type HttpJsonConfig = z.infer<typeof configSchema>;

/**
 * The `X-CRM-Signature` value for `body` signed with `secret` at `t` (unix seconds, default now):
 * `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Sign the exact bytes you send.
 */
export function signHttpJson(secret: string, body: string | Buffer, t: number = Math.floor(Date.now() / 1000)): string {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError("t must be a non-negative integer (unix seconds)");
  return `t=${t},v1=${hmacHex(secret, t, typeof body === "string" ? Buffer.from(body, "utf8") : body)}`;
}

export const httpJsonPlugin = definePlugin<HttpJsonConfig>({
  name: "http-json",
  version: "1.0.0",
  description: "Generic channel: normalized events v1 as JSON, signed with HMAC-SHA256 (X-CRM-Signature).",
  configSchema,
  secretKeys: ["secret"],
  channel: {
    verify(req, connection) {
      const signature = parseSignatureHeader(findHeader(req, SIGNATURE_HEADER));
      checkTimestamp(signature.t, req.receivedAt);
      const expected = Buffer.from(hmacHex(connection.config.secret, signature.t, req.rawBody), "hex");
      // Any matching v1 passes, so producers can sign with the old and the new secret while a
      // connection's secret is rotated. Every candidate is compared, in constant time.
      let matched = false;
      for (const candidate of signature.v1) matched = timingSafeEqual(candidate, expected) || matched;
      if (!matched) throw new VerificationError("signature mismatch: no v1 signature matches this connection's secret");
      return parseBody(req.rawBody);
    },

    normalize(payload) {
      // verify hands over the raw bytes when they are not a JSON object; parsing them here gives the
      // producer the reason with a 400. Raw text is accepted too, so normalize can be used on its own.
      const body = typeof payload === "string" || Buffer.isBuffer(payload) ? parseRaw(payload) : payload;
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new NormalizationError(`body must be a JSON object {"events": [...]}, got ${kindOf(body)}`);
      }
      const events = (body as { events?: unknown }).events;
      if (!Array.isArray(events)) {
        throw new NormalizationError(`"events" must be an array of normalized events, got ${kindOf(events)}`);
      }
      if (events.length > MAX_EVENTS) {
        throw new NormalizationError(`too many events: ${events.length} (at most ${MAX_EVENTS} per request)`);
      }
      // Passed through untouched: the host validates each event and answers per event, so one bad
      // event (even a non-object) is reported as rejected without failing its neighbours.
      return events as NormalizedEventInput[];
    },
    // No acknowledge: the host's default 200 {"results": [...]} in request order is this channel's answer.
  },
});

export default httpJsonPlugin;

interface ParsedSignature {
  t: number;
  v1: Buffer[];
}

function hmacHex(secret: string, t: number, body: Buffer): string {
  return createHmac("sha256", secret).update(`${t}.`, "utf8").update(body).digest("hex");
}

function findHeader(req: ChannelRequest, name: string): string | undefined {
  if (typeof req.headers[name] === "string") return req.headers[name];
  // The contract promises lower-cased names; a hand-built request may not keep that promise.
  for (const [key, value] of Object.entries(req.headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

const MALFORMED = "malformed X-CRM-Signature header: expected t=<unix seconds>,v1=<hex HMAC-SHA256>";

function parseSignatureHeader(value: string | undefined): ParsedSignature {
  if (value === undefined || value.trim() === "") throw new VerificationError("missing X-CRM-Signature header");
  if (value.length > MAX_HEADER_LENGTH) throw new VerificationError(`${MALFORMED} (header longer than ${MAX_HEADER_LENGTH} characters)`);
  let t: number | undefined;
  const v1: Buffer[] = [];
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new VerificationError(MALFORMED);
    const key = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (key === "t") {
      if (t !== undefined) throw new VerificationError(`${MALFORMED} (more than one t)`);
      if (!/^\d{1,12}$/.test(val)) throw new VerificationError(`${MALFORMED} (t must be unix seconds)`);
      t = Number(val);
    } else if (key === "v1") {
      if (!/^[0-9a-fA-F]{64}$/.test(val)) throw new VerificationError(`${MALFORMED} (v1 must be 64 hexadecimal characters)`);
      v1.push(Buffer.from(val, "hex"));
    }
    // Other schemes (a future v2) are ignored, so producers can send them ahead of the server.
  }
  if (t === undefined) throw new VerificationError(`${MALFORMED} (no t)`);
  if (v1.length === 0) throw new VerificationError(`${MALFORMED} (no v1 signature)`);
  if (v1.length > MAX_SIGNATURES) throw new VerificationError(`${MALFORMED} (more than ${MAX_SIGNATURES} v1 signatures)`);
  return { t, v1 };
}

function checkTimestamp(t: number, receivedAt: Date): void {
  const skew = Math.floor(receivedAt.getTime() / 1000) - t;
  if (Number.isNaN(skew)) throw new VerificationError("request has no valid receive time");
  // Rejecting old timestamps bounds how long a captured request can be replayed; rejecting future
  // ones stops a producer with a fast clock from minting requests that stay replayable for longer.
  if (skew > TOLERANCE_SECONDS) {
    throw new VerificationError(`stale X-CRM-Signature timestamp: ${skew} s older than the server clock (tolerance ${TOLERANCE_SECONDS} s)`);
  }
  if (-skew > TOLERANCE_SECONDS) {
    throw new VerificationError(`X-CRM-Signature timestamp is ${-skew} s ahead of the server clock (tolerance ${TOLERANCE_SECONDS} s)`);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The parsed JSON object, or else the raw bytes unchanged: verify only vouches for authenticity,
 * and normalize turns an unreadable body into a 400 with the precise reason.
 */
function parseBody(rawBody: Buffer): unknown {
  try {
    const value: unknown = JSON.parse(utf8.decode(rawBody));
    return typeof value === "object" && value !== null ? value : rawBody;
  } catch {
    return rawBody;
  }
}

/** Raw bytes or text to a JSON value; NormalizationError saying what is wrong with it. */
function parseRaw(raw: Buffer | string): unknown {
  let text: string;
  try {
    // Fatal decoding: replacing bad bytes with U+FFFD would silently corrupt names and addresses.
    text = typeof raw === "string" ? raw : utf8.decode(raw);
  } catch {
    throw new NormalizationError("body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new NormalizationError(`body is not valid JSON: ${(err as Error).message}`);
  }
}

function kindOf(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
