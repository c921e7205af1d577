import type { DataSource, EntityManager } from "typeorm";
import type { Logger } from "pino";
import type { PubSub } from "./pubsub";
import type { Delivered, DomainEvent, DomainEventType, EventOf } from "./types";

export type EventHandler<T extends DomainEventType = DomainEventType> = (event: Delivered<EventOf<T>>) => Promise<void> | void;

const BATCH = 200;
const MAX_ATTEMPTS = 10;
/** How long a claimed batch may take before another dispatcher may deliver it again. */
const LEASE_SECONDS = 60;

/**
 * The transactional outbox. `write` stores events in the caller's transaction; `dispatch` leases
 * undispatched rows (FOR UPDATE SKIP LOCKED, so several instances share the work), hands each to
 * the PubSub and the registered handlers outside any transaction, then marks them dispatched.
 * Delivery is at least once: a handler that failed keeps its row pending (and is retried by the
 * poller), so handlers must be idempotent — the `eventId` helps.
 */
export class Outbox {
  private readonly handlers = new Map<string, EventHandler[]>();
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubsub: PubSub,
    private readonly log: Logger,
  ) {}

  on<T extends DomainEventType>(type: T, handler: EventHandler<T>): void {
    const list = this.handlers.get(type) ?? [];
    list.push(handler as unknown as EventHandler);
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
   */
  private async dispatchBatch(): Promise<number> {
    const rows: { id: string; type: string; payload: DomainEvent; created_at: Date }[] = await this.dataSource.query(
      `UPDATE outbox SET lease_until = now() + make_interval(secs => $2::int)
        WHERE id IN (SELECT id FROM outbox
                      WHERE dispatched_at IS NULL AND (lease_until IS NULL OR lease_until < now())
                      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, type, payload, created_at`,
      [BATCH, LEASE_SECONDS],
    ).then(([r]: [typeof rows]) => r.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id))));
    const done: string[] = [];
    const failed: string[] = [];
    for (const row of rows) {
      const event = { ...row.payload, eventId: row.id, occurredAt: new Date(row.created_at).toISOString() } as Delivered;
      this.pubsub.publish(event);
      let okAll = true;
      for (const handler of this.handlers.get(row.type) ?? []) {
        try {
          await handler(event);
        } catch (err) {
          okAll = false;
          this.log.warn({ eventId: row.id, type: row.type, err: (err as Error).message }, "event handler failed");
        }
      }
      (okAll ? done : failed).push(row.id);
    }
    if (done.length) {
      await this.dataSource.query(`UPDATE outbox SET dispatched_at = now(), attempts = attempts + 1, lease_until = NULL WHERE id = ANY($1::bigint[])`, [done]);
    }
    if (failed.length) {
      // After MAX_ATTEMPTS a row stops blocking the queue; it stays in the table for inspection.
      await this.dataSource.query(
        `UPDATE outbox SET attempts = attempts + 1, lease_until = NULL,
           dispatched_at = CASE WHEN attempts + 1 >= $2 THEN now() END
         WHERE id = ANY($1::bigint[])`,
        [failed, MAX_ATTEMPTS],
      );
    }
    return rows.length;
  }
}
