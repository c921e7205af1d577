import { VerificationError, type ChannelConnectionInfo, type ChannelRequest, type ChannelResponse, type PluginContext } from "../../src/plugins";
import type { WechatMiniProgramConfig } from "./config";
import { aesKey, decryptMessage, DecryptError, signatureMatches, wechatSignature } from "./crypto";
import { ParseError, parseFields } from "./parse";

/**
 * Authenticity of message pushes (消息推送). WeChat signs the query, never the body bytes:
 * - plain mode: `signature = sha1(sort(token, timestamp, nonce))` proves the sender knows the token;
 * - safe mode (`encrypt_type=aes`): `msg_signature = sha1(sort(token, timestamp, nonce, Encrypt))`
 *   also covers the ciphertext, whose plaintext names the app it is for.
 * Either way the timestamp must be within the connection's window and the nonce new.
 */

type Connection = ChannelConnectionInfo<WechatMiniProgramConfig>;

const TIMESTAMP = /^[0-9]{1,12}$/;
const NONCE = /^[A-Za-z0-9_-]{1,64}$/;

/** What verify hands to normalize and acknowledge: the plaintext message, exactly as WeChat wrote it. */
export type VerifiedMessage = Buffer;

export async function verifyPush(req: ChannelRequest, connection: Connection, ctx: PluginContext<WechatMiniProgramConfig>): Promise<VerifiedMessage> {
  const { token, appId, timestampToleranceSeconds } = connection.config;
  const { timestamp, nonce } = timestampAndNonce(req);
  const mode = req.query.encrypt_type;
  let message: Buffer;
  if (mode === "aes") {
    const key = keyOf(connection);
    const encrypt = envelopeEncrypt(req.rawBody);
    if (!signatureMatches(req.query.msg_signature, wechatSignature(token, timestamp, nonce, encrypt))) {
      throw new VerificationError(req.query.msg_signature ? "msg_signature does not match this connection's token" : "missing msg_signature");
    }
    message = open(key, encrypt, appId);
  } else if (mode === undefined || mode === "" || mode === "raw") {
    if (!signatureMatches(req.query.signature, wechatSignature(token, timestamp, nonce))) {
      throw new VerificationError(req.query.signature ? "signature does not match this connection's token" : "missing signature");
    }
    message = req.rawBody;
  } else {
    throw new VerificationError(`unknown encrypt_type ${JSON.stringify(mode.slice(0, 20))} (expected aes or none)`);
  }
  checkWindow(Number(timestamp), req.receivedAt, timestampToleranceSeconds);
  // Only now, for authentic requests: a replay marker. Its TTL outlives the window on both sides
  // of the clock, so a captured request cannot come back once the marker has expired.
  const fresh = await ctx.state(connection.id).setIfAbsent(`nonce:${nonce}:${timestamp}`, true, 2 * timestampToleranceSeconds);
  if (!fresh) throw new VerificationError("replayed request (this nonce and timestamp were already used)");
  return message;
}

/**
 * GET on the webhook URL when the merchant saves it in the console: answer `echostr` as text/plain
 * to a correctly signed request. In safe mode the GET carries `msg_signature` and an encrypted
 * `echostr`, whose plaintext is the answer. It writes nothing and only echoes, so no clock window.
 */
export function handshake(req: ChannelRequest, connection: Connection): ChannelResponse {
  const { token, appId } = connection.config;
  try {
    const { timestamp, nonce } = timestampAndNonce(req);
    const echostr = req.query.echostr;
    if (typeof echostr !== "string" || echostr === "") throw new VerificationError("missing echostr");
    let answer: string;
    if (req.query.msg_signature !== undefined) {
      if (!signatureMatches(req.query.msg_signature, wechatSignature(token, timestamp, nonce, echostr))) {
        throw new VerificationError("msg_signature does not match this connection's token");
      }
      answer = open(keyOf(connection), echostr, appId).toString("utf8");
    } else {
      if (!signatureMatches(req.query.signature, wechatSignature(token, timestamp, nonce))) {
        throw new VerificationError(req.query.signature ? "signature does not match this connection's token" : "missing signature");
      }
      answer = echostr;
    }
    // Echo only what WeChat sends (a random number string), never markup, even to a signed caller.
    if (!/^[A-Za-z0-9_+/=-]{1,512}$/.test(answer)) return errorResponse(400, "echostr must be 1–512 characters of letters, digits, _ + / = -");
    return { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: answer };
  } catch (err) {
    if (err instanceof VerificationError) return errorResponse(401, err.message);
    throw err;
  }
}

export function errorResponse(status: number, reason: string): ChannelResponse {
  const error = ({ 400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed" } as Record<number, string>)[status] ?? "error";
  return { status, body: { error, reason } };
}

function timestampAndNonce(req: ChannelRequest): { timestamp: string; nonce: string } {
  const { timestamp, nonce } = req.query;
  if (typeof timestamp !== "string" || !TIMESTAMP.test(timestamp)) throw new VerificationError("missing or malformed timestamp");
  if (typeof nonce !== "string" || !NONCE.test(nonce)) throw new VerificationError("missing or malformed nonce");
  return { timestamp, nonce };
}

function keyOf(connection: Connection): Buffer {
  const configured = connection.config.encodingAesKey;
  if (!configured) throw new VerificationError("safe-mode request, but the connection has no encodingAesKey");
  return aesKey(configured);
}

/**
 * The `Encrypt` of a safe-mode body (`<xml><ToUserName/><Encrypt/></xml>` or
 * `{"ToUserName":…,"Encrypt":…}`). Without it nothing can be authenticated, hence 401, not 400.
 */
function envelopeEncrypt(body: Buffer): string {
  try {
    const encrypt = parseFields(body).fields.Encrypt;
    if (typeof encrypt === "string" && encrypt.trim() !== "") return encrypt.trim();
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    throw new VerificationError(`safe-mode body is unreadable, so it cannot be authenticated: ${err.message}`);
  }
  throw new VerificationError("safe-mode body has no Encrypt");
}

/** Decrypts and checks the app id inside; every failure means the sender does not hold our key. */
function open(key: Buffer, encrypted: string, appId: string): Buffer {
  let opened: { message: Buffer; appId: string };
  try {
    opened = decryptMessage(key, encrypted);
  } catch (err) {
    if (err instanceof DecryptError) throw new VerificationError(`cannot decrypt: ${err.message}`);
    throw err;
  }
  if (opened.appId !== appId) throw new VerificationError("the encrypted message is for another app id");
  return opened.message;
}

function checkWindow(timestamp: number, receivedAt: Date, tolerance: number): void {
  const skew = Math.floor(receivedAt.getTime() / 1000) - timestamp;
  if (Number.isNaN(skew)) throw new VerificationError("request has no valid receive time");
  if (skew > tolerance) throw new VerificationError(`stale timestamp: ${skew} s older than the server clock (tolerance ${tolerance} s)`);
  if (-skew > tolerance) throw new VerificationError(`timestamp is ${-skew} s ahead of the server clock (tolerance ${tolerance} s)`);
}
