import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { JobQueue } from "./jobs";
import type { DataSource } from "typeorm";

/**
 * The process's Prometheus metrics (`GET /metrics`), one registry per App so that several apps in one
 * process (tests) never share counters. Labels carry channel, plugin and handler names only — never a
 * tenant or anything personal.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly channelRefusals = new Counter({
    name: "crm_channel_refusals_total",
    help: "Channel webhook requests refused, by channel and HTTP status.",
    labelNames: ["channel", "status"] as const,
    registers: [this.registry],
  });

  readonly ingestedEvents = new Counter({
    name: "crm_ingest_events_total",
    help: "Events through the ingestion pipeline, by channel and result (accepted, duplicate, rejected).",
    labelNames: ["channel", "status"] as const,
    registers: [this.registry],
  });

  readonly ingestBatchSeconds = new Histogram({
    name: "crm_ingest_batch_duration_seconds",
    help: "Time to ingest one batch (validation and its transaction, retries included), by channel.",
    labelNames: ["channel"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly outboxDispatched = new Counter({
    name: "crm_outbox_events_dispatched_total",
    help: "Domain events dispatched by the outbox (published to subscribers, a delivery job queued per handler), by event type.",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });

  readonly outboxHandlerFailures = new Counter({
    name: "crm_outbox_handler_failures_total",
    help: "Event handler runs that threw (each is retried with backoff, then left as a dead letter), by handler name.",
    labelNames: ["handler"] as const,
    registers: [this.registry],
  });

  readonly subscriptionExecutions = new Counter({
    name: "crm_subscription_executions_total",
    help: "Executions of subscription selections: one per event and group of identical subscriptions, not per subscriber.",
    registers: [this.registry],
  });

  readonly subscriptionPayloads = new Counter({
    name: "crm_subscription_payloads_serialized_total",
    help: "Subscription payloads serialized: one per event and group of identical subscriptions, however many sockets it goes to.",
    registers: [this.registry],
  });

  readonly slowSubscribers = new Counter({
    name: "crm_subscription_slow_consumers_total",
    help: "Subscription sockets closed (1013) for falling too far behind their events.",
    registers: [this.registry],
  });

  readonly pluginJobFailures = new Counter({
    name: "crm_plugin_job_failures_total",
    help: "Plugin job runs that threw, by plugin and job.",
    labelNames: ["plugin", "job"] as const,
    registers: [this.registry],
  });

  constructor(dataSource: DataSource, jobs: JobQueue) {
    collectDefaultMetrics({ register: this.registry });
    // Read from the database at scrape time: the backlog is shared by every instance.
    let scrape: Promise<{ pending: number; age: number }> | null = null;
    const backlog = () =>
      (scrape ??= dataSource
        .query(
          `SELECT count(*)::int AS pending, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age
             FROM outbox WHERE dispatched_at IS NULL`,
        )
        .then(([r]: { pending: number; age: number }[]) => ({ pending: Number(r.pending), age: Number(r.age) }))
        .catch(() => ({ pending: Number.NaN, age: Number.NaN }))
        .finally(() => setImmediate(() => (scrape = null))));
    new Gauge({
      name: "crm_outbox_pending_events",
      help: "Outbox events not yet delivered (NaN when the database cannot be read).",
      registers: [this.registry],
      async collect() {
        this.set((await backlog()).pending);
      },
    });
    let counting: ReturnType<JobQueue["counts"]> | null = null;
    const queues = () => (counting ??= jobs.counts().catch(() => []).finally(() => setImmediate(() => (counting = null))));
    for (const [name, field, help] of [
      ["crm_jobs_queued", "queued", "Jobs waiting to run (new or awaiting a retry), by queue."],
      ["crm_jobs_active", "active", "Jobs running now, by queue."],
      ["crm_jobs_failed", "failed", "Jobs that spent their retries (dead letters: see jobRuns, run again with retryJob), by queue."],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ["queue"] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const q of await queues()) this.set({ queue: q.name }, q[field]);
        },
      });
    }
    new Gauge({
      name: "crm_outbox_oldest_pending_seconds",
      help: "Age of the oldest undelivered outbox event; 0 when there is none.",
      registers: [this.registry],
      async collect() {
        this.set((await backlog()).age);
      },
    });
  }

  /** The text exposition format, and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
