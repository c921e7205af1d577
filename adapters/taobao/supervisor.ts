import { NormalizationError, type ChannelConnectionInfo, type NormalizedEventInput, type PluginContext } from "../../src/plugins";
import { TmcConsumer, type ReceivedMessage, type TmcConsumerOptions } from "./consumer";
import { normalizeTmcMessage, tmcMessageFromFrame } from "./normalize";
import { configSchema, type TaobaoConfig } from "./config";

/** Consumer knobs that are not per-connection config (tests shorten them). */
export type ConsumerTuning = Partial<Pick<TmcConsumerOptions, "heartbeatMs" | "connectTimeoutMs" | "reconnectMaxMs" | "stableAfterMs" | "maxBatch">>;

/**
 * How often the consumers are matched to the enabled connections. Polling costs one query; every
 * few seconds is right while Taobao is in use here (a disabled connection's consumer stops within
 * that time), but a server without Taobao connections polls only once a minute, so it sends almost
 * no background statements (see README "Starting and stopping consumers").
 */
export interface ReconcileCadence {
  /** While a consumer runs, or ran in the last `activeWindowMs`. Default 2000. */
  activeMs: number;
  /** Otherwise. Default 60 000. */
  idleMs: number;
  /** Default 10 minutes. */
  activeWindowMs: number;
}

export const DEFAULT_CADENCE: ReconcileCadence = { activeMs: 2000, idleMs: 60_000, activeWindowMs: 10 * 60_000 };

interface Running {
  consumer: TmcConsumer;
  /** The config it runs with, to restart it when the merchant changes the config. */
  config: string;
}

/**
 * One TMC consumer per enabled taobao connection, for one plugin host. `reconcile` (at init and from
 * the plugin's job) starts consumers for new connections, restarts those whose config changed and
 * stops those disabled or deleted; `stop` ends them all.
 */
export class TaobaoSupervisor {
  private readonly running = new Map<string, Running>();
  private stopped = false;
  private readonly invalid = new Set<string>();
  private lastReconcile = Number.NEGATIVE_INFINITY;
  private lastActive = Number.NEGATIVE_INFINITY;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: PluginContext<TaobaoConfig>,
    private readonly tuning: ConsumerTuning = {},
    private readonly cadence: ReconcileCadence = DEFAULT_CADENCE,
  ) {}

  /** Called by the plugin's job every `activeMs`: reconciles when the cadence says it is due. */
  async tick(now = Date.now()): Promise<void> {
    const active = this.running.size > 0 || now - this.lastActive < this.cadence.activeWindowMs;
    if (now - this.lastReconcile < (active ? this.cadence.activeMs : this.cadence.idleMs)) return;
    await this.reconcile(now);
  }

  /** Connection ids with a running consumer. */
  get connectionIds(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Runs one reconciliation after any in progress: the job's tick and the host's
   * `channel_connection.changed` may call at once, and two overlapping runs could act on reads taken
   * on either side of a change (one stops a disabled connection's consumer, the other, holding the
   * older list, starts it again).
   */
  reconcile(now = Date.now()): Promise<void> {
    const run = this.queue.then(() => this.reconcileOnce(now));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reconcileOnce(now: number): Promise<void> {
    if (this.stopped) return;
    this.lastReconcile = now;
    if (this.running.size) this.lastActive = now;
    const connections = await this.ctx.connections();
    if (this.stopped) return;
    const wanted = new Map<string, ChannelConnectionInfo<TaobaoConfig>>();
    for (const c of connections) {
      const parsed = configSchema.safeParse(c.config);
      if (parsed.success) wanted.set(c.id, { ...c, config: parsed.data });
      else if (!this.invalid.has(c.id)) {
        this.invalid.add(c.id);
        this.ctx.log.error({ connectionId: c.id, issue: parsed.error.issues[0]?.path.join(".") }, "taobao: connection config is invalid; no consumer started");
      }
    }
    const stopping: Promise<void>[] = [];
    for (const [id, r] of this.running) {
      const want = wanted.get(id);
      if (want && JSON.stringify(want.config) === r.config) continue;
      this.running.delete(id);
      this.ctx.log.info({ connectionId: id }, want ? "taobao: connection config changed; restarting its consumer" : "taobao: connection disabled or removed; stopping its consumer");
      stopping.push(r.consumer.stop());
    }
    await Promise.all(stopping);
    if (this.stopped) return;
    for (const [id, connection] of wanted) if (!this.running.has(id)) this.start(connection);
    if (this.running.size) this.lastActive = now;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.consumer.stop()));
  }

  private start(connection: ChannelConnectionInfo<TaobaoConfig>): void {
    const { config } = connection;
    const log = this.ctx.log.child({ connectionId: connection.id, appKey: config.appKey });
    const consumer = new TmcConsumer({
      ...this.tuning,
      url: config.tmcUrl,
      appKey: config.appKey,
      appSecret: config.appSecret,
      groupName: config.groupName,
      reconnectBaseMs: config.reconnectBaseMs,
      log,
      handle: (messages) => this.handle(connection, log, messages),
    });
    this.running.set(connection.id, { consumer, config: JSON.stringify(config) });
    consumer.start();
  }

  /**
   * Normalizes a batch and ingests its events in one call (one transaction); returning means they
   * are committed, so the consumer confirms them. A message that cannot be understood, or whose
   * event the pipeline rejects, is processed as far as it ever will be: logged and confirmed, since
   * redelivering it would change nothing. Only a failing ingest (the database, the connection gone)
   * throws, leaving the batch unconfirmed.
   */
  private async handle(connection: ChannelConnectionInfo<TaobaoConfig>, log: PluginContext["log"], messages: ReceivedMessage[]): Promise<void> {
    const events: NormalizedEventInput[] = [];
    const sources: ReceivedMessage[] = [];
    for (const m of messages) {
      try {
        const produced = normalizeTmcMessage(tmcMessageFromFrame(m.fields));
        events.push(...produced);
        for (let i = 0; i < produced.length; i++) sources.push(m);
      } catch (err) {
        // No personal data in these logs: ids, topic and the reason only.
        const expected = err instanceof NormalizationError;
        log[expected ? "warn" : "error"](
          { messageId: m.id.toString(), topic: String(m.fields.topic ?? ""), reason: expected ? (err as Error).message : `bug: ${(err as Error)?.name}` },
          "taobao: message not understood; confirming it so TMC stops redelivering",
        );
      }
    }
    if (!events.length) return;
    const results = await this.ctx.ingest(connection.id, events);
    results.forEach((r, i) => {
      if (r.status === "rejected") {
        log.warn({ messageId: sources[i].id.toString(), topic: String(sources[i].fields.topic ?? ""), externalId: r.externalId, reason: r.reason }, "taobao: event rejected by the pipeline; message confirmed");
      }
    });
    log.debug({ messages: messages.length, events: events.length, accepted: results.filter((r) => r.status === "accepted").length }, "taobao: batch ingested");
  }
}
