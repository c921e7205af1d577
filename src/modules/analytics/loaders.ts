import DataLoader from "dataloader";
import { tenantOf, type Ctx } from "../../core/context";
import type { CustomerAnalyticsRow, PurchaseSummary, StoredModel } from "./service";

export function createAnalyticsLoaders(ctx: Ctx) {
  const service = ctx.app.analytics;
  return {
    row: new DataLoader<string, CustomerAnalyticsRow | null>(async (ids) => {
      const map = await service.rowsOf(ctx, ids);
      return ids.map((id) => map.get(id) ?? null);
    }),
    /** Purchase histories for the model, one statement per page. */
    summary: new DataLoader<string, PurchaseSummary | null>(async (ids) => {
      const map = await service.summaries(ctx, ids);
      return ids.map((id) => map.get(id) ?? null);
    }),
    /** The tenant's model (one key: ""). */
    model: new DataLoader<string, StoredModel | null>(async (keys) => {
      const m = await service.modelOf(tenantOf(ctx));
      return keys.map(() => m);
    }),
  };
}

export type AnalyticsLoaders = ReturnType<typeof createAnalyticsLoaders>;
