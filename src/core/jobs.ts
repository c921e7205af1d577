import PgBoss from "pg-boss";
import type { Logger } from "pino";

/**
 * The job queue: pg-boss 10 on the application's own database — PostgreSQL, or PGlite through the
 * project's exclusive connection pool, so no job statement ever lands inside another request's
 * transaction. Chosen over graphile-worker (Node 22 and a dedicated LISTEN connection) and BullMQ
 * (Redis, which the default start must not need): cron schedules that run once per cluster, delayed
 * jobs that survive restarts, retries with exponential backoff and singleton keys, in the database we
 * already have. A job that exhausts its retries stays `failed`: the dead-letter state operators see
 * in `jobRuns` and run again with `retryJob`.
 */

/** Where the queue sends its SQL: `query(text, values)` answering `{ rows }` (a pg Pool, or our PGlite pool). */
export interface SqlPool {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

export interface QueueDefinition<T extends object = Record<string, unknown>> {
  /** Unique: `crm.<module>.<job>` or `plugin.<plugin>.<job>`. */
  name: string;
  /**
   * Throw to fail the attempt; it is retried. Put `tenantId` in a job's data to show it to that tenant's admins.
   * What it returns is kept as the run's `progress` (a long job reports along the way with `JobQueue.progress`).
   */
  run(data: T, job: { id: string }): Promise<void | Record<string, unknown>>;
  /** Attempts after the first (default 12: with backoff from 30 s, about a day and a half in all). */
  retryLimit?: number;
  /** Seconds before the first retry, doubled each time when `backoff` (the default). */
  retryDelaySeconds?: number;
  backoff?: boolean;
  /** A cron schedule (five fields, minute granularity) run once per cluster, in `tz` (default UTC). */
  cron?: { expression: string; tz?: string };
  /**
   * `stately`: at most one job of the queue waiting and one running, cluster-wide — a run that outlasts
   * its period is never overlapped by the next (what a pull needs). Default `standard`: no such limit.
   */
  policy?: "standard" | "stately";
  /**
   * False: no polling worker; the owner works the queue itself with `drain` (the outbox does, to run
   * one handler's deliveries one at a time and in order in each process). Default true.
   */
  worker?: boolean;
}

export type JobState = "created" | "retry" | "active" | "completed" | "cancelled" | "failed";

export interface JobRunRow {
  id: string;
  name: string;
  state: JobState;
  tenantId: string | null;
  retryCount: number;
  retryLimit: number;
  lastError: string | null;
  progress: Record<string, unknown> | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

export interface JobQueueOptions {
  /** How often an idle worker looks for work, in seconds (≥ 0.5; default 2). */
  pollingSeconds?: number;
}

/** pg-boss keeps a failed attempt's error as `output` (message, stack…); only the message leaves the server. */
function progressOf(output: unknown): Record<string, unknown> | null {
  if (output && typeof output === "object" && "progress" in output) return (output as { progress: Record<string, unknown> }).progress;
  return null;
}

function lastError(output: unknown): string | null {
  if (output && typeof output === "object" && "message" in output) return String((output as { message: unknown }).message).slice(0, 1000);
  return null;
}

export interface JobFilter {
  name?: string | null;
  state?: JobState | null;
  /** Only jobs whose data names this tenant; undefined: all jobs. */
  tenantId?: string;
}

// Creation times in whole milliseconds, as JavaScript dates and the cursors built from them carry them.
const JOB_COLUMNS = `id, name, state::text AS state, data->>'tenantId' AS tenant_id, retry_count, retry_limit, output,
  date_trunc('milliseconds', created_on) AS created_on, started_on, completed_on`;
/** Live jobs and the archive (completed jobs move there after an hour). */
const ALL_JOBS = `(SELECT ${JOB_COLUMNS} FROM pgboss.job UNION ALL SELECT ${JOB_COLUMNS} FROM pgboss.archive) j`;

function conditions(filter: JobFilter) {
  const where = ["true"];
  const values: unknown[] = [];
  const param = (v: unknown) => `$${values.push(v)}`;
  if (filter.name) where.push(`name = ${param(filter.name)}`);
  if (filter.state) where.push(`state = ${param(filter.state)}`);
  if (filter.tenantId !== undefined) where.push(`tenant_id = ${param(filter.tenantId)}`);
  return { where, values, param };
}

export class JobQueue {
  private boss: PgBoss | null = null;
  private readonly definitions = new Map<string, QueueDefinition<any>>();
  private starting: Promise<void> | null = null;
  private stopping = false;
  private readonly installed = new Set<string>();

  constructor(
    private readonly pool: SqlPool,
    private readonly log: Logger,
    private readonly options: JobQueueOptions = {},
  ) {}

  /** Declares a queue with its worker (and cron schedule): installed at `start`, or at once when started. */
  async define<T extends object>(def: QueueDefinition<T>): Promise<void> {
    if (this.definitions.has(def.name)) throw new Error(`Two job queues are named "${def.name}"`);
    this.definitions.set(def.name, def);
    if (this.boss) await this.install(this.boss, def);
  }

  /** How often idle workers look for work, in milliseconds. */
  get pollingMs(): number {
    return (this.options.pollingSeconds ?? 2) * 1000;
  }

  /** True once `start` has been asked for (it may still be starting). */
  get started(): boolean {
    return this.starting !== null;
  }

  start(): Promise<void> {
    // Stopping is for good: a late caller (an outbox dispatch finishing after shutdown) must not start a
    // second boss whose workers poll a closed database past the process's end.
    if (this.stopping) return Promise.resolve();
    this.starting ??= (async () => {
      const boss = new PgBoss({
        db: { executeSql: (text, values) => this.pool.query(text, values ?? []) },
        schema: "pgboss",
        // Completed jobs stay listed (in the archive) for a week; failed ones wait for retryJob for 30 days.
        archiveCompletedAfterSeconds: 60 * 60,
        deleteAfterDays: 7,
        retentionDays: 30,
      });
      boss.on("error", (err) => this.log.error({ err: err.message }, "job queue error"));
      await boss.start();
      if (this.stopping) {
        // Stopped while starting: this boss was never handed out; stop it here, or its workers outlive us.
        await boss.stop({ graceful: false, wait: true });
        return;
      }
      this.boss = boss;
      for (const def of this.definitions.values()) await this.install(boss, def);
    })();
    return this.starting;
  }

  /** One install at a time: concurrent createQueue calls (each makes a partition) deadlock on PostgreSQL. */
  private installChain: Promise<void> = Promise.resolve();

  private install(boss: PgBoss, def: QueueDefinition<any>): Promise<void> {
    if (this.installed.has(def.name)) return Promise.resolve();
    this.installed.add(def.name);
    const next = this.installChain.then(() => this.installNow(boss, def));
    this.installChain = next.catch(() => undefined);
    return next;
  }

  private async installNow(boss: PgBoss, def: QueueDefinition<any>): Promise<void> {
    // A worker added after stop() would poll forever (pg-boss stops only the workers it has when asked).
    if (this.stopping || this.boss !== boss) return;
    await boss.createQueue(def.name, {
      name: def.name,
      policy: def.policy ?? "standard",
      retryLimit: def.retryLimit ?? 12,
      retryDelay: def.retryDelaySeconds ?? 30,
      retryBackoff: def.backoff ?? true,
    });
    if (def.worker === false) {
      if (def.cron) await boss.schedule(def.name, def.cron.expression, {}, { tz: def.cron.tz ?? "UTC" });
      return;
    }
    if (this.stopping || this.boss !== boss) return;
    await boss.work<Record<string, unknown>>(def.name, { pollingIntervalSeconds: this.options.pollingSeconds ?? 2 }, async ([job]) => {
      try {
        const progress = await def.run(job.data as never, { id: job.id });
        return progress ? { progress } : undefined;
      } catch (err) {
        this.log.warn({ queue: def.name, jobId: job.id, err: (err as Error).message }, "job failed; retried with backoff until its retries are spent");
        throw err;
      }
    });
    if (def.cron) await boss.schedule(def.name, def.cron.expression, {}, { tz: def.cron.tz ?? "UTC" });
  }

  /** Records how far a running job has got: `JobRun.progress` shows it (a number of rows, a cursor…). */
  async progress(name: string, jobId: string, progress: Record<string, unknown>): Promise<void> {
    await this.pool.query(`UPDATE pgboss.job SET output = jsonb_build_object('progress', $3::jsonb) WHERE name = $1 AND id = $2 AND state = 'active'`, [name, jobId, JSON.stringify(progress)]);
  }

  /** Enqueues a job; `startAfter` delays it (seconds, or a time); `singletonKey` keeps at most one queued per key. */
  async send(name: string, data: object, options: { startAfter?: number | Date; singletonKey?: string } = {}): Promise<string | null> {
    if (!this.boss) throw new Error("the job queue is not started");
    return this.boss.send(name, data, options);
  }

  /**
   * Enqueues jobs of one queue in one statement. Each brings its own id: a job whose id is already in
   * the queue is skipped, which makes a repeated enqueue (after a crash between enqueuing and recording
   * it) harmless. Jobs of one statement are fetched in id order.
   */
  async insert(name: string, jobs: { id: string; data: object }[]): Promise<void> {
    if (!this.boss) throw new Error("the job queue is not started");
    if (jobs.length) await this.boss.insert(jobs.map((j) => ({ id: j.id, name, data: j.data })));
  }

  /**
   * Works the due jobs of `name` here and now, oldest first, one after another, until none is due —
   * what the queue's poll would do a moment later, without waiting for it (delivery right after a
   * commit). A failure is recorded as the worker records it: retried with backoff, then failed.
   */
  async drain(name: string, batchSize = 50, keepGoing: () => boolean = () => true): Promise<number> {
    const def = this.definitions.get(name);
    let worked = 0;
    while (this.boss && def && keepGoing()) {
      const boss = this.boss;
      // In id order: jobs enqueued by one statement share their creation time.
      const jobs = (await boss.fetch<Record<string, unknown>>(name, { batchSize })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      if (!jobs.length) break;
      for (const job of jobs) {
        try {
          await def.run(job.data as never, { id: job.id });
          await boss.complete(name, job.id);
        } catch (err) {
          this.log.warn({ queue: name, jobId: job.id, err: (err as Error).message }, "job failed; retried with backoff until its retries are spent");
          await boss.fail(name, job.id, { message: (err as Error).message });
        }
        worked++;
      }
      if (jobs.length < batchSize) break;
    }
    return worked;
  }

  /** Jobs (queued, running, completed, failed), newest first: at most `limit` after the cursor (createdAt, id). */
  async runs(filter: JobFilter, limit: number, after?: [string, string], id?: string): Promise<JobRunRow[]> {
    if (!this.boss) return [];
    const { where, values, param } = conditions(filter);
    if (after) where.push(`(created_on, id) < (${param(after[0])}::timestamptz, ${param(after[1])}::uuid)`);
    if (id) where.push(`id = ${param(id)}::uuid`);
    const { rows } = await this.pool.query(`SELECT * FROM ${ALL_JOBS} WHERE ${where.join(" AND ")} ORDER BY created_on DESC, id DESC LIMIT ${param(limit)}`, values);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      state: r.state,
      tenantId: r.tenant_id,
      retryCount: Number(r.retry_count),
      retryLimit: Number(r.retry_limit),
      lastError: lastError(r.output),
      progress: progressOf(r.output),
      createdAt: new Date(r.created_on),
      startedAt: r.started_on ? new Date(r.started_on) : null,
      completedAt: r.completed_on ? new Date(r.completed_on) : null,
    }));
  }

  /** How many jobs match (all pages). */
  async count(filter: JobFilter): Promise<number> {
    if (!this.boss) return 0;
    const { where, values } = conditions(filter);
    const { rows } = await this.pool.query(`SELECT count(*)::int AS n FROM ${ALL_JOBS} WHERE ${where.join(" AND ")}`, values);
    return Number(rows[0].n);
  }

  /** Runs a failed job again. False when no failed job has that id (in that tenant, when given). */
  async retry(id: string, tenantId?: string): Promise<boolean> {
    if (!this.boss) throw new Error("the job queue is not started");
    const { rows } = await this.pool.query(
      `SELECT name FROM pgboss.job WHERE id = $1::uuid AND state = 'failed' AND ($2::text IS NULL OR data->>'tenantId' = $2::text)`,
      [id, tenantId ?? null],
    );
    if (!rows.length) return false;
    await this.boss.retry(rows[0].name, id);
    return true;
  }

  /** Queued, running and failed (dead-letter) jobs per queue, for /metrics. */
  async counts(): Promise<{ name: string; queued: number; active: number; failed: number }[]> {
    if (!this.boss) return [];
    const { rows } = await this.pool.query(
      `SELECT name, count(*) FILTER (WHERE state IN ('created', 'retry'))::int AS queued, count(*) FILTER (WHERE state = 'active')::int AS active,
              count(*) FILTER (WHERE state = 'failed')::int AS failed
         FROM pgboss.job GROUP BY name ORDER BY name`,
    );
    return rows;
  }

  /** Stops the workers (waiting for jobs in progress, up to 10 s) and the schedulers. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Let a start in progress finish (it stops its own boss when it sees `stopping`) and installs settle.
    await this.starting?.catch(() => undefined);
    await this.installChain;
    const boss = this.boss;
    this.boss = null;
    this.starting = null;
    this.installed.clear();
    if (boss) await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
  }
}
