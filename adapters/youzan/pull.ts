import { NormalizationError, type ChannelConnectionInfo, type IngestResult, type JobDefinition, type KeyValueStore, type NormalizedEventInput, type PluginContext } from "../../src/plugins";
import type { YouzanConfig } from "./config";
import { snapshotEvents } from "./trades";
import { isRecord, parseJsonExact, toYouzanTime } from "./values";

/**
 * Reconciliation pull: for each enabled connection with `pullIntervalMinutes` (and `kdtId`), fetch
 * the shop's trades updated since a cursor and ingest them with the push's normalization — the same
 * externalIds, so what a push already delivered is a duplicate and what a push missed is filled in.
 */

/** The job runs every minute, once per cluster (the job queue's cron); each connection is pulled only when its own interval has passed. */
export const PULL_CRON = "* * * * *";
/** How far back the first pull of a connection reaches. */
export const FIRST_PULL_LOOKBACK_MS = 24 * 3600_000;
/** Each pull re-reads this much before its cursor: trades updated around the boundary are not missed. */
export const PULL_OVERLAP_MS = 5 * 60_000;
/** Youzan's search index trails its trades by ~30 s; a window ends this long before now. */
export const INDEX_LAG_MS = 60_000;
const PAGE_SIZE = 100;
const MAX_PAGES = 500;
const INGEST_BATCH = 500;
const HTTP_TIMEOUT_MS = 20_000;
/** A cached token is renewed this long before it expires. */
const TOKEN_MARGIN_MS = 5 * 60_000;

/** State keys, per connection. */
export const STATE = { token: "token", cursor: "pull:cursor", lastRunAt: "pull:lastRunAt" } as const;

export interface PullOptions {
  now?: () => number;
  fetch?: typeof fetch;
}

/** What one connection's pull did; undefined when it was not due. */
export interface PullReport {
  from: string;
  to: string;
  trades: number;
  events: number;
  skipped: number;
  results: IngestResult[];
}

export function pullJob(options: PullOptions = {}): JobDefinition<YouzanConfig> {
  return {
    name: "pull-trades",
    // Once per cluster and one run at a time (the queue's cron): no lock of our own. An operator's
    // runPluginJob during a scheduled run may pull a shop twice — harmless, the second is all duplicates.
    cron: PULL_CRON,
    async run(ctx) {
      for (const connection of await ctx.connections()) {
        try {
          const report = await pullConnection(ctx, connection, options);
          if (report) {
            const count = (s: IngestResult["status"]) => report.results.filter((r) => r.status === s).length;
            ctx.log.info(
              { connectionId: connection.id, from: report.from, to: report.to, trades: report.trades, skipped: report.skipped, accepted: count("accepted"), duplicate: count("duplicate"), rejected: count("rejected") },
              "youzan pull done",
            );
          }
        } catch (err) {
          // One shop's failure (expired authorization, API down) must not stop the others'.
          ctx.log.warn({ connectionId: connection.id, err: (err as Error).message }, "youzan pull failed");
        }
      }
    },
  };
}

/** Pulls one connection if it is due; exported for tests and operators' one-off runs. */
export async function pullConnection(ctx: PluginContext<YouzanConfig>, connection: ChannelConnectionInfo<YouzanConfig>, options: PullOptions = {}): Promise<PullReport | undefined> {
  const { pullIntervalMinutes, kdtId } = connection.config;
  if (!pullIntervalMinutes || !kdtId) return undefined;
  const now = (options.now ?? Date.now)();
  const state = ctx.state(connection.id);
  const last = await state.get<number>(STATE.lastRunAt);
  if (typeof last === "number" && now - last < pullIntervalMinutes * 60_000) return undefined;
  // Recorded before the pull: a failing shop is retried after its interval, not every minute.
  await state.set(STATE.lastRunAt, now);
  const to = now - INDEX_LAG_MS;
  const cursor = await state.get<number>(STATE.cursor);
  const from = typeof cursor === "number" ? Math.min(cursor, to) - PULL_OVERLAP_MS : to - FIRST_PULL_LOOKBACK_MS;
  const api = new YouzanApi(connection.config, kdtId, state, options.fetch ?? fetch, now);
  const snapshots = await api.tradesUpdatedBetween(from, to);

  const events: NormalizedEventInput[] = [];
  let skipped = 0;
  for (const [i, snapshot] of snapshots.entries()) {
    try {
      events.push(...snapshotEvents(snapshot, { storeId: kdtId }, `full_order_info_list.${i}.full_order_info`));
    } catch (err) {
      if (!(err instanceof NormalizationError)) throw err;
      skipped++;
      ctx.log.warn({ connectionId: connection.id, reason: err.message }, "youzan pull skipped a trade it could not read");
    }
  }
  const results: IngestResult[] = [];
  for (let i = 0; i < events.length; i += INGEST_BATCH) results.push(...(await ctx.ingest(connection.id, events.slice(i, i + INGEST_BATCH))));
  await state.set(STATE.cursor, to);
  return { from: toYouzanTime(from), to: toYouzanTime(to), trades: snapshots.length, events: events.length, skipped, results };
}

/** The two calls of Youzan's open API the pull needs. */
class YouzanApi {
  constructor(
    private readonly config: YouzanConfig,
    private readonly kdtId: string,
    private readonly state: KeyValueStore,
    private readonly fetchImpl: typeof fetch,
    private readonly now: number,
  ) {}

  /** `full_order_info` of every trade updated in [from, to], all pages. */
  async tradesUpdatedBetween(from: number, to: number): Promise<unknown[]> {
    const out: unknown[] = [];
    let token = await this.token(false);
    for (let page = 1; page <= MAX_PAGES; page++) {
      const query = new URLSearchParams({
        access_token: token.value,
        start_update: toYouzanTime(from),
        end_update: toYouzanTime(to),
        page_no: String(page),
        page_size: String(PAGE_SIZE),
      });
      let body = await this.getJson(`/api/youzan.trades.sold.get/4.0.0?${query}`);
      if (!succeeded(body) && token.cached) {
        // A cached token the shop revoked or Youzan expired early: renew once and retry the page.
        token = await this.token(true);
        query.set("access_token", token.value);
        body = await this.getJson(`/api/youzan.trades.sold.get/4.0.0?${query}`);
      }
      if (!succeeded(body)) throw new Error(`youzan.trades.sold.get refused: ${failure(body)}`);
      const data = isRecord(body) && isRecord(body.data) ? body.data : {};
      const list = Array.isArray(data.full_order_info_list) ? data.full_order_info_list : [];
      for (const item of list) out.push(isRecord(item) && "full_order_info" in item ? item.full_order_info : item);
      const total = typeof data.total_results === "number" ? data.total_results : Number(data.total_results);
      if (list.length === 0 || list.length < PAGE_SIZE || (Number.isFinite(total) && out.length >= total)) return out;
    }
    throw new Error(`more than ${MAX_PAGES * PAGE_SIZE} trades updated in one window; the cursor stays put`);
  }

  /** The shop's access token ("silent" authorization of a tool app), cached in the connection's state. */
  private async token(force: boolean): Promise<{ value: string; cached: boolean }> {
    if (!force) {
      const cached = await this.state.get<{ value: string; expiresAt: number }>(STATE.token);
      if (cached && typeof cached.value === "string" && cached.expiresAt - this.now > TOKEN_MARGIN_MS) return { value: cached.value, cached: true };
    }
    const body = await this.postJson("/auth/token", {
      client_id: this.config.clientId,
      client_secret: this.config.clientSecret,
      authorize_type: "silent",
      grant_id: this.kdtId,
      refresh: false,
    });
    const data = isRecord(body) && isRecord(body.data) ? body.data : undefined;
    const value = data?.access_token;
    if (!succeeded(body) || typeof value !== "string" || !value) throw new Error(`Youzan refused the access token: ${failure(body)}`);
    // `expires` is an epoch in milliseconds; without it, assume Youzan's usual 7 days.
    const expires = Number(data?.expires);
    const expiresAt = Number.isFinite(expires) && expires > this.now ? expires : this.now + 7 * 24 * 3600_000;
    await this.state.set(STATE.token, { value, expiresAt }, Math.max(60, Math.floor((expiresAt - this.now) / 1000)));
    return { value, cached: false };
  }

  private async getJson(path: string): Promise<unknown> {
    return this.read(await this.fetchImpl(`${this.config.apiBase}${path}`, { method: "GET", signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }), path.split("?")[0]);
  }

  private async postJson(path: string, body: object): Promise<unknown> {
    const res = await this.fetchImpl(`${this.config.apiBase}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    return this.read(res, path);
  }

  private async read(res: Response, what: string): Promise<unknown> {
    const text = await res.text();
    if (!res.ok) throw new Error(`${what} answered HTTP ${res.status}`);
    try {
      // Exact numbers: tids, oids and buyer ids beyond 2^53 must not be rounded.
      return parseJsonExact(text);
    } catch {
      throw new Error(`${what} answered something that is not JSON`);
    }
  }
}

function succeeded(body: unknown): boolean {
  if (!isRecord(body) || "gw_err_resp" in body || body.success === false) return false;
  return body.success === true || body.code === 200 || body.code === "200";
}

/** Youzan's error code and message, for logs (never the request, which holds the secret). */
function failure(body: unknown): string {
  if (!isRecord(body)) return "no JSON object";
  const gw = isRecord(body.gw_err_resp) ? body.gw_err_resp : undefined;
  const code = gw?.err_code ?? body.code ?? body.error_code;
  const message = gw?.err_msg ?? body.message ?? body.msg;
  return `${String(code ?? "?")} ${String(message ?? "").slice(0, 200)}`.trim();
}
