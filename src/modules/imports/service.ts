import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { App } from "../../app";
import { tenantOf, type Ctx } from "../../core/context";
import { paginate, SortDirection, type Connection, type ConnectionArgs } from "../../core/pagination";
import { fail, ok, userError, UserErrorCode, type Result } from "../../core/user-error";
import type { CustomerFilter } from "../customers";
import { ExportFormat, ImportJob, ImportJobKind, ImportJobStatus, ImportRowError } from "./entity";
import { exportCells, exportHeader, planColumns, rowToEvent, type ColumnPlan, type FieldMapping } from "./mapping";
import { readCsv, readXlsx, UnreadableFile, UploadInterrupted, type CsvEncoding, type SheetRecord } from "./readers";
import { openWriter } from "./writers";
import { ExportSweeper, type SweepResult } from "./export-sweeper";

/** The queue that sweeps expired export files (cron, every 10 minutes). */
export const EXPORT_SWEEP_JOB = "crm.imports.export-sweep";

/** Rows per ingest call (and per progress update); each batch commits on its own. */
const BATCH_SIZE = 1000;
/** Customers per keyset page of an export. */
const EXPORT_PAGE_SIZE = 1000;
const HEARTBEAT_MS = 20_000;
/** A RUNNING job whose heartbeat is older than this belongs to a process that is gone. */
const STALE_MS = 120_000;
const MAX_RUNNING_EXPORTS = 3;
const MAX_ATTRIBUTE_COLUMNS = 200;
const MAX_MESSAGE = 1000;
const DISCONNECTED = "the upload stopped before the end of the file (the client disconnected); the rows counted were imported";

export interface ImportOptions {
  format: ExportFormat;
  encoding?: CsvEncoding;
  mapping?: FieldMapping;
  /** Aborted when the client goes away: the job stops after the batch in flight. */
  signal?: AbortSignal;
}

export type ImportOutcome =
  /** Refused before anything was written (unreadable header, mapping that does not fit the file). */
  | { ok: false; reason: string }
  /** The job ran: COMPLETED, or FAILED with `error` (the rows counted were committed). */
  | { ok: true; job: ImportJob };

type PendingRow = { row: number; event?: Record<string, unknown>; error?: string };

/** What ImportsService uses of the app, and nothing more. */
export type ImportsDeps = Pick<App, "config" | "customers" | "db" | "ingestion" | "jobs" | "log" | "tenancy">;

/**
 * Bulk customer files. Imports stream an upload through the ingestion pipeline in batches (channel "import",
 * one `customer.upserted` per row, so identity resolution updates known customers instead of duplicating them);
 * exports stream the customer list into a file under DATA_DIR/exports. Both are tracked as `import_jobs`.
 */
export class ImportsService {
  /** Jobs created before this instant by a process that no longer heartbeats were interrupted. */
  private readonly startedAt = new Date();
  private readonly running = new Map<string, Promise<unknown>>();
  private stopping = false;
  private readonly sweeper: ExportSweeper;

  constructor(private readonly app: ImportsDeps) {
    this.sweeper = new ExportSweeper(app.db.dataSource, {
      dataDir: app.config.dataDir,
      retentionHours: app.config.exportRetentionHours,
      log: app.log.child({ component: "export-sweeper" }),
    });
  }

  private get ds() {
    return this.app.db.dataSource;
  }

  // ---- imports ----------------------------------------------------------------------------

  /**
   * Reads `input` to its end (or until the client goes away), ingesting rows in batches of BATCH_SIZE. The job row
   * is created only once the header has been read and fits: a refused file writes nothing.
   */
  async importCustomers(ctx: Ctx, input: Readable, opts: ImportOptions): Promise<ImportOutcome> {
    const records = opts.format === ExportFormat.XLSX ? readXlsx(input) : readCsv(input, opts.encoding);
    let header: IteratorResult<SheetRecord>;
    try {
      header = await records.next();
    } catch (err) {
      if (err instanceof UnreadableFile) return { ok: false, reason: err.message };
      throw err;
    }
    if (header.done) return { ok: false, reason: "the file is empty (no header row)" };
    const plan = planColumns(header.value.cells, opts.mapping ?? {});
    if (!plan.ok) {
      await records.return(undefined);
      return { ok: false, reason: plan.reason };
    }
    const job = await this.createJob(ctx, randomUUID(), ImportJobKind.CUSTOMERS_IMPORT, opts.format, null);
    return { ok: true, job: await this.track(job.id, this.runImport(ctx, job, plan.value, records, opts.signal)) };
  }

  private async runImport(ctx: Ctx, job: ImportJob, plan: ColumnPlan, records: AsyncGenerator<SheetRecord>, signal?: AbortSignal): Promise<ImportJob> {
    const occurredAt = job.createdAt.toISOString();
    const phoneRegion = (await this.app.tenancy.settings.get(tenantOf(ctx))).defaultPhoneRegion;
    let pending: PendingRow[] = [];
    const flush = async () => {
      const batch = pending;
      pending = [];
      if (batch.length) await this.ingestBatch(ctx, job.id, batch);
    };
    let failure: string | null = null;
    try {
      for (;;) {
        let next: IteratorResult<SheetRecord>;
        try {
          next = await records.next();
        } catch (err) {
          if (err instanceof UploadInterrupted || signal?.aborted) {
            failure = DISCONNECTED;
          } else if (err instanceof UnreadableFile) {
            // The rows before the unreadable spot are good ones: keep them.
            await flush();
            failure = `${err.message}; the rows counted before it were imported`;
          } else throw err;
          break;
        }
        if (next.done) {
          await flush();
          break;
        }
        const { row, cells } = next.value;
        const r = rowToEvent(plan, cells, { externalId: `import:${job.id}:${row}`, occurredAt, phoneRegion });
        if (r.kind === "blank") continue;
        pending.push(r.kind === "event" ? { row, event: r.event } : { row, error: r.message });
        if (pending.length >= BATCH_SIZE) {
          await flush();
          if (signal?.aborted || this.stopping) {
            failure = signal?.aborted ? DISCONNECTED : "the server stopped during the import; the rows counted were imported";
            break;
          }
        }
      }
    } catch (err) {
      // The database failed under a batch: the batches before it stay committed and counted.
      await this.finish(job.id, ImportJobStatus.FAILED, "the import stopped on a server error; the rows counted were imported").catch(() => undefined);
      throw err;
    } finally {
      await records.return(undefined).catch(() => undefined);
    }
    return this.finish(job.id, failure ? ImportJobStatus.FAILED : ImportJobStatus.COMPLETED, failure);
  }

  /** One batch through the pipeline (its own transaction), then its errors and counts (a second, small one). */
  private async ingestBatch(ctx: Ctx, jobId: string, batch: PendingRow[]): Promise<void> {
    const withEvents = batch.filter((r) => r.event);
    const results = withEvents.length ? await this.app.ingestion.ingest(ctx, { channel: "import", connectionId: null }, withEvents.map((r) => r.event)) : [];
    const errors = batch.flatMap((r) => (r.error ? [{ row: r.row, message: r.error }] : []));
    results.forEach((res, i) => {
      if (res.status === "rejected") errors.push({ row: withEvents[i].row, message: res.reason ?? "rejected by the ingestion pipeline" });
    });
    await this.ds.transaction(async (m) => {
      if (errors.length) {
        await m.query(
          `INSERT INTO import_errors (job_id, row, message) SELECT $1, x.row, x.message FROM unnest($2::int[], $3::text[]) AS x(row, message) ON CONFLICT DO NOTHING`,
          [jobId, errors.map((e) => e.row), errors.map((e) => e.message.slice(0, MAX_MESSAGE))],
        );
      }
      await m.query(`UPDATE import_jobs SET processed = processed + $2, accepted = accepted + $3, rejected = rejected + $4, heartbeat_at = $5 WHERE id = $1`, [
        jobId,
        batch.length,
        batch.length - errors.length,
        errors.length,
        new Date(),
      ]);
    });
  }

  // ---- exports ----------------------------------------------------------------------------

  /** Creates an export job and runs it in the background; the payload answers at once with the RUNNING job. */
  async startExport(ctx: Ctx, filter: CustomerFilter | null | undefined, format: ExportFormat): Promise<Result<ImportJob>> {
    if (this.stopping) throw new Error("the server is stopping");
    const [{ n }]: { n: number }[] = await this.ds.query(
      `SELECT count(*)::int AS n FROM import_jobs WHERE tenant_id = $1 AND kind = $2 AND status = 'RUNNING' AND heartbeat_at > $3`,
      [tenantOf(ctx), ImportJobKind.CUSTOMERS_EXPORT, new Date(Date.now() - STALE_MS)],
    );
    if (n >= MAX_RUNNING_EXPORTS) {
      return fail(userError(null, UserErrorCode.CONFLICT, `At most ${MAX_RUNNING_EXPORTS} exports run at once; wait for one to finish`));
    }
    const id = randomUUID();
    const job = await this.createJob(ctx, id, ImportJobKind.CUSTOMERS_EXPORT, format, path.posix.join("exports", `${id}.${format}`));
    // The request's DataLoaders must not outlive it: the background run gets a plain context.
    const bg: Ctx = { requestId: ctx.requestId, principal: ctx.principal, app: ctx.app, log: ctx.log.child({ exportJob: id }) };
    this.track(id, this.runExport(bg, job, filter ? { ...filter } : null)).catch((err) => bg.log.error({ err: (err as Error).message }, "export failed"));
    return ok(job);
  }

  private async runExport(ctx: Ctx, job: ImportJob, filter: CustomerFilter | null): Promise<void> {
    const file = path.resolve(this.app.config.dataDir, job.filePath!);
    const part = `${file}.part`;
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const writer = openWriter(job.format, part);
    const tenantId = tenantOf(ctx);
    const phoneRegion = (await this.app.tenancy.settings.get(tenantId)).defaultPhoneRegion;
    try {
      const keys = await this.app.customers.attributeKeys(ctx, filter, MAX_ATTRIBUTE_COLUMNS);
      await writer.write(exportHeader(keys));
      for await (const page of this.app.customers.scan(ctx, filter, EXPORT_PAGE_SIZE)) {
        if (this.stopping) throw new Error("the server stopped during the export");
        const identities = await this.app.customers.identitiesOf(tenantId, page.map((c) => c.id));
        const byCustomer = new Map<string, typeof identities>();
        for (const i of identities) byCustomer.set(i.customerId, [...(byCustomer.get(i.customerId) ?? []), i]);
        for (const c of page) await writer.write(exportCells(c, byCustomer.get(c.id) ?? [], keys, phoneRegion));
        await this.ds.query(`UPDATE import_jobs SET processed = processed + $2, heartbeat_at = $3 WHERE id = $1`, [job.id, page.length, new Date()]);
      }
      await writer.close();
      await fs.promises.rename(part, file);
      await this.finish(job.id, ImportJobStatus.COMPLETED, null);
    } catch (err) {
      ctx.log.error({ err: (err as Error).message, jobId: job.id }, "export failed");
      await writer.abort().catch(() => undefined);
      await this.finish(job.id, ImportJobStatus.FAILED, this.stopping ? "the server stopped during the export; start a new one" : "the export failed; start a new one").catch(() => undefined);
    }
  }

  /** The export's file, or why it cannot be downloaded (as an HTTP status). */
  async exportFile(
    ctx: Ctx,
    id: string,
  ): Promise<{ ok: true; file: string; filename: string } | { ok: false; status: 404 | 409 | 410; error: string; reason: string }> {
    const job = await this.job(ctx, id);
    if (!job || job.kind !== ImportJobKind.CUSTOMERS_EXPORT) return { ok: false, status: 404, error: "not_found", reason: "No such export" };
    if (job.status === ImportJobStatus.RUNNING) return { ok: false, status: 409, error: "not_ready", reason: "The export is still running; try again when its status is COMPLETED" };
    if (job.status === ImportJobStatus.FAILED || !job.filePath) return { ok: false, status: 410, error: "gone", reason: job.error ?? "The export failed" };
    if (this.expired(job)) {
      const hours = this.app.config.exportRetentionHours;
      return { ok: false, status: 410, error: "expired", reason: `the export expired after ${hours} hour${hours === 1 ? "" : "s"}; start a new one` };
    }
    const file = path.resolve(this.app.config.dataDir, job.filePath);
    if (!fs.existsSync(file)) return { ok: false, status: 410, error: "gone", reason: "The export file is no longer available" };
    return { ok: true, file, filename: `customers-${job.createdAt.toISOString().slice(0, 10)}.${job.format}` };
  }

  downloadUrl(job: ImportJob): string | null {
    return job.kind === ImportJobKind.CUSTOMERS_EXPORT && job.status === ImportJobStatus.COMPLETED && !this.expired(job)
      ? `${this.app.config.publicUrl}/exports/${job.globalId}`
      : null;
  }

  /**
   * When a completed export's file stops being served: EXPORT_RETENTION_HOURS after it finished (or when the
   * sweeper deleted it, if that came first). Null for imports and exports that did not complete.
   */
  expiresAt(job: ImportJob): Date | null {
    if (job.kind !== ImportJobKind.CUSTOMERS_EXPORT || job.status !== ImportJobStatus.COMPLETED || !job.finishedAt) return null;
    const due = job.finishedAt.getTime() + this.app.config.exportRetentionHours * 3_600_000;
    return new Date(job.fileDeletedAt ? Math.min(due, job.fileDeletedAt.getTime()) : due);
  }

  /** Expiry is decided here, not by the sweeper's pace: an export past its time is refused before its file is gone. */
  private expired(job: ImportJob): boolean {
    const at = this.expiresAt(job);
    return at !== null && at.getTime() <= Date.now();
  }

  /** Deletes expired and failed exports' files and orphan files now (the sweeper also runs every 10 minutes). */
  sweepExports(): Promise<SweepResult> {
    return this.sweeper.run();
  }

  // ---- jobs -------------------------------------------------------------------------------

  /** A job of the caller's tenant by local id. A RUNNING job whose process died is reported FAILED. */
  async job(ctx: Ctx, id: string): Promise<ImportJob | null> {
    const job = await this.ds.manager.findOne(ImportJob, { where: { id, tenantId: tenantOf(ctx) } });
    if (job?.status === ImportJobStatus.RUNNING && !this.running.has(job.id) && job.heartbeatAt.getTime() < Date.now() - STALE_MS) {
      await this.failStale([job.id]);
      return this.ds.manager.findOne(ImportJob, { where: { id, tenantId: tenantOf(ctx) } });
    }
    return job;
  }

  /** An import's refused rows in row order, after `afterRow`. The job comes from a tenant-scoped read. */
  /** A job's refused rows in row order, one page (rows after `afterRow` only, when given). */
  rowErrors(job: ImportJob, args: ConnectionArgs, afterRow: number | null): Promise<Connection<ImportRowError>> {
    const qb = this.ds.manager.createQueryBuilder(ImportRowError, "e").where("e.jobId = :jobId", { jobId: job.id });
    if (afterRow != null) qb.andWhere("e.row > :afterRow", { afterRow });
    // Rows are unique within a job: the job id only completes the (sort, id) pair the cursor needs.
    return paginate(qb, { args, sortColumn: "e.row", idColumn: "e.job_id", direction: SortDirection.ASC, sortValue: (e) => String(e.row), id: (e) => e.jobId });
  }

  /**
   * Start-up: marks the jobs the last stop interrupted FAILED and sweeps export files once; then the job
   * queue sweeps every 10 minutes, on one instance of the cluster at a time. A failed sweep at start is
   * logged, not thrown: start goes on; a failed scheduled one is retried by the queue.
   */
  async start(): Promise<void> {
    await this.markInterrupted();
    await this.sweeper.run().catch((err) => this.app.log.error({ err: (err as Error).message }, "export sweep failed"));
    await this.app.jobs.define({
      name: EXPORT_SWEEP_JOB,
      cron: { expression: "*/10 * * * *" },
      retryLimit: 2,
      run: async () => void (await this.sweeper.run()),
    });
  }

  /**
   * RUNNING jobs older than this process were cut off by a stop or crash — on PGlite (one process per data
   * directory) all of them; on PostgreSQL, where other instances may be running theirs, those whose heartbeat
   * stopped. Part of `start()`.
   */
  private async markInterrupted(): Promise<number> {
    const everyOlder = this.app.db.kind === "pglite";
    const rows: { id: string }[] = await this.ds.query(
      `SELECT id FROM import_jobs WHERE status = 'RUNNING' AND created_at < $1 AND ($2 OR heartbeat_at < $3)`,
      [this.startedAt, everyOlder, new Date(Date.now() - STALE_MS)],
    );
    await this.failStale(rows.map((r) => r.id));
    if (rows.length) this.app.log.warn({ jobs: rows.length }, "import/export jobs interrupted by the last stop marked FAILED");
    return rows.length;
  }

  /** Stops exports and imports after their current page or batch, and the sweeper, and waits for them (server shutdown). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.running.values(), this.sweeper.stop()]);
  }

  private async failStale(ids: string[]): Promise<void> {
    if (!ids.length) return;
    const [rows]: [{ file_path: string | null }[], number] = await this.ds.query(
      `UPDATE import_jobs SET status = 'FAILED', error = $2, finished_at = $3 WHERE id = ANY($1) AND status = 'RUNNING' RETURNING file_path`,
      [ids, "the server stopped while the job was running; for an import, the rows counted were imported", new Date()],
    );
    for (const r of rows) if (r.file_path) await fs.promises.rm(path.resolve(this.app.config.dataDir, `${r.file_path}.part`), { force: true });
  }

  private async createJob(ctx: Ctx, id: string, kind: ImportJobKind, format: ExportFormat, filePath: string | null): Promise<ImportJob> {
    const now = new Date();
    const job = this.ds.manager.create(ImportJob, {
      id,
      tenantId: tenantOf(ctx),
      kind,
      status: ImportJobStatus.RUNNING,
      format,
      processed: 0,
      accepted: 0,
      rejected: 0,
      error: null,
      filePath,
      createdAt: now,
      heartbeatAt: now,
      finishedAt: null,
      fileDeletedAt: null,
    });
    await this.ds.manager.insert(ImportJob, job);
    return job;
  }

  private async finish(jobId: string, status: ImportJobStatus, error: string | null): Promise<ImportJob> {
    const now = new Date();
    await this.ds.query(`UPDATE import_jobs SET status = $2, error = $3, finished_at = $4, heartbeat_at = $4 WHERE id = $1`, [jobId, status, error, now]);
    return this.ds.manager.findOneByOrFail(ImportJob, { id: jobId });
  }

  /** Heartbeats while `work` runs, and lets `stop` wait for it. */
  private async track<T>(jobId: string, work: Promise<T>): Promise<T> {
    const beat = setInterval(() => {
      this.ds.query(`UPDATE import_jobs SET heartbeat_at = $2 WHERE id = $1 AND status = 'RUNNING'`, [jobId, new Date()]).catch(() => undefined);
    }, HEARTBEAT_MS);
    beat.unref();
    this.running.set(jobId, work.catch(() => undefined));
    try {
      return await work;
    } finally {
      clearInterval(beat);
      this.running.delete(jobId);
    }
  }
}
