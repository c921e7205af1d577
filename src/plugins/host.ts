import express, { type Request, type Response, type Router } from "express";
import semver from "semver";
import { QueryFailedError } from "typeorm";
import type { App } from "../app";
import { tenantOf, type Ctx } from "../core/context";
import { localId, UUID_ANY_CASE } from "../core/global-id";
import type { PluginRequest } from "./graphql";
import type { DomainEventType } from "../events/types";
import type { IdentityTypeName } from "./identity";
import { PluginStateStore } from "./state-store";
import {
  NormalizationError,
  PLUGIN_CONTRACT_VERSION,
  VerificationError,
  type ChannelConnectionInfo,
  type ChannelRequest,
  type ChannelResponse,
  type IngestResult,
  type KeyValueStore,
  type PluginContext,
  type PluginDefinition,
} from "./types";

const MAX_BODY = "5mb";

/**
 * Loads plugins (built-ins plus modules named in CRM_PLUGINS), mounts their channels on
 * `/channels/<name>/<connectionId>`, feeds them committed domain events and runs their jobs.
 * Plugins see only a PluginContext — never entities or repositories.
 */
export class PluginHost {
  private readonly plugins = new Map<string, PluginDefinition<unknown>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  /** Each plugin's one context: the same reaches its init, handlers, jobs, webhooks, resolvers and destroy. */
  private readonly contexts = new Map<string, PluginContext<unknown>>();
  /** The run in progress (or queued last) of each job, so runs of one job never overlap. */
  private readonly jobRuns = new Map<string, Promise<void>>();

  constructor(private readonly app: App) {}

  register(plugin: PluginDefinition<any>): void {
    if (!plugin?.name || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(plugin.name)) {
      throw new Error(`A plugin needs a lower-case name of letters, digits and dashes (got ${JSON.stringify(plugin?.name)})`);
    }
    if (plugin.compatibility === undefined) {
      this.app.log.warn({ plugin: plugin.name }, `plugin declares no compatibility; written for contract ${PLUGIN_CONTRACT_VERSION}?`);
    } else if (!semver.validRange(plugin.compatibility)) {
      throw new Error(`Plugin "${plugin.name}": compatibility ${JSON.stringify(plugin.compatibility)} is not a semver range`);
    } else if (!semver.satisfies(PLUGIN_CONTRACT_VERSION, plugin.compatibility)) {
      throw new Error(`Plugin "${plugin.name}" needs plugin contract ${plugin.compatibility}; this server has ${PLUGIN_CONTRACT_VERSION}`);
    }
    if (this.plugins.has(plugin.name)) throw new Error(`Two plugins are named "${plugin.name}"`);
    this.plugins.set(plugin.name, plugin as PluginDefinition<unknown>);
  }

  get(name: string): PluginDefinition<unknown> | undefined {
    return this.plugins.get(name);
  }

  /** GraphQL resolvers contributed by plugins, for the schema. */
  resolvers(): Function[] {
    return [...this.plugins.values()].flatMap((p) => [...(p.resolvers ?? [])]);
  }

  /** What `pluginRequest(ctx, name)` returns inside a plugin's resolver. */
  request(ctx: Ctx, pluginName: string): PluginRequest<unknown> {
    const plugin = this.plugins.get(pluginName);
    if (!plugin) throw new Error(`No plugin named "${pluginName}"`);
    const app = this.app;
    return {
      tenantId: tenantOf(ctx),
      requestId: ctx.requestId,
      context: this.context(plugin),
      async connection(globalId) {
        const id = localId(globalId, "ChannelConnection");
        const c = id ? await app.channels.byId(ctx, id) : null;
        return c && c.enabled && c.channel === pluginName ? app.channels.info(c) : null;
      },
    };
  }

  channelNames(): string[] {
    return [...this.plugins.values()].filter((p) => p.channel).map((p) => p.name);
  }

  /** The plugin's context, built on first use and then kept (not rebuilt per webhook or GraphQL request). */
  context(plugin: PluginDefinition<unknown>): PluginContext<unknown> {
    let ctx = this.contexts.get(plugin.name);
    if (!ctx) this.contexts.set(plugin.name, (ctx = this.createContext(plugin)));
    return ctx;
  }

  private createContext(plugin: PluginDefinition<unknown>): PluginContext<unknown> {
    const app = this.app;
    return {
      log: app.log.child({ plugin: plugin.name }),
      state: (connectionId) => new PluginStateStore(app.db.dataSource, plugin.name, connectionId, app.secrets),
      ingest: async (connectionId, events) => {
        const connection = await app.channels.forWebhook(plugin.name, connectionId);
        if (!connection) throw new Error(`No enabled ${plugin.name} connection ${connectionId}`);
        return app.ingestion.ingest(systemCtx(app, connection.tenantId, plugin.name), { channel: plugin.name, connectionId }, events);
      },
      customers: {
        findByIdentity: async (tenantId, type, value) => {
          const c = await app.customers.findByIdentity(systemCtx(app, tenantId, plugin.name), type, value);
          return c ? { id: c.id } : null;
        },
        get: async (tenantId, customerId) => {
          if (!UUID_ANY_CASE.test(customerId)) return null;
          const [c] = await app.customers.byIds(tenantId, [customerId]);
          if (!c) return null;
          const identities = await app.customers.identitiesOf(tenantId, [customerId]);
          return structuredClone({
            id: c.id,
            displayName: c.displayName,
            phone: c.phone,
            email: c.email,
            gender: c.gender,
            birthday: c.birthday,
            locale: c.locale,
            region: { country: c.country, province: c.province, city: c.city },
            tags: c.tags,
            attributes: c.attributes,
            identities: identities.map((i) => ({ type: i.type as IdentityTypeName, value: i.value, sourceChannel: i.sourceChannel })),
            marketingConsent: c.marketingConsent.map((m) => ({ channel: m.channel, granted: m.granted, updatedAt: m.updatedAt.toISOString() })),
            consents: c.consents.map((m) => ({ purpose: m.purpose, channel: m.channel, granted: m.granted, updatedAt: m.updatedAt.toISOString() })),
            createdAt: c.createdAt.toISOString(),
            updatedAt: c.updatedAt.toISOString(),
          });
        },
        identities: async (tenantId, customerId) => {
          if (!UUID_ANY_CASE.test(customerId)) return null;
          const [c] = await app.customers.byIds(tenantId, [customerId]);
          if (!c) return null;
          return (await app.customers.identitiesOf(tenantId, [customerId])).map((i) => ({ type: i.type as IdentityTypeName, value: i.value }));
        },
      },
      connections: () => app.channels.enabledOf(plugin.name),
    };
  }

  /** init, event handlers and jobs of every plugin. */
  async start(): Promise<void> {
    for (const plugin of this.plugins.values()) {
      const ctx = this.context(plugin);
      await plugin.init?.(ctx);
      for (const [type, handler] of Object.entries(plugin.onEvent ?? {})) {
        const run = handler as (e: unknown, c: PluginContext<unknown>) => Promise<void>;
        // Named by plugin, so that a retry after another handler failed skips this one if it completed.
        this.app.outbox.on(
          type as DomainEventType,
          // A plugin hears of its own channel's connections only.
          (event) => (event.type === "channel_connection.changed" && event.channel !== plugin.name ? undefined : run(event, ctx)),
          `plugin:${plugin.name}`,
        );
      }
      for (const job of plugin.jobs ?? []) {
        const run = () => this.runJob(plugin.name, job.name, () => job.run(ctx));
        if (job.cron) {
          await this.app.jobs.define({
            name: `plugin.${plugin.name}.${job.name}`,
            cron: { expression: job.cron },
            // The next period is the retry: a failed run is counted, not repeated at once. One run at a
            // time cluster-wide: a run that outlasts its period delays the next instead of overlapping it.
            retryLimit: 0,
            policy: "stately",
            run: () => this.counted(plugin.name, job.name, run),
          });
        } else if (job.everyMs) this.schedule(plugin.name, job.name, job.everyMs, run);
        else throw new Error(`Plugin "${plugin.name}": job "${job.name}" needs cron or everyMs`);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.forEach(clearTimeout);
    for (const plugin of this.plugins.values()) await plugin.destroy?.(this.context(plugin));
  }

  /** One run at a time per job: a run asked for while one is going starts after it. */
  private runJob(plugin: string, job: string, run: () => Promise<void>): Promise<void> {
    const key = `${plugin}\u0000${job}`;
    const next = (this.jobRuns.get(key) ?? Promise.resolve()).catch(() => undefined).then(run);
    this.jobRuns.set(key, next);
    return next.finally(() => {
      if (this.jobRuns.get(key) === next) this.jobRuns.delete(key);
    });
  }

  /**
   * Runs a plugin's job now, once (after a run in progress), for operators ("sync now" after an outage)
   * and tests. Null when there is no such plugin or job; otherwise when it started, how long it took
   * and the error it ended with, if any (counted in crm_plugin_job_failures_total as scheduled runs are).
   */
  async runJobNow(pluginName: string, jobName: string): Promise<{ startedAt: Date; durationMs: number; error: string | null } | null> {
    const plugin = this.plugins.get(pluginName);
    const job = plugin?.jobs?.find((j) => j.name === jobName);
    if (!plugin || !job || this.stopped) return null;
    const ctx = this.context(plugin);
    const startedAt = new Date();
    let error: string | null = null;
    try {
      await this.runJob(plugin.name, job.name, () => job.run(ctx));
    } catch (err) {
      error = (err as Error)?.message ?? String(err);
      this.app.metrics.pluginJobFailures.inc({ plugin: plugin.name, job: job.name });
      this.app.log.warn({ plugin: plugin.name, job: job.name, err: error }, "plugin job failed (run on request)");
    }
    return { startedAt, durationMs: Date.now() - startedAt.getTime(), error };
  }

  /** Runs a scheduled job, counting and logging a failure (and rethrowing it, for the queue's record). */
  private async counted(plugin: string, name: string, run: () => Promise<void>): Promise<void> {
    if (this.stopped) return;
    try {
      await run();
    } catch (err) {
      this.app.metrics.pluginJobFailures.inc({ plugin, job: name });
      this.app.log.warn({ plugin, job: name, err: (err as Error).message }, "plugin job failed");
      throw err;
    }
  }

  private schedule(plugin: string, name: string, everyMs: number, run: () => Promise<void>) {
    const tick = async () => {
      await this.counted(plugin, name, run).catch(() => undefined);
      if (!this.stopped) this.timers.push(setTimeout(tick, everyMs).unref());
    };
    this.timers.push(setTimeout(tick, everyMs).unref());
  }

  /** `/channels/:channel/:connectionId` for every channel plugin. */
  router(): Router {
    const router = express.Router();
    router.all("/:channel/:connectionId", express.raw({ type: () => true, limit: MAX_BODY }), (req, res) => {
      this.handle(req, res).catch((err) => {
        // Infrastructure failures (database down…): 503 asks the channel to retry; nothing was committed.
        this.app.log.error({ err: (err as Error).message, channel: req.params.channel }, "channel request failed");
        if (!res.headersSent) res.status(503).json({ error: "unavailable", reason: "temporarily unavailable, retry later" });
      });
    });
    return router;
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const channelName = String(req.params.channel);
    const plugin = this.plugins.get(channelName);
    const channel = plugin?.channel;
    const refuse = (status: number, reason: string) => {
      // Unknown channel names are one label value, so a scanner cannot grow the metrics without bound.
      this.app.metrics.channelRefusals.inc({ channel: plugin ? channelName : "(unknown)", status: String(status) });
      this.app.log.info({ channel: channelName, status, reason, requestId: res.locals.requestId }, "channel request refused");
      send(res, channel?.reject?.(status, reason) ?? { status, body: { error: statusName(status), reason } });
    };
    if (!plugin || !channel) return refuse(404, "unknown channel");
    if (req.method !== "GET" && req.method !== "POST") return refuse(405, "use GET or POST");
    const connection = await this.app.channels.forWebhook(channelName, String(req.params.connectionId));
    if (!connection) return refuse(404, "unknown or disabled connection");
    const ctx = this.context(plugin);
    const creq: ChannelRequest = {
      method: req.method,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v[0] : String(v ?? "")])),
      query: Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v ?? "")])),
      rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      receivedAt: new Date(),
    };
    if (req.method === "GET") {
      if (!channel.handshake) return refuse(405, "this channel takes POST only");
      const r = await guard(() => channel.handshake!(creq, connection, ctx));
      return r.ok ? send(res, r.value) : refuse(r.status, r.reason);
    }
    // Replay markers verify writes (setIfAbsent) are released if ingestion then fails, so the channel's
    // retry of this very request — same nonce — is taken instead of refused as a replay and lost.
    const markers: { store: KeyValueStore; key: string }[] = [];
    const verifyCtx: PluginContext<unknown> = { ...ctx, state: (id) => recordingMarkers(ctx.state(id), markers) };
    const verified = await guard(() => channel.verify(creq, connection, verifyCtx));
    if (!verified.ok) return refuse(verified.status, verified.reason);
    const normalized = await guard(() => channel.normalize(verified.value, connection));
    if (!normalized.ok) return refuse(normalized.status, normalized.reason);
    if (!Array.isArray(normalized.value)) return refuse(400, "the adapter produced no event list");
    let results: IngestResult[];
    try {
      results = await this.app.ingestion.ingest(systemCtx(this.app, connection.tenantId, channelName), { channel: channelName, connectionId: connection.id }, normalized.value);
    } catch (err) {
      await Promise.all(markers.map((m) => m.store.delete(m.key).catch(() => undefined)));
      throw err;
    }
    send(res, channel.acknowledge?.(results, verified.value, connection as ChannelConnectionInfo<unknown>) ?? { status: 200, body: { results } });
  }

  /** Loads built-ins and the modules named in CRM_PLUGINS (comma-separated paths or package names). */
  static load(app: App, builtins: PluginDefinition<any>[], extra: string[]): PluginHost {
    const host = new PluginHost(app);
    for (const p of builtins) host.register(p);
    for (const spec of extra) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(spec.startsWith(".") ? require("node:path").resolve(spec) : spec);
      const plugin = mod.default ?? mod.plugin;
      if (!plugin) throw new Error(`CRM_PLUGINS: ${spec} exports no plugin (default or "plugin" export)`);
      host.register(plugin);
    }
    return host;
  }
}

/** A state store that notes the keys `setIfAbsent` created, so the host can release them. */
function recordingMarkers(store: KeyValueStore, into: { store: KeyValueStore; key: string }[]): KeyValueStore {
  return {
    get: <T = unknown>(key: string) => store.get<T>(key),
    set: (key, value, ttl) => store.set(key, value, ttl),
    delete: (key) => store.delete(key),
    setIfAbsent: async (key, value, ttl) => {
      const created = await store.setIfAbsent(key, value, ttl);
      if (created) into.push({ store, key });
      return created;
    },
  };
}

function systemCtx(app: App, tenantId: string, actor: string): Ctx {
  return { requestId: `plugin:${actor}`, principal: { kind: "system", tenantId, actor }, app, log: app.log.child({ plugin: actor }) };
}

type Guarded<T> = { ok: true; value: T } | { ok: false; status: number; reason: string };

/** Runs plugin code: contract errors map to their status; anything else is a plugin bug, answered 400 and logged. */
async function guard<T>(fn: () => T | Promise<T>): Promise<Guarded<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    // By name too: a partner plugin may bundle its own copy of the contract, whose classes are not ours.
    const name = (err as Error)?.name;
    if (err instanceof VerificationError || name === "VerificationError") return { ok: false, status: 401, reason: (err as Error).message };
    if (err instanceof NormalizationError || name === "NormalizationError") return { ok: false, status: 400, reason: (err as Error).message };
    // The database failing under a plugin (its state store) is ours to report as 503, not the payload's fault.
    if (err instanceof QueryFailedError) throw err;
    return { ok: false, status: 400, reason: `the payload could not be processed (${(err as Error)?.name ?? "error"})` };
  }
}

function send(res: Response, r: ChannelResponse): void {
  res.status(r.status ?? 200);
  for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
  if (typeof r.body === "string" || Buffer.isBuffer(r.body)) {
    if (!res.getHeader("content-type")) res.type("text/plain");
    res.send(r.body);
  } else res.json(r.body);
}

function statusName(status: number): string {
  return ({ 400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed" } as Record<number, string>)[status] ?? "error";
}
