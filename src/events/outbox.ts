import type { DataSource, EntityManager } from "typeorm";
import type { Logger } from "pino";
import { createHash } from "node:crypto";
import type { JobQueue } from "../core/jobs";
import type { Metrics } from "../core/metrics";
import type { PubSub } from "./pubsub";
import { DOMAIN_EVENT_VERSION, type Delivered, type DomainEvent, type DomainEventType, type EventOf } from "./types";

export type EventHandler<T extends DomainEventType = DomainEventType> = (event: Delivered<EventOf<T>>) => Promise<void> | void;

const BATCH = 200;
/** How long a claimed batch may take before another dispatcher may dispatch it again. */
const LEASE_SECONDS = 60;

/** How each handler's delivery is retried (config: EVENT_RETRY_DELAY_SECONDS, EVENT_RETRY_LIMIT). */
export interface DeliveryPolicy {
  retryDelaySeconds: number;
  retryLimit: number;
}

/** What a delivery job carries: the whole event, so that pruning the outbox never starves a retry. */
interface DeliveryJob {
  tenantId: string | null;
  type: string;
  handler: string;
  event: Delivered;
}

/**
 * The job id of one (event, handler) delivery: the event id in the first half, so that jobs sort in
 * event order, and the handler's name hashed in the second, so that enqueuing twice is a no-op.
 */
export function deliveryJobId(eventId: string, handler: string): string {
  const hex = BigInt(eventId).toString(16).padStart(16, "0") + createHash("sha256").update(handler).digest("hex").slice(0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The queue of a handler's deliveries. */
export function deliveryQueueOf(handler: string): string {
  return `crm.deliver.${handler.replace(/[^\w.-]/g, "_")}`;
}

/**
 * The transactional outbox. `write` stores events in the caller's transaction. `dispatch` leases
 * undispatched rows (FOR UPDATE SKIP LOCKED, so several instances share the work), publishes each once
 * to the PubSub (subscriptions), and hands it to every registered handler as its own job on the job
 * queue — one queue per handler, so a slow or failing handler delays no other. A delivery that throws
 * is retried with exponential backoff for hours (DeliveryPolicy); when its retries are spent it stays
 * `failed`: a dead letter operators see in `jobRuns` and run again with `retryJob`.
 *
 * Right after a dispatch the new deliveries are worked in this process; retries as they come due, by
 * whichever instance looks first. In each process a handler's deliveries run one at a time, in event
 * order; with several instances, two may run one handler at once.
 *
 * Crash windows, in order: rows are published, then `published_at` is set in one statement — dying
 * between the two publishes them again (at least once; marking first would lose them instead).
 * Delivery jobs are then enqueued with ids derived from (event, handler), so enqueuing again after a
 * crash adds nothing, and the rows are marked dispatched. A handler that dies mid-run is run again
 * when its job expires: delivery stays at least once, so handlers must be idempotent (the `eventId`
 * helps). A retry comes after the events that followed the failed one.
 */
export class Outbox {
  private readonly handlers = new Map<string, { name: string; handler: EventHandler }[]>();
  /** Handler name → its queue. */
  private readonly queues = new Map<string, string>();
  private readonly installing: Promise<void>[] = [];
  private running: Promise<void> | null = null;
  private again = false;
  private readonly drains = new Map<string, { run: Promise<void>; again: boolean }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubsub: PubSub,
    private readonly jobs: JobQueue,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly policy: DeliveryPolicy = { retryDelaySeconds: 30, retryLimit: 10 },
  ) {}

  /**
   * Registers a handler. Its `name` names its delivery queue, so it must stay stable across restarts
   * and instances (plugins use `plugin:<name>`); one name may serve several event types. The default,
   * `<type>#<n>` by order of registration, is stable only while registration order is.
   */
  on<T extends DomainEventType>(type: T, handler: EventHandler<T>, name: string = `${type}#${this.handlers.get(type)?.length ?? 0}`): void {
    const list = this.handlers.get(type) ?? [];
    if (list.some((h) => h.name === name)) throw new Error(`Two handlers of ${type} are named "${name}"`);
    if (!this.queues.has(name)) {
      const queue = deliveryQueueOf(name);
      const clash = [...this.queues].find(([, q]) => q === queue);
      if (clash) throw new Error(`Handlers "${clash[0]}" and "${name}" would share the delivery queue ${queue}`);
      this.queues.set(name, queue);
      this.installing.push(
        this.jobs
          .define<DeliveryJob>({
            name: queue,
            retryLimit: this.policy.retryLimit,
            retryDelaySeconds: this.policy.retryDelaySeconds,
            backoff: true,
            // Worked by this outbox (deliverNow), not by a polling worker: one run at a time per handler in each process.
            worker: false,
            run: (job) => this.deliver(job),
          })
          .catch((err) => this.log.error({ handler: name, err: (err as Error).message }, "delivery queue could not be installed")),
      );
    }
    list.push({ name, handler: handler as unknown as EventHandler });
    this.handlers.set(type, list);
  }

  /** Resolves once the job queue runs and every handler's delivery queue is installed. */
  async ready(): Promise<void> {
    await this.jobs.start();
    await Promise.all(this.installing);
    // Retries come due later: look for them as often as the queue's workers look for work.
    if (!this.retryTimer && !this.stopped) {
      this.retryTimer = setInterval(() => {
        for (const queue of new Set(this.queues.values())) this.deliverNow(queue);
      }, this.jobs.pollingMs);
      this.retryTimer.unref();
    }
  }

  private async deliver(job: DeliveryJob): Promise<void> {
    const found = this.handlers.get(job.type)?.find((h) => h.name === job.handler);
    if (!found) throw new Error(`No handler "${job.handler}" of ${job.type} is registered here`);
    // Tracked whoever runs it (this process's immediate drain or the queue's poller), for idle().
    const run = (async () => found.handler(job.event))();
    this.inFlight.add(run);
    try {
      await run;
    } catch (err) {
      this.metrics.outboxHandlerFailures.inc({ handler: job.handler });
      throw err;
    } finally {
      this.inFlight.delete(run);
    }
  }

  /** One statement for any number of events (a batch of ingestion writes hundreds). */
  async write(manager: EntityManager, events: DomainEvent[]): Promise<void> {
    await manager.query(
      `INSERT INTO outbox (tenant_id, type, payload, created_at)
       SELECT x.tenant_id, x.type, x.payload, now() FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id uuid, type text, payload jsonb)`,
      [JSON.stringify(events.map((e) => ({ tenant_id: e.tenantId, type: e.type, payload: e })))],
    );
  }

  /** Dispatch soon (after the current commit); coalesces bursts into one run. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /**
   * Resolves when everything written so far has been dispatched and each of its deliveries has had its
   * first attempt (tests, shutdown). A delivery waiting for a retry does not hold it.
   */
  async idle(): Promise<void> {
    for (;;) {
      if (this.running) await this.running;
      else if (this.drains.size) await Promise.all([...this.drains.values()].map((d) => d.run));
      else if (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
      else return;
    }
  }

  /**
   * Deletes dispatched rows older than `retentionDays`, at most `chunk` per statement until none are left,
   * so a large backlog never holds one long lock. Pending rows are never touched. Returns how many went.
   */
  async prune(retentionDays: number, chunk = 5_000): Promise<number> {
    let total = 0;
    for (;;) {
      // Counted from RETURNING: both drivers give the rows (not both report an affected count).
      const [rows]: [{ id: string }[], number] = await this.dataSource.query(
        `DELETE FROM outbox WHERE id IN (
           SELECT id FROM outbox WHERE dispatched_at IS NOT NULL AND dispatched_at < now() - make_interval(days => $1::int) ORDER BY id LIMIT $2)
         RETURNING id`,
        [retentionDays, chunk],
      );
      const deleted = rows.length;
      total += deleted;
      if (deleted < chunk) return total;
    }
  }

  start(pollMs: number): void {
    this.kick();
    if (pollMs > 0) {
      this.timer = setInterval(() => this.kick(), pollMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retryTimer) clearInterval(this.retryTimer);
    await this.idle();
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && (await this.dispatchBatch()) === BATCH) {
        /* keep going while full batches come back */
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "outbox dispatch failed; will retry");
    }
  }

  /** Works a queue's due deliveries now; a request while it runs makes it look again afterwards. */
  private deliverNow(queue: string): void {
    const current = this.drains.get(queue);
    if (current) {
      current.again = true;
      return;
    }
    const state = { run: Promise.resolve(), again: false };
    state.run = (async () => {
      do {
        state.again = false;
        try {
          // Small batches: fetched jobs count as running (and expire after 15 minutes) until their turn comes.
          await this.jobs.drain(queue, 10, () => !this.stopped);
        } catch (err) {
          this.log.error({ queue, err: (err as Error).message }, "delivery failed to run; the queue's workers will retry");
        }
      } while (state.again && !this.stopped);
      this.drains.delete(queue);
    })();
    this.drains.set(queue, state);
  }

  /**
   * Claim (a short statement that leases the rows), publish, enqueue one delivery job per (row,
   * handler), record the rows as dispatched — no transaction open, and handlers run outside any:
   * they may use the database, which on the single-connection embedded database would otherwise wait.
   */
  private async dispatchBatch(): Promise<number> {
    type Claimed = { id: string; tenant_id: string | null; type: string; payload: DomainEvent; created_at: Date; published_at: Date | null; handlers_done: string[] };
    const rows: Claimed[] = await this.dataSource.query(
      `UPDATE outbox SET lease_until = now() + make_interval(secs => $2::int)
        WHERE id IN (SELECT id FROM outbox
                      WHERE dispatched_at IS NULL AND (lease_until IS NULL OR lease_until < now())
                      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, tenant_id, type, payload, created_at, published_at, handlers_done`,
      [BATCH, LEASE_SECONDS],
    ).then(([r]: [Claimed[]]) => r.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id))));
    if (!rows.length) return 0;
    const delivered = new Map<string, Delivered>(
      // Rows written before events carried a version and a source read as version 1 from an unknown actor.
      rows.map((row) => [
        row.id,
        { version: DOMAIN_EVENT_VERSION, source: { kind: "system", actor: "unknown" }, ...row.payload, eventId: row.id, occurredAt: new Date(row.created_at).toISOString() } as Delivered,
      ]),
    );

    const unpublished = rows.filter((row) => !row.published_at);
    for (const row of unpublished) this.pubsub.publish(delivered.get(row.id)!);
    if (unpublished.length) {
      await this.dataSource.query(`UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]) AND published_at IS NULL`, [
        unpublished.map((row) => row.id),
      ]);
    }

    // Rows from before deliveries were jobs may name handlers that already completed.
    const perQueue = new Map<string, { id: string; data: DeliveryJob }[]>();
    for (const row of rows) {
      const done = new Set(row.handlers_done ?? []);
      for (const { name } of this.handlers.get(row.type) ?? []) {
        if (done.has(name)) continue;
        const queue = this.queues.get(name)!;
        const list = perQueue.get(queue) ?? [];
        list.push({ id: deliveryJobId(row.id, name), data: { tenantId: row.tenant_id, type: row.type, handler: name, event: delivered.get(row.id)! } });
        perQueue.set(queue, list);
      }
    }
    if (perQueue.size) {
      await this.ready(); // the server starts the queue; an app used without one (tests, scripts) starts it here
      for (const [queue, jobs] of perQueue) await this.jobs.insert(queue, jobs);
    }
    await this.dataSource.query(`UPDATE outbox SET attempts = attempts + 1, lease_until = NULL, dispatched_at = now() WHERE id = ANY($1::bigint[])`, [
      rows.map((row) => row.id),
    ]);
    for (const row of rows) this.metrics.outboxDispatched.inc({ type: row.type });
    if (!this.stopped) for (const queue of perQueue.keys()) this.deliverNow(queue);
    return rows.length;
  }
}
