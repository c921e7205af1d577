import "./events";
import type { App } from "../../app";
import { defineModule } from "../../core/module";
import { systemContext, tenantOf } from "../../core/context";
import { inTransaction } from "../../core/transaction";
import { Analytics1764510000000 } from "../../../migrations/1764510000000-analytics";
import { ANALYTICS_EVENTS } from "./events";
import { createAnalyticsLoaders, type AnalyticsLoaders } from "./loaders";
import { AnalyticsResolver, CustomerAnalyticsResolver, CustomerPredictionsResolver, InsightsResolver } from "./resolver";
import { AnalyticsService, emitLifecycle } from "./service";
import { registerAnalyticsConditions } from "./conditions";

declare module "../../app" {
  interface App {
    analytics: AnalyticsService;
  }
}
declare module "../../graphql/loaders" {
  interface Loaders {
    analytics: AnalyticsLoaders;
  }
}

const DAILY = "crm.analytics.daily";

/** RFM, lifecycle stages and the customer-value model (BG/NBD + Gamma-Gamma), with their segment conditions. */
export const analyticsModule = defineModule({
  name: "analytics",
  migrations: [Analytics1764510000000],
  resolvers: [AnalyticsResolver, CustomerAnalyticsResolver, CustomerPredictionsResolver, InsightsResolver],
  events: ANALYTICS_EVENTS,
  loaders: createAnalyticsLoaders,
  setup(app) {
    const analytics = (app.analytics = new AnalyticsService(app));
    registerAnalyticsConditions(app.segments);
    // A batch that changed order stats moves lifecycle stages in its own transaction (before the
    // segments hook, which reads them).
    app.ingestion.hooks.register({
      name: "analytics",
      run: async (tx, changes) => {
        const ids = [...changes.statsChanged, ...changes.customers.merged.flatMap((m) => [m.sourceId, m.targetId])];
        emitLifecycle(tx, await analytics.updateLifecycle(tx, [...new Set(ids)]));
      },
    });
    app.outbox.on(
      "customer.stats_changed",
      async (event) => {
        if (event.source.kind === "channel") return;
        const ctx = systemContext(app, event.tenantId, "analytics", `event-${event.eventId}`);
        await inTransaction(ctx, async (tx) => emitLifecycle(tx, await analytics.updateLifecycle(tx, [event.customerId])));
      },
      "analytics:stats",
    );
    app.customers.personalData.register({
      name: "analytics",
      export: async (tx, ids) => {
        const rows: any[] = await tx.manager.query(
          `SELECT customer_id::text, lifecycle_stage, recency, frequency, monetary, rfm_segment, probability_alive, predicted_clv_365d FROM customer_analytics WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`,
          [tenantOf(tx), ids],
        );
        return new Map(rows.map((r) => [r.customer_id, { lifecycleStage: r.lifecycle_stage, rfm: r.recency === null ? null : { recency: r.recency, frequency: r.frequency, monetary: r.monetary, segment: r.rfm_segment }, probabilityAlive: r.probability_alive, predictedClv365d: r.predicted_clv_365d === null ? null : Number(r.predicted_clv_365d) }]));
      },
      erase: async (tx, ids) => {
        await tx.manager.query(`DELETE FROM customer_analytics WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`, [tenantOf(tx), ids]);
      },
    });
  },
  jobs: (app) => [
    {
      name: DAILY,
      cron: { expression: "57 3 * * *" },
      policy: "stately",
      run: async () => daily(app),
    },
  ],
});

/** Every tenant: lifecycle and RFM, then the model refit (skipped, not failed, where data is too thin). */
async function daily(app: App): Promise<Record<string, unknown>> {
  let fitted = 0;
  const tenants = await app.analytics.tenants();
  for (const tenantId of tenants) {
    const ctx = systemContext(app, tenantId, "analytics.daily", "job-analytics-daily");
    await app.analytics.refreshScores(ctx);
    if ((await app.analytics.refit(ctx)).ok) fitted++;
  }
  return { tenants: tenants.length, fitted };
}

export { AnalyticsService } from "./service";
export { LifecycleStage, RfmSegment, rfmCell } from "./scores";
export { segmentInsights, SegmentInsights, InsightBucket, AOV_BANDS, CLV_BANDS } from "./insights";
