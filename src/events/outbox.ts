import type { DataSource, EntityManager } from "typeorm";
import type { Logger } from "pino";
import type { Metrics } from "../core/metrics";
import type { PubSub } from "./pubsub";
import { DOMAIN_EVENT_VERSION, type Delivered, type DomainEvent, type DomainEventType, type EventOf } from "./types";

export type EventHandler<T extends DomainEventType = DomainEventType> = (event: Delivered<EventOf<T>>) => Promise<void> | void;

const BATCH = 200;
const MAX_ATTEMPTS = 10;
/** How long a claimed batch may take before another dispatcher may deliver it again. */
const LEASE_SECONDS = 60;

/**
 * The transactional outbox. `write` stores events in the caller's transaction; `dispatch` leases
 * undispatched rows (FOR UPDATE SKIP LOCKED, so several instances share the work), hands each to
 * the PubSub and the registered handlers outside any transaction, then marks them dispatched.
 *
 * A row remembers what was delivered: `published_at` (subscribers heard it) and `handlers_done`
 * (names of the handlers that completed). A handler that fails keeps its row pending; the retry
 * (next poll, up to MAX_ATTEMPTS) runs only the handlers not yet done and does not publish again.
 * Only a crash — or a failed write of that record — repeats work: delivery stays at least once, so
 * handlers must still be idempotent (the `eventId` helps).
 */
export class Outbox {
  private readonly handlers = new Map<string, { name: string; handler: EventHandler }[]>();
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubsub: PubSub,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Registers a handler. Its `name` is what a row records once the handler has completed, so a
   * retry skips it: keep it stable across restarts (plugins use `plugin:<name>`). The default,
   * `<type>#<n>` by order of registration, is stable only while registration order is.
   */
  on<T extends DomainEventType>(type: T, handler: EventHandler<T>, name: string = `${type}#${this.handlers.get(type)?.length ?? 0}`): void {
    const list = this.handlers.get(type) ?? [];
    if (list.some((h) => h.name === name)) throw new Error(`Two handlers of ${type} are named "${name}"`);
    list.push({ name, handler: handler as unknown as EventHandler });
    this.handlers.set(type, list);
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

  /** Resolves when everything written so far has been dispatched (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
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

  /**
   * Claim (a short transaction that leases the rows), deliver with no transaction open — handlers
   * may use the database, which on the single-connection embedded database would otherwise wait
   * forever — then record the outcome. A dispatcher that dies mid-way leaves leased rows that another
   * picks up once the lease ends: delivery stays at least once.
   *
   * Crash windows, in order: the batch's new rows are published, then `published_at` is set for them
   * in one statement — dying between the two publishes them again (at least once; marking first
   * would lose them instead). Handlers then run, and one statement records for every row the
   * handlers that completed; dying before it reruns the batch's handlers. A handler that merely
   * throws never causes either.
   */
  private async dispatchBatch(): Promise<number> {
    type Claimed = { id: string; type: string; payload: DomainEvent; created_at: Date; published_at: Date | null; handlers_done: string[] };
    const rows: Claimed[] = await this.dataSource.query(
      `UPDATE outbox SET lease_until = now() + make_interval(secs => $2::int)
        WHERE id IN (SELECT id FROM outbox
                      WHERE dispatched_at IS NULL AND (lease_until IS NULL OR lease_until < now())
                      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, type, payload, created_at, published_at, handlers_done`,
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

    const outcomes: { id: string; ok: boolean; done: string[] }[] = [];
    for (const row of rows) {
      const event = delivered.get(row.id)!;
      const done = new Set(row.handlers_done ?? []);
      let ok = true;
      for (const { name, handler } of this.handlers.get(row.type) ?? []) {
        if (done.has(name)) continue;
        try {
          await handler(event);
          done.add(name);
        } catch (err) {
          ok = false;
          this.metrics.outboxHandlerFailures.inc({ handler: name });
          this.log.warn({ eventId: row.id, type: row.type, handler: name, err: (err as Error).message }, "event handler failed");
        }
      }
      outcomes.push({ id: row.id, ok, done: [...done] });
    }
    // One statement for the batch. Names are merged with what is stored, in case a dispatcher whose
    // lease ran out recorded some meanwhile. After MAX_ATTEMPTS a row stops blocking the queue; it
    // stays in the table for inspection, its handlers_done telling which handlers never completed.
    const [recorded]: [{ type: string; done: boolean }[]] = await this.dataSource.query(
      `UPDATE outbox o SET attempts = o.attempts + 1, lease_until = NULL,
         handlers_done = ARRAY(SELECT DISTINCT h FROM unnest(o.handlers_done || ARRAY(SELECT jsonb_array_elements_text(x.done))) AS h ORDER BY h),
         dispatched_at = COALESCE(o.dispatched_at, CASE WHEN x.ok OR o.attempts + 1 >= $2 THEN now() END)
        FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, ok boolean, done jsonb)
       WHERE o.id = x.id
       RETURNING o.type, o.dispatched_at IS NOT NULL AS done`,
      [JSON.stringify(outcomes), MAX_ATTEMPTS],
    );
    for (const r of recorded) if (r.done) this.metrics.outboxDispatched.inc({ type: r.type });
    return rows.length;
  }
}
