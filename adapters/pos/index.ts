import { TextDecoder } from "node:util";
import { z } from "zod";

import {
  definePlugin,
  NormalizationError,
  parseJsonBody,
  requestHeader,
  verifyCrmSignature,
  type ChannelRequest,
  type NormalizedEventInput,
} from "../../src/plugins";
import { readCsv } from "./csv";
import { readJson } from "./json";
import { readPosLog } from "./poslog";
import { checkStoreId, transactionEvents, type PosTransaction } from "./transaction";

/**
 * Store POS systems: sales and returns in real time as JSON or NRF ARTS POSLog XML, and end-of-day
 * CSV files from stores that were offline — all signed like the `http-json` channel (the CRM request
 * signature, src/plugins/signing.ts). Every format becomes the same orders: a sale is order
 * `<storeId>:<transactionId>` (placed and paid), a return refunds the original sale's order, a member
 * card or phone links them to a customer (a new one when nobody has it yet). See README.md beside this file.
 */

export { CSV_COLUMNS } from "./csv";
export { MAX_TRANSACTIONS } from "./transaction";

const configSchema = z.object({
  secret: z.string().min(16, "must be at least 16 characters"),
  /** Store ids this connection may report for; any store when absent. */
  stores: z
    .array(
      z.string().refine((s) => {
        try {
          return checkStoreId(s, "") === s;
        } catch {
          return false;
        }
      }, "must be a store id: 1–30 characters without ':' or surrounding spaces"),
    )
    .min(1, "list at least one store, or leave stores out to allow every store")
    .max(10_000)
    .optional(),
});
export type PosConfig = z.infer<typeof configSchema>;

export type PosFormat = "json" | "poslog" | "csv";
/** What verify hands normalize: the decoded body and its format, or why the body cannot be read. */
export type PosPayload = { format: PosFormat; text: string } | { problem: string };

const FORMATS: readonly PosFormat[] = ["json", "poslog", "csv"];

export const posPlugin = definePlugin<PosConfig>({
  name: "pos",
  version: "1.0.0",
  compatibility: "^1.2.0",
  identityTypes: [{ name: "pos_member", importHeaders: ["会员卡号"] }],
  description: "Store POS: sales and returns as JSON, NRF ARTS POSLog XML or end-of-day CSV, signed with HMAC-SHA256 (X-CRM-Signature).",
  configSchema,
  secretKeys: ["secret"],
  channel: {
    verify(req, connection): PosPayload {
      verifyCrmSignature(req, connection.config.secret);
      return readBody(req);
    },

    normalize(payload, connection): NormalizedEventInput[] {
      const p = payload as Partial<Record<string, unknown>> | null;
      if (typeof p !== "object" || p === null || Array.isArray(p)) throw new NormalizationError("unexpected payload: normalize takes what verify returns");
      if ("problem" in p) throw new NormalizationError(typeof p.problem === "string" && p.problem.trim() ? p.problem : "the body cannot be read");
      if (!FORMATS.includes(p.format as PosFormat) || typeof p.text !== "string") throw new NormalizationError("unexpected payload: normalize takes what verify returns");
      const transactions = readTransactions(p.format as PosFormat, p.text);
      const stores = connection?.config?.stores;
      return transactions.flatMap((tx) => transactionEvents(tx, { stores }));
    },
    // No acknowledge: the host's 200 {"results": [...]} lists each event's fate in request order.
  },
});

export default posPlugin;

/** The transactions of a body in `format` (exported for tests and tools; throws NormalizationError). */
export function readTransactions(format: PosFormat, text: string): PosTransaction[] {
  if (format === "json") return readJson(parseJsonBody(text));
  return format === "poslog" ? readPosLog(text) : readCsv(text);
}

const GENERIC_TYPES = new Set(["", "text/plain", "application/octet-stream"]);

/**
 * The body's format from Content-Type (sniffed from the first character when the type is missing
 * or generic) and its text in the declared charset (UTF-8 unless Content-Type or the XML
 * declaration says GBK/GB18030). Never throws: an unreadable body is normalize's 400 to give.
 */
function readBody(req: ChannelRequest): PosPayload {
  const contentType = requestHeader(req, "content-type") ?? "";
  const [mediaType = "", ...params] = contentType.split(";").map((s) => s.trim().toLowerCase());
  let format: PosFormat | undefined;
  if (mediaType === "application/json" || mediaType === "text/json" || mediaType.endsWith("+json")) format = "json";
  else if (mediaType === "application/xml" || mediaType === "text/xml" || mediaType.endsWith("+xml")) format = "poslog";
  else if (["text/csv", "application/csv", "text/comma-separated-values", "application/vnd.ms-excel"].includes(mediaType)) format = "csv";
  else if (GENERIC_TYPES.has(mediaType)) format = sniff(req.rawBody);
  if (!format) return { problem: `unsupported Content-Type ${JSON.stringify(contentType.slice(0, 80))}: send application/json, application/xml (or text/xml) or text/csv` };

  let charset = params.find((p) => p.startsWith("charset="))?.slice("charset=".length).replace(/^"|"$/g, "");
  if (!charset && format === "poslog") {
    charset = /^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']/.exec(req.rawBody.subarray(0, 256).toString("latin1"))?.[1];
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset || "utf-8", { fatal: true });
  } catch {
    return { problem: `unsupported charset ${JSON.stringify((charset ?? "").slice(0, 40))}: send UTF-8 (or GBK/GB18030)` };
  }
  try {
    // Fatal decoding: replacing bad bytes with U+FFFD would silently corrupt product names.
    return { format, text: decoder.decode(req.rawBody) };
  } catch {
    return { problem: `body is not valid ${decoder.encoding.toUpperCase()} text` };
  }
}

function sniff(body: Buffer): PosFormat {
  const start = body.toString("latin1", 0, 64).replace(/^(\xef\xbb\xbf)?\s*/, "");
  if (start.startsWith("{") || start.startsWith("[")) return "json";
  if (start.startsWith("<")) return "poslog";
  return "csv";
}
