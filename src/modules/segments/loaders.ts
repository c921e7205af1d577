import DataLoader from "dataloader";
import type { Ctx } from "../../core/context";
import type { Segment } from "./entity";

/** Per-request loaders: one statement per relation per page. */
export function createSegmentLoaders(ctx: Ctx) {
  const service = ctx.app.segments;
  return {
    byId: new DataLoader<string, Segment | null>(async (ids) => {
      const map = await service.byIds(ctx, ids);
      return ids.map((id) => map.get(id) ?? null);
    }),
    /** Current member count. */
    size: new DataLoader<string, number>(async (ids) => {
      const map = await service.sizes(ctx, ids);
      return ids.map((id) => map.get(id) ?? 0);
    }),
    /** The segments a customer is in now. */
    ofCustomer: new DataLoader<string, string[]>(async (ids) => {
      const map = await service.segmentIdsOf(ctx, ids);
      return ids.map((id) => map.get(id) ?? []);
    }),
  };
}

export type SegmentLoaders = ReturnType<typeof createSegmentLoaders>;
