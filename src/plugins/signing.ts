import { createHmac, timingSafeEqual } from "node:crypto";
import { VerificationError, type ChannelRequest } from "./types";

/**
 * The CRM request signature, for channels whose producers sign requests themselves (http-json,
 * POS, anything a partner builds): `X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
 * "<t>.<raw body>")>`. Several `v1` entries may be sent (any one matching passes) so a secret can be
 * rotated without downtime; other schemes are ignored, so producers can send a future one early.
 */
export const CRM_SIGNATURE_HEADER = "x-crm-signature";
/** How far the signed timestamp may be from the server clock, either way. */
export const CRM_SIGNATURE_TOLERANCE_SECONDS = 300;

// Bounds that keep a hostile header from costing more than a few microseconds to parse.
const MAX_HEADER_LENGTH = 2048;
const MAX_SIGNATURES = 8;
const MALFORMED = "malformed X-CRM-Signature header: expected t=<unix seconds>,v1=<hex HMAC-SHA256>";

/** The header value for `body` signed with `secret` at `t` (unix seconds, default now). Sign the exact bytes you send. */
export function signCrmRequest(secret: string, body: string | Buffer, t: number = Math.floor(Date.now() / 1000)): string {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError("t must be a non-negative integer (unix seconds)");
  return `t=${t},v1=${hmac(secret, t, typeof body === "string" ? Buffer.from(body, "utf8") : body).toString("hex")}`;
}

/** Throws VerificationError (with the reason) unless `req` carries a fresh signature of its raw body by `secret`. */
export function verifyCrmSignature(req: ChannelRequest, secret: string, toleranceSeconds = CRM_SIGNATURE_TOLERANCE_SECONDS): void {
  const { t, v1 } = parseHeader(requestHeader(req, CRM_SIGNATURE_HEADER));
  const skew = Math.floor(req.receivedAt.getTime() / 1000) - t;
  if (Number.isNaN(skew)) throw new VerificationError("request has no valid receive time");
  // Old timestamps bound how long a captured request can be replayed; future ones would let a fast
  // clock mint requests that stay replayable for longer.
  if (skew > toleranceSeconds) {
    throw new VerificationError(`stale X-CRM-Signature timestamp: ${skew} s older than the server clock (tolerance ${toleranceSeconds} s)`);
  }
  if (-skew > toleranceSeconds) {
    throw new VerificationError(`X-CRM-Signature timestamp is ${-skew} s ahead of the server clock (tolerance ${toleranceSeconds} s)`);
  }
  const expected = hmac(secret, t, req.rawBody);
  // Every candidate is compared, in constant time, so timing tells nothing about which one matched.
  let matched = false;
  for (const candidate of v1) matched = timingSafeEqual(candidate, expected) || matched;
  if (!matched) throw new VerificationError("signature mismatch: no v1 signature matches this connection's secret");
}

/** A request header by name, case-insensitively (the host lower-cases names; a hand-built request may not). */
export function requestHeader(req: ChannelRequest, name: string): string | undefined {
  const lower = name.toLowerCase();
  if (typeof req.headers[lower] === "string") return req.headers[lower];
  for (const [key, value] of Object.entries(req.headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

function hmac(secret: string, t: number, body: Buffer): Buffer {
  return createHmac("sha256", secret).update(`${t}.`, "utf8").update(body).digest();
}

function parseHeader(value: string | undefined): { t: number; v1: Buffer[] } {
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
  }
  if (t === undefined) throw new VerificationError(`${MALFORMED} (no t)`);
  if (v1.length === 0) throw new VerificationError(`${MALFORMED} (no v1 signature)`);
  if (v1.length > MAX_SIGNATURES) throw new VerificationError(`${MALFORMED} (more than ${MAX_SIGNATURES} v1 signatures)`);
  return { t, v1 };
}
