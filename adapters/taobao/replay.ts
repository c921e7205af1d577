import {
  CRM_SIGNATURE_HEADER,
  CRM_SIGNATURE_TOLERANCE_SECONDS,
  parseJsonBody,
  requestHeader,
  signCrmRequest,
  verifyCrmSignature,
  VerificationError,
  type ChannelRequest,
} from "../../src/plugins";
import { parseJsonExact } from "./normalize";

/**
 * The replay webhook's authentication. Taobao itself never calls the webhook (it delivers through
 * TMC); the webhook lets an operator re-feed TMC messages — from `taobao.tmc.messages.consume`, a
 * log, a dead-letter file — signed like the http-json channel: `X-CRM-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256(appSecret, "<t>.<raw body>")>`, within 300 s of the server clock.
 * The key is the connection's app secret, which whoever may feed this shop's messages already holds.
 */

export const REPLAY_SIGNATURE_HEADER = CRM_SIGNATURE_HEADER;
export const REPLAY_TOLERANCE_SECONDS = CRM_SIGNATURE_TOLERANCE_SECONDS;

/** The X-CRM-Signature value for a replay `body` signed with the app secret at `t` (unix seconds, default now). */
export const signTaobaoReplay = signCrmRequest;

/** Checks the signature and freshness; returns the body as exactly parsed JSON, or the raw bytes for normalize to refuse. */
export function verifyReplay(req: ChannelRequest, appSecret: string): unknown {
  const header = requestHeader(req, CRM_SIGNATURE_HEADER);
  if (header === undefined || header.trim() === "") {
    throw new VerificationError("taobao delivers through TMC, not webhooks; this URL only takes replays signed with X-CRM-Signature (missing)");
  }
  verifyCrmSignature(req, appSecret);
  try {
    const value = parseJsonBody(req.rawBody, parseJsonExact);
    return typeof value === "object" && value !== null ? value : req.rawBody;
  } catch {
    return req.rawBody;
  }
}
