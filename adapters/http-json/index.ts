import { z } from "zod";

import {
  CRM_SIGNATURE_HEADER,
  CRM_SIGNATURE_TOLERANCE_SECONDS,
  definePlugin,
  NormalizationError,
  parseJsonBody,
  signCrmRequest,
  verifyCrmSignature,
  type NormalizedEventInput,
} from "../../src/plugins";

/**
 * The generic signed channel: any producer (an ETL job, a mini-program backend, a partner's
 * middleware) POSTs normalized events v1 as JSON, signed Stripe-style with a per-connection secret.
 * See README.md beside this file for the wire format.
 */

/** The signature header and its window: the shared CRM request signature (src/plugins/signing.ts). */
export const SIGNATURE_HEADER = CRM_SIGNATURE_HEADER;
export const TOLERANCE_SECONDS = CRM_SIGNATURE_TOLERANCE_SECONDS;
/** Most events one request may carry; bigger batches are split by the producer. */
export const MAX_EVENTS = 1000;

const configSchema = z.object({
  secret: z.string().min(16, "must be at least 16 characters"),
});
export type HttpJsonConfig = z.infer<typeof configSchema>;

/** The `X-CRM-Signature` value for `body` signed with `secret` at `t` (unix seconds, default now). */
export const signHttpJson = signCrmRequest;

export const httpJsonPlugin = definePlugin<HttpJsonConfig>({
  name: "http-json",
  version: "1.0.0",
  compatibility: "^1.0.0",
  description: "Generic channel: normalized events v1 as JSON, signed with HMAC-SHA256 (X-CRM-Signature).",
  configSchema,
  secretKeys: ["secret"],
  channel: {
    verify(req, connection) {
      verifyCrmSignature(req, connection.config.secret);
      return parseBody(req.rawBody);
    },

    normalize(payload) {
      // verify hands over the raw bytes when they are not a JSON object; parsing them here gives the
      // producer the reason with a 400. Raw text is accepted too, so normalize can be used on its own.
      const body = typeof payload === "string" || Buffer.isBuffer(payload) ? parseJsonBody(payload) : payload;
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

/**
 * The parsed JSON object, or else the raw bytes unchanged: verify only vouches for authenticity,
 * and normalize turns an unreadable body into a 400 with the precise reason.
 */
function parseBody(rawBody: Buffer): unknown {
  try {
    const value = parseJsonBody(rawBody);
    return typeof value === "object" && value !== null ? value : rawBody;
  } catch {
    return rawBody;
  }
}

function kindOf(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
