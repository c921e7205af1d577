import { createHmac, timingSafeEqual } from "node:crypto";

import { VerificationError, type ChannelRequest } from "../../src/plugins";
import { parseJsonExact } from "./normalize";

/**
 * The replay webhook's authentication. Taobao itself never calls the webhook (it delivers through
 * TMC); the webhook lets an operator re-feed TMC messages — from `taobao.tmc.messages.consume`, a
 * log, a dead-letter file — signed like the http-json channel: `X-CRM-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256(appSecret, "<t>.<raw body>")>`, within 300 s of the server clock.
 * The key is the connection's app secret, which whoever may feed this shop's messages already holds.
 */

export const REPLAY_SIGNATURE_HEADER = "x-crm-signature";
export const REPLAY_TOLERANCE_SECONDS = 300;

const MAX_HEADER_LENGTH = 2048;
const MAX_SIGNATURES = 8;
const MALFORMED = "malformed X-CRM-Signature header: expected t=<unix seconds>,v1=<hex HMAC-SHA256>";

/** The X-CRM-Signature value for a replay `body` signed with the app secret at `t` (unix seconds, default now). */
export function signTaobaoReplay(appSecret: string, body: string | Buffer, t: number = Math.floor(Date.now() / 1000)): string {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError("t must be a non-negative integer (unix seconds)");
  return `t=${t},v1=${hmacHex(appSecret, t, typeof body === "string" ? Buffer.from(body, "utf8") : body)}`;
}

/** Checks the signature and freshness; returns the body as exactly parsed JSON, or the raw bytes for normalize to refuse. */
export function verifyReplay(req: ChannelRequest, appSecret: string): unknown {
  const header = Object.entries(req.headers).find(([k]) => k.toLowerCase() === REPLAY_SIGNATURE_HEADER)?.[1];
  if (header === undefined || header.trim() === "") {
    throw new VerificationError("taobao delivers through TMC, not webhooks; this URL only takes replays signed with X-CRM-Signature (missing)");
  }
  if (header.length > MAX_HEADER_LENGTH) throw new VerificationError(`${MALFORMED} (longer than ${MAX_HEADER_LENGTH} characters)`);
  let t: number | undefined;
  const v1: Buffer[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new VerificationError(MALFORMED);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (t !== undefined || !/^\d{1,12}$/.test(value)) throw new VerificationError(`${MALFORMED} (one t in unix seconds)`);
      t = Number(value);
    } else if (key === "v1") {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new VerificationError(`${MALFORMED} (v1 must be 64 hexadecimal characters)`);
      v1.push(Buffer.from(value, "hex"));
    }
  }
  if (t === undefined || v1.length === 0 || v1.length > MAX_SIGNATURES) throw new VerificationError(`${MALFORMED} (one t and 1–${MAX_SIGNATURES} v1)`);
  const skew = Math.floor(req.receivedAt.getTime() / 1000) - t;
  if (!(Math.abs(skew) <= REPLAY_TOLERANCE_SECONDS)) {
    throw new VerificationError(`X-CRM-Signature timestamp is ${Number.isNaN(skew) ? "unusable" : `${Math.abs(skew)} s ${skew > 0 ? "old" : "ahead"}`} (tolerance ${REPLAY_TOLERANCE_SECONDS} s)`);
  }
  const expected = Buffer.from(hmacHex(appSecret, t, req.rawBody), "hex");
  let matched = false;
  for (const candidate of v1) matched = timingSafeEqual(candidate, expected) || matched;
  if (!matched) throw new VerificationError("signature mismatch: no v1 signature matches this connection's app secret");
  try {
    const value = parseJsonExact(new TextDecoder("utf-8", { fatal: true }).decode(req.rawBody));
    return typeof value === "object" && value !== null ? value : req.rawBody;
  } catch {
    return req.rawBody;
  }
}

function hmacHex(secret: string, t: number, body: Buffer): string {
  return createHmac("sha256", secret).update(`${t}.`, "utf8").update(body).digest("hex");
}
