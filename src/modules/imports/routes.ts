import path from "node:path";
import express, { type Request, type Response, type Router } from "express";
import type { App } from "../../app";
import { hasScope, type Ctx, type Principal } from "../../core/context";
import { localId } from "../../core/global-id";
import { bearerToken } from "../../graphql/http-auth";
import { ExportFormat } from "./entity";
import { parseMapping } from "./mapping";
import { ENCODINGS, UploadInterrupted, type CsvEncoding } from "./readers";

const CSV_TYPES = new Set(["text/csv", "application/csv"]);
const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/** An upload that sends nothing for this long (while we wait for it) is given up. */
const IDLE_MS = 120_000;

/**
 * `POST /import/customers` (a CSV or XLSX body, streamed) and `GET /exports/:jobId`. Bearer API keys as on
 * /graphql; refusals are JSON `{error, reason}`, as the channel webhooks answer.
 */
export function createImportRoutes(app: App): Router {
  const router = express.Router();
  router.post("/import/customers", (req, res) => {
    handleImport(app, req, res).catch((err) => failed(app, req, res, err));
  });
  router.get("/exports/:jobId", (req, res) => {
    handleDownload(app, req, res).catch((err) => failed(app, req, res, err));
  });
  return router;
}

function failed(app: App, req: Request, res: Response, err: unknown): void {
  app.log.error({ err: (err as Error).message, path: req.path, requestId: res.locals.requestId }, "import/export request failed");
  if (!res.headersSent && !res.destroyed) res.status(503).json({ error: "unavailable", reason: "temporarily unavailable, retry later" });
}

function refuse(res: Response, status: number, error: string, reason: string): void {
  res.status(status).json({ error, reason });
}

async function authorize(app: App, req: Request, res: Response, scope: string): Promise<Principal | null> {
  const principal = await app.tenancy.authenticate(bearerToken(req.header("authorization")));
  if (!principal) {
    res.setHeader("www-authenticate", "Bearer");
    refuse(res, 401, "unauthorized", "A valid API key is required (Authorization: Bearer <key>)");
    return null;
  }
  if (principal.kind !== "api_key" || !hasScope(principal, scope)) {
    refuse(res, 403, "forbidden", `This needs the "${scope}" scope`);
    return null;
  }
  return principal;
}

function contextFor(app: App, res: Response, principal: Principal): Ctx {
  const requestId = res.locals.requestId as string;
  return { requestId, principal, app, log: app.log.child({ requestId }) };
}

function firstQuery(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : undefined;
}

async function handleImport(app: App, req: Request, res: Response): Promise<void> {
  const principal = await authorize(app, req, res, "customers:write");
  if (!principal) return;
  const [mediaType, ...params] = (req.header("content-type") ?? "").split(";").map((s) => s.trim());
  const type = mediaType.toLowerCase();
  const format = CSV_TYPES.has(type) ? ExportFormat.CSV : type === XLSX_TYPE ? ExportFormat.XLSX : null;
  if (!format) return refuse(res, 415, "unsupported_media_type", `Send the file as text/csv or ${XLSX_TYPE}`);
  let encoding: CsvEncoding = "utf-8";
  const label = firstQuery(req, "encoding") ?? params.find((p) => /^charset=/i.test(p))?.slice("charset=".length).replace(/"/g, "");
  if (label !== undefined && format === ExportFormat.CSV) {
    const e = ENCODINGS[label.trim().toLowerCase()];
    if (!e) return refuse(res, 400, "bad_request", `encoding: "${label.slice(0, 40)}" is not supported (utf-8, gbk, gb18030)`);
    encoding = e;
  }
  const mapping = parseMapping(firstQuery(req, "mapping"));
  if (!mapping.ok) return refuse(res, 400, "bad_request", mapping.reason);

  const ctx = contextFor(app, res, principal);
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  // No listener: Node destroys a socket idle this long mid-request (the abort path), and resets it after the answer.
  req.socket.setTimeout(IDLE_MS);
  const outcome = await app.imports.importCustomers(ctx, req, { format, encoding, mapping: mapping.value, signal: abort.signal }).catch((err) => {
    // The client left before a job existed: nothing was written, nobody to answer.
    if (abort.signal.aborted || err instanceof UploadInterrupted) return null;
    throw err;
  });
  if (!outcome || abort.signal.aborted) return;
  if (!outcome.ok) {
    refuse(res, 400, "bad_request", outcome.reason);
    req.resume(); // read the rest of the upload away, so the client sees the answer
    return;
  }
  const { job } = outcome;
  const body = { jobId: job.globalId, status: job.status, processed: job.processed, accepted: job.accepted, rejected: job.rejected, ...(job.error ? { error: job.error } : {}) };
  res.status(job.status === "COMPLETED" ? 200 : 422).json(body);
}

async function handleDownload(app: App, req: Request, res: Response): Promise<void> {
  const principal = await authorize(app, req, res, "customers:read");
  if (!principal) return;
  const id = localId(String(req.params.jobId), "ImportJob");
  const found = id ? await app.imports.exportFile(contextFor(app, res, principal), id) : null;
  if (!found) return refuse(res, 404, "not_found", "No such export");
  if (!found.ok) return refuse(res, found.status, found.error, found.reason);
  // Personal data: never kept by shared caches.
  res.setHeader("cache-control", "private, no-store");
  await new Promise<void>((resolve, reject) => {
    // `root` so that dot-directories in DATA_DIR are not taken for hidden files.
    res.download(path.basename(found.file), found.filename, { root: path.dirname(found.file) }, (err) => (err && !res.headersSent ? reject(err) : resolve()));
  });
}
