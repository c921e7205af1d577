import type { App } from "../../app";
import { tenantOf, type Ctx, type TxCtx } from "../../core/context";
import { inTransaction } from "../../core/transaction";
import { fail, ok, userError, UserErrorCode, type Result } from "../../core/user-error";
import { customersSql } from "../customers";
import { joinCustomerStatsSql, purchaseDaysSql, orderTotalsSinceSql } from "../orders";
import { tenantTimeZoneSql } from "../tenancy";
import { VALUE_TIERS, DEFAULT_ANALYTICS_SETTINGS, LifecycleStage, readAnalyticsSettings, rfmGridValuesSql, checkAnalyticsSettings, type AnalyticsSettings, RfmSegment } from "./scores";
import { expectedAverageValue, expectedPurchases, fitBgNbd, fitGammaGamma, probabilityAlive, type BgNbdParams, type GammaGammaParams } from "./value-model";

/** Fewer repeat customers than this and the model is not fitted (`INSUFFICIENT_DATA`). */
export const MIN_REPEAT_CUSTOMERS = 50;
const HORIZON = 365;

export interface StoredModel {
  fittedAt: Date;
  customers: number;
  repeatCustomers: number;
  bgnbd: BgNbdParams;
  gammaGamma: GammaGammaParams;
}

/** A customer's purchase history as the models see it: days, in the tenant's zone. */
export interface PurchaseSummary {
  customerId: string;
  x: number;
  tx: number;
  T: number;
  /** Mean value of the repeat purchase days (null without any). */
  m: number | null;
}

export interface CustomerAnalyticsRow {
  customerId: string;
  lifecycleStage: LifecycleStage;
  stageSince: Date;
  recency: number | null;
  frequency: number | null;
  monetary: number | null;
  rfmSegment: RfmSegment | null;
  rfmAt: Date | null;
}

export type AnalyticsDeps = Pick<App, "db" | "log" | "clock" | "tenancy" | "segments">;

/**
 * RFM scores, lifecycle stages and the customer-value model (BG/NBD + Gamma-Gamma) per tenant, all
 * computed set-based in SQL (scores, stages, the models' inputs) with the model fitted in the server.
 */
export class AnalyticsService {
  constructor(private readonly app: AnalyticsDeps) {}

  async settings(tenantId: string, sql?: { query(text: string, values?: unknown[]): Promise<any> }): Promise<AnalyticsSettings> {
    return readAnalyticsSettings((await this.app.tenancy.settings.read(tenantId, sql)).section("analytics"));
  }

  async updateSettings(ctx: Ctx, patch: Partial<Record<keyof AnalyticsSettings, number | null>>): Promise<Result<AnalyticsSettings>> {
    const tenantId = tenantOf(ctx);
    const current = await this.settings(tenantId);
    const errors = checkAnalyticsSettings(patch, current);
    if (errors.length) return fail(...errors.map((e) => userError([e.field], UserErrorCode.INVALID, e.message)));
    const stored = Object.fromEntries(Object.entries(patch).map(([k, v]) => [k, v ?? DEFAULT_ANALYTICS_SETTINGS[k as keyof AnalyticsSettings]]));
    return ok(readAnalyticsSettings(await this.app.tenancy.settings.mergeSection(tenantId, "analytics", stored)));
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /**
   * Recomputes lifecycle stages from the order stats — for `customerIds` (a batch's, in its transaction)
   * or every customer of the tenant — and returns the changes. Rows of customers that no longer exist go.
   */
  async updateLifecycle(tx: TxCtx, customerIds?: readonly string[]): Promise<{ customerId: string; from: string | null; to: string }[]> {
    if (customerIds && !customerIds.length) return [];
    const tenantId = tenantOf(tx);
    const s = await this.settings(tenantId, tx.manager);
    const values: unknown[] = [tenantId, this.app.clock.now(), s.atRiskDays, s.dormantDays, s.churnedDays, s.loyalOrders];
    const only = customerIds ? ` AND c.id = ANY($${values.push(customerIds)}::uuid[])` : "";
    const onlyRows = customerIds ? ` AND a.customer_id = ANY($7::uuid[])` : "";
    const tz = tenantTimeZoneSql("$1");
    const rows: { customer_id: string; from: string | null; to: string }[] = await tx.manager.query(
      `WITH fresh AS (
         SELECT c.id AS customer_id,
                CASE WHEN coalesce(s.orders_count, 0) = 0 THEN 'PROSPECT'
                     WHEN (($2::timestamptz AT TIME ZONE ${tz})::date - (s.last_order_at AT TIME ZONE ${tz})::date) > $5 THEN 'CHURNED'
                     WHEN (($2::timestamptz AT TIME ZONE ${tz})::date - (s.last_order_at AT TIME ZONE ${tz})::date) > $4 THEN 'DORMANT'
                     WHEN (($2::timestamptz AT TIME ZONE ${tz})::date - (s.last_order_at AT TIME ZONE ${tz})::date) > $3 THEN 'AT_RISK'
                     WHEN s.orders_count >= $6 THEN 'LOYAL'
                     WHEN s.orders_count >= 2 THEN 'REPEAT'
                     ELSE 'FIRST_PURCHASE' END AS stage
           FROM ${customersSql("c")} ${joinCustomerStatsSql("c", "s", "$1")}
          WHERE c.tenant_id = $1${only}
       ), old AS (
         SELECT a.customer_id, a.lifecycle_stage FROM customer_analytics a WHERE a.tenant_id = $1${onlyRows}
       ), gone AS (
         DELETE FROM customer_analytics a WHERE a.tenant_id = $1${onlyRows} AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.customer_id = a.customer_id)
       ), up AS (
         INSERT INTO customer_analytics AS a (tenant_id, customer_id, lifecycle_stage, stage_since)
         SELECT $1, f.customer_id, f.stage, $2 FROM fresh f
         ON CONFLICT (customer_id) DO UPDATE SET lifecycle_stage = EXCLUDED.lifecycle_stage, stage_since = EXCLUDED.stage_since
          WHERE a.lifecycle_stage IS DISTINCT FROM EXCLUDED.lifecycle_stage
         RETURNING a.customer_id, a.lifecycle_stage
       )
       SELECT up.customer_id::text, old.lifecycle_stage AS from, up.lifecycle_stage AS to FROM up LEFT JOIN old USING (customer_id)`,
      values,
    );
    return rows.map((r) => ({ customerId: r.customer_id, from: r.from, to: r.to }));
  }

  // ---- RFM ---------------------------------------------------------------------------------------

  /** Scores every customer with counted orders in the window, 1–5 by quintile of rank; the others have none. */
  async updateRfm(tx: TxCtx): Promise<number> {
    const tenantId = tenantOf(tx);
    const s = await this.settings(tenantId, tx.manager);
    const now = this.app.clock.now();
    const [, scored]: [unknown, number] = await tx.manager.query(
      `WITH w AS (
         SELECT customer_id, orders AS f, net AS m, last_order_at AS last FROM (${orderTotalsSinceSql("$1", "$2::timestamptz - make_interval(days => $3)")}) t
       ), scored AS (
         SELECT customer_id,
                least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY last)))::smallint AS r,
                least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY f)))::smallint AS f,
                least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY m)))::smallint AS m
           FROM w
       ), grid(r, fm, segment) AS (VALUES ${rfmGridValuesSql()})
       UPDATE customer_analytics a
          SET recency = sc.r, frequency = sc.f, monetary = sc.m, rfm_segment = g.segment, rfm_at = $2
         FROM scored sc JOIN grid g ON g.r = sc.r AND g.fm = (sc.f + sc.m + 1) / 2
        WHERE a.customer_id = sc.customer_id AND a.tenant_id = $1`,
      [tenantId, now, s.rfmWindowDays],
    );
    await tx.manager.query(
      `UPDATE customer_analytics a SET recency = NULL, frequency = NULL, monetary = NULL, rfm_segment = NULL, rfm_at = $2
        WHERE a.tenant_id = $1 AND (a.rfm_at IS NULL OR a.rfm_at < $2)`,
      [tenantId, now],
    );
    return scored;
  }

  /**
   * The daily recompute of one tenant, and `refreshCustomerAnalytics`: lifecycle stages (announcing
   * changes) and RFM scores, in one transaction. Returns how many customers have RFM scores.
   */
  async refreshScores(ctx: Ctx): Promise<number> {
    const scored = await inTransaction(ctx, async (tx) => {
      const changes = await this.updateLifecycle(tx);
      // A customer's first row is no news (every customer starts as a prospect); a change of stage is.
      emitLifecycle(tx, changes.filter((c) => c.from !== null));
      return this.updateRfm(tx);
    });
    // The value tiers, once per tenant (a merchant who deleted one does not get it back).
    const tenantId = tenantOf(ctx);
    const section = (await this.app.tenancy.settings.read(tenantId)).section("analytics");
    if (!section.valueTiersCreated) {
      await this.app.segments.ensureSystemSegments(ctx, VALUE_TIERS);
      await this.app.tenancy.settings.mergeSection(tenantId, "analytics", { valueTiersCreated: true });
    }
    // Segments over RFM cells, stages and predictions follow the new scores now, not at the next hourly refresh.
    await this.app.segments.refreshTenant(ctx, "time-based");
    return scored;
  }

  async rowsOf(ctx: Ctx, customerIds: readonly string[]): Promise<Map<string, CustomerAnalyticsRow>> {
    const rows: any[] = await this.app.db.dataSource.query(
      `SELECT customer_id::text, lifecycle_stage, stage_since, recency, frequency, monetary, rfm_segment, rfm_at FROM customer_analytics WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`,
      [tenantOf(ctx), customerIds],
    );
    return new Map(
      rows.map((r) => [
        r.customer_id,
        { customerId: r.customer_id, lifecycleStage: r.lifecycle_stage, stageSince: new Date(r.stage_since), recency: r.recency, frequency: r.frequency, monetary: r.monetary, rfmSegment: r.rfm_segment, rfmAt: r.rfm_at ? new Date(r.rfm_at) : null },
      ]),
    );
  }

  // ---- the customer-value model --------------------------------------------------------------------

  /** Purchase histories in days (tenant zone): x repeat purchase days, tx, T, and the mean repeat value. */
  private summariesSql(customers?: string): string {
    const days = purchaseDaysSql("$1", tenantTimeZoneSql("$1"), customers);
    // One grouped pass (the repeat days' mean beside the rest): a subquery per customer re-read every
    // purchase day for each of them, quadratic at a million customers.
    return `WITH d AS (${days}),
      r AS (SELECT customer_id, day, value, min(day) OVER (PARTITION BY customer_id) AS first FROM d)
      SELECT customer_id::text, (count(*) - 1)::int AS x, (max(day) - min(day))::int AS tx,
             (($2::timestamptz AT TIME ZONE ${tenantTimeZoneSql("$1")})::date - min(day))::int AS "T",
             (avg(value) FILTER (WHERE day > first))::float8 AS m
        FROM r GROUP BY customer_id`;
  }

  async summaries(ctx: Ctx, customerIds: readonly string[]): Promise<Map<string, PurchaseSummary>> {
    const rows: { customer_id: string; x: number; tx: number; T: number; m: number | null }[] = await this.app.db.dataSource.query(this.summariesSql("$3::uuid[]"), [
      tenantOf(ctx),
      this.app.clock.now(),
      customerIds,
    ]);
    return new Map(rows.map((r) => [r.customer_id, { customerId: r.customer_id, x: r.x, tx: r.tx, T: r.T, m: r.m }]));
  }

  async model(ctx: Ctx): Promise<StoredModel | null> {
    return this.modelOf(tenantOf(ctx));
  }

  async modelOf(tenantId: string): Promise<StoredModel | null> {
    const [r]: any[] = await this.app.db.dataSource.query(`SELECT * FROM customer_value_models WHERE tenant_id = $1`, [tenantId]);
    if (!r) return null;
    return {
      fittedAt: new Date(r.fitted_at),
      customers: r.customers,
      repeatCustomers: r.repeat_customers,
      bgnbd: { r: r.r, alpha: r.alpha, a: r.a, b: r.b },
      gammaGamma: { p: r.p, q: r.q, v: r.v },
    };
  }

  /**
   * Fits both models on every customer with a paid order, stores them, and stores each customer's
   * predictions for a year (what segment conditions read). `INSUFFICIENT_DATA` under 50 repeat customers.
   */
  async refit(ctx: Ctx): Promise<Result<StoredModel>> {
    const tenantId = tenantOf(ctx);
    const now = this.app.clock.now();
    const rows: { customer_id: string; x: number; tx: number; T: number; m: number | null }[] = await this.app.db.dataSource.query(this.summariesSql(), [tenantId, now]);
    const repeat = rows.filter((r) => r.x > 0 && r.m !== null && r.m > 0);
    if (repeat.length < MIN_REPEAT_CUSTOMERS) {
      return fail(userError(null, UserErrorCode.INSUFFICIENT_DATA, `The model needs at least ${MIN_REPEAT_CUSTOMERS} customers with a repeat purchase; there are ${repeat.length}`));
    }
    const bg = fitBgNbd(rows.map((r) => ({ x: r.x, tx: r.tx, T: r.T })));
    const gg = fitGammaGamma(repeat.map((r) => ({ x: r.x, m: r.m! })));
    const model: StoredModel = { fittedAt: now, customers: rows.length, repeatCustomers: repeat.length, bgnbd: { r: bg.r, alpha: bg.alpha, a: bg.a, b: bg.b }, gammaGamma: { p: gg.p, q: gg.q, v: gg.v } };
    await inTransaction(ctx, async (tx) => {
      await tx.manager.query(
        `INSERT INTO customer_value_models (tenant_id, fitted_at, customers, repeat_customers, r, alpha, a, b, p, q, v, bgnbd_log_likelihood, gamma_gamma_log_likelihood)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (tenant_id) DO UPDATE SET fitted_at = EXCLUDED.fitted_at, customers = EXCLUDED.customers, repeat_customers = EXCLUDED.repeat_customers,
           r = EXCLUDED.r, alpha = EXCLUDED.alpha, a = EXCLUDED.a, b = EXCLUDED.b, p = EXCLUDED.p, q = EXCLUDED.q, v = EXCLUDED.v,
           bgnbd_log_likelihood = EXCLUDED.bgnbd_log_likelihood, gamma_gamma_log_likelihood = EXCLUDED.gamma_gamma_log_likelihood`,
        [tenantId, now, model.customers, model.repeatCustomers, bg.r, bg.alpha, bg.a, bg.b, gg.p, gg.q, gg.v, bg.logLikelihood, gg.logLikelihood],
      );
      await this.updateLifecycle(tx); // every customer has a row to hold predictions
      await this.storePredictions(tx, model, rows, now);
    });
    await this.app.segments.refreshTenant(ctx, "time-based"); // segments over predictions follow the new ones
    this.app.log.info({ tenantId, customers: model.customers, repeat: model.repeatCustomers, bgnbd: model.bgnbd, gammaGamma: model.gammaGamma }, "customer-value model fitted");
    return ok(model);
  }

  /** Each customer's P(alive), expected orders and CLV over a year, computed once per distinct history. */
  private async storePredictions(tx: TxCtx, model: StoredModel, rows: readonly { customer_id: string; x: number; tx: number; T: number; m: number | null }[], now: Date): Promise<void> {
    const cache = new Map<string, [number, number]>();
    const ids: string[] = [];
    const alive: number[] = [];
    const orders: number[] = [];
    const clv: number[] = [];
    for (const row of rows) {
      const key = `${row.x}|${row.tx}|${row.T}`;
      let bg = cache.get(key);
      if (!bg) cache.set(key, (bg = [probabilityAlive(model.bgnbd, row.x, row.tx, row.T), expectedPurchases(model.bgnbd, HORIZON, row.x, row.tx, row.T)]));
      const value = expectedAverageValue(model.gammaGamma, row.x, row.m ?? 0);
      ids.push(row.customer_id);
      alive.push(bg[0]);
      orders.push(bg[1]);
      clv.push(Number.isFinite(value) ? Math.round(bg[1] * value) : 0);
    }
    const tenantId = tenantOf(tx);
    await tx.manager.query(
      `UPDATE customer_analytics SET probability_alive = NULL, expected_orders_365d = NULL, predicted_clv_365d = NULL, predicted_at = $2 WHERE tenant_id = $1`,
      [tenantId, now],
    );
    for (let i = 0; i < ids.length; i += 20_000) {
      await tx.manager.query(
        `UPDATE customer_analytics a SET probability_alive = u.p, expected_orders_365d = u.e, predicted_clv_365d = u.c, predicted_at = $2
           FROM unnest($3::uuid[], $4::float8[], $5::float8[], $6::bigint[]) AS u(id, p, e, c)
          WHERE a.customer_id = u.id AND a.tenant_id = $1`,
        [tenantId, now, ids.slice(i, i + 20_000), alive.slice(i, i + 20_000), orders.slice(i, i + 20_000), clv.slice(i, i + 20_000)],
      );
    }
  }

  /** Tenants that have customers (for the daily job). */
  async tenants(): Promise<string[]> {
    return (await this.app.tenancy.settings.all()).map((t) => t.tenantId);
  }
}

/** `customer.lifecycle_changed` per change (outbox, same transaction). */
export function emitLifecycle(tx: TxCtx, changes: readonly { customerId: string; from: string | null; to: string }[]): void {
  const tenantId = tenantOf(tx);
  for (const c of changes) tx.emit({ type: "customer.lifecycle_changed", tenantId, customerId: c.customerId, from: c.from, to: c.to });
}
