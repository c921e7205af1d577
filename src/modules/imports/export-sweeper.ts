import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { DataSource } from "typeorm";
import { ImportJobKind } from "./entity";

/** Jobs per statement; a sweep loops until a batch comes back short. */
const BATCH = 500;
/** The names exports are written under (`<job id>.<format>`, `.part` while being written); anything else is not ours. */
const EXPORT_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(?:csv|xlsx)(?:\.part)?$/i;

export interface SweepOptions {
  dataDir: string;
  retentionHours: number;
  log: Logger;
}

/** What one sweep deleted. */
export interface SweepResult {
  /** Completed exports past the retention whose file was deleted. */
  expired: number;
  /** Failed exports whose leftovers were deleted. */
  failed: number;
  /** Files of DATA_DIR/exports that belong to no job, older than the retention. */
  orphans: number;
}

/**
 * Deletes export files that must not stay: those of completed exports past EXPORT_RETENTION_HOURS, whatever a
 * failed export left, and files of DATA_DIR/exports that no job owns (a deleted tenant's, a crash's) once older
 * than the retention. Files are deleted before their job is marked (`file_deleted_at`), so a sweep cut short
 * is finished by the next one. Safe to run from several instances at once: deleting a file already gone is a
 * no-op, and marking a marked job changes nothing.
 */
export class ExportSweeper {
  private current: Promise<SweepResult> | null = null;
  private stopped = false;

  constructor(
    private readonly ds: DataSource,
    private readonly opts: SweepOptions,
  ) {}

  private get retentionMs(): number {
    return this.opts.retentionHours * 3_600_000;
  }

  /** Refuses further sweeps and waits for one in progress (the database is closed next). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.current?.catch(() => undefined);
  }

  /** One sweep; a call while one runs joins it. */
  run(): Promise<SweepResult> {
    if (this.stopped) return Promise.resolve({ expired: 0, failed: 0, orphans: 0 });
    this.current ??= this.sweep().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private async sweep(): Promise<SweepResult> {
    const cutoff = new Date(Date.now() - this.retentionMs);
    const jobs = await this.sweepJobs(cutoff);
    const orphans = await this.sweepOrphans(cutoff);
    const result = { ...jobs, orphans };
    if (result.expired || result.failed || result.orphans) this.opts.log.info(result, "export files deleted");
    return result;
  }

  private async sweepJobs(cutoff: Date): Promise<Omit<SweepResult, "orphans">> {
    const result = { expired: 0, failed: 0 };
    // A file that cannot be deleted keeps its job unmarked: the next sweep tries again. Skipping those rows
    // (`id <> ALL`) lets this sweep go on past them.
    const stuck: string[] = [];
    for (;;) {
      const rows: { id: string; status: string; file_path: string | null }[] = await this.ds.query(
        `SELECT id, status, file_path FROM import_jobs
          WHERE kind = $1 AND file_deleted_at IS NULL AND (status = 'FAILED' OR (status = 'COMPLETED' AND finished_at < $2)) AND id <> ALL($3::uuid[])
          ORDER BY finished_at NULLS FIRST, id LIMIT ${BATCH}`,
        [ImportJobKind.CUSTOMERS_EXPORT, cutoff, stuck],
      );
      const done: string[] = [];
      for (const r of rows) {
        if (await this.remove(r.file_path ? [r.file_path, `${r.file_path}.part`] : [])) {
          done.push(r.id);
          result[r.status === "FAILED" ? "failed" : "expired"]++;
        } else stuck.push(r.id);
      }
      if (done.length) {
        await this.ds.query(`UPDATE import_jobs SET file_deleted_at = $2 WHERE id = ANY($1::uuid[]) AND file_deleted_at IS NULL`, [done, new Date()]);
      }
      if (rows.length < BATCH) return result;
    }
  }

  private async sweepOrphans(cutoff: Date): Promise<number> {
    const dir = path.join(this.opts.dataDir, "exports");
    let names: string[];
    try {
      names = await fs.promises.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw err;
    }
    // Only old files: a job's row is written before its file, and a file this young cannot have expired.
    const old: { name: string; id: string }[] = [];
    for (const name of names) {
      const m = EXPORT_FILE.exec(name);
      if (!m) continue;
      const stat = await fs.promises.stat(path.join(dir, name)).catch(() => null);
      if (stat?.isFile() && stat.mtime < cutoff) old.push({ name, id: m[1].toLowerCase() });
    }
    let removed = 0;
    for (let i = 0; i < old.length; i += BATCH) {
      const chunk = old.slice(i, i + BATCH);
      const owned: { id: string }[] = await this.ds.query(`SELECT id FROM import_jobs WHERE id = ANY($1::uuid[])`, [chunk.map((f) => f.id)]);
      const ownedIds = new Set(owned.map((r) => r.id));
      for (const f of chunk) if (!ownedIds.has(f.id) && (await this.remove([path.posix.join("exports", f.name)]))) removed++;
    }
    return removed;
  }

  /** Deletes files (relative to DATA_DIR); one already gone counts as deleted. False when one could not be. */
  private async remove(files: string[]): Promise<boolean> {
    let ok = true;
    for (const f of files) {
      await fs.promises.rm(path.resolve(this.opts.dataDir, f), { force: true }).catch((err) => {
        ok = false;
        this.opts.log.warn({ err: (err as Error).message, file: f }, "could not delete an export file");
      });
    }
    return ok;
  }
}
