import { createHash, timingSafeEqual } from "node:crypto";

import { parseJsonBody, VerificationError, type ChannelRequest } from "../../src/plugins";
import { decodeMsg, isRecord, parseJsonExact } from "./values";

/**
 * Authenticity of Youzan pushes. Two forms reach the same webhook URL:
 *
 * - **push** (the classic form): a JSON envelope whose `sign` is
 *   `md5(client_id + msg + client_secret)`, hex lower-case, computed over `msg` exactly as sent
 *   (still URL-encoded). Only `client_id` and `msg` are signed: the rest of the envelope (`type`,
 *   `status`, `kdt_id`, `test`…) is not, which is why normalize takes business data from `msg`.
 * - **cloud** (Youzan Cloud's newer push): the same message fields as a JSON body, signed as a
 *   whole in the `Event-Sign` header: `md5(client_id + raw body + client_secret)`.
 */

/** Lower-cased, as the host hands headers over. */
export const SIGN_HEADER = "event-sign";
export const CLIENT_ID_HEADER = "client-id";

const MD5_HEX = /^[0-9a-f]{32}$/;

export interface YouzanCredentials {
  clientId: string;
  clientSecret: string;
}

/** Youzan's signature: md5 of the bytes of client id, content and secret, in lower-case hex. */
export function youzanSign(clientId: string, content: string | Buffer, clientSecret: string): string {
  return createHash("md5")
    .update(clientId, "utf8")
    .update(typeof content === "string" ? Buffer.from(content, "utf8") : content)
    .update(clientSecret, "utf8")
    .digest("hex");
}

/**
 * The verified payload: the envelope with `msg` decoded to an object (ids beyond 2^53 kept as
 * exact strings), or with `msg` left as received when it cannot be decoded, so that normalize
 * answers 400 with the reason. A cloud body that is not a JSON object comes back as its raw bytes,
 * for the same reason. Throws VerificationError (401) when the request is not authentic.
 */
export function verifyYouzan(req: ChannelRequest, creds: YouzanCredentials): unknown {
  const headerSign = req.headers[SIGN_HEADER];
  return headerSign !== undefined ? verifyCloud(req, headerSign, creds) : verifyPush(req.rawBody, creds);
}

function verifyCloud(req: ChannelRequest, headerSign: string, creds: YouzanCredentials): unknown {
  const given = headerSign.trim();
  if (!MD5_HEX.test(given)) throw new VerificationError("malformed Event-Sign header: expected 32 lower-case hexadecimal characters (md5)");
  const headerClient = req.headers[CLIENT_ID_HEADER];
  if (headerClient !== undefined) checkClientId(headerClient.trim(), creds.clientId, "Client-Id header");
  if (!sameText(given, youzanSign(creds.clientId, req.rawBody, creds.clientSecret))) {
    throw new VerificationError("Event-Sign does not match md5(client_id + body + client_secret) for this connection");
  }
  // Authentic from here on: anything unreadable is normalize's 400, not a 401.
  const body = parseBody(req.rawBody);
  if (!isRecord(body)) return req.rawBody;
  const bodyClient = body.client_id ?? body.clientId;
  if (bodyClient !== undefined) checkClientId(String(bodyClient), creds.clientId, "client_id");
  return withDecodedMsg(body);
}

function verifyPush(rawBody: Buffer, creds: YouzanCredentials): unknown {
  const body = parseBody(rawBody);
  // The signature lives inside the envelope: a body we cannot read cannot be authenticated.
  if (!isRecord(body)) throw new VerificationError("not a Youzan push: the body must be a JSON object with client_id, msg and sign (or an Event-Sign header)");
  const { client_id: clientId, msg, sign } = body;
  if (typeof clientId !== "string" || !clientId) throw new VerificationError("not a Youzan push: client_id is missing");
  if (typeof msg !== "string") throw new VerificationError("not a Youzan push: msg must be the URL-encoded message string");
  if (typeof sign !== "string" || !sign) throw new VerificationError("not a Youzan push: sign is missing");
  checkClientId(clientId, creds.clientId, "client_id");
  if (!MD5_HEX.test(sign)) throw new VerificationError("malformed sign: expected 32 lower-case hexadecimal characters (md5)");
  if (!sameText(sign, youzanSign(clientId, msg, creds.clientSecret))) {
    throw new VerificationError("sign does not match md5(client_id + msg + client_secret) for this connection");
  }
  return withDecodedMsg(body);
}

function withDecodedMsg(envelope: Record<string, unknown>): Record<string, unknown> {
  if (typeof envelope.msg !== "string") return envelope;
  const decoded = decodeMsg(envelope.msg);
  return decoded.ok ? { ...envelope, msg: decoded.value } : envelope;
}

function checkClientId(given: string, expected: string, what: string): void {
  if (!sameText(given, expected)) throw new VerificationError(`${what} does not match this connection's Youzan client_id`);
}

/**
 * Constant-time equality of two texts: their SHA-256 digests have equal length, so neither the
 * content nor the length of the expected value leaks through timing.
 */
function sameText(a: string, b: string): boolean {
  const da = createHash("sha256").update(a, "utf8").digest();
  const db = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(da, db);
}

/** The body as JSON (exact numbers), or undefined when it is not UTF-8 JSON. */
function parseBody(rawBody: Buffer): unknown {
  try {
    return parseJsonBody(rawBody, parseJsonExact);
  } catch {
    return undefined;
  }
}
