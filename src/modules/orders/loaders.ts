import DataLoader from "dataloader";
import { tenantOf, type Ctx } from "../../core/context";
import type { CustomerStats, Order } from "./entity";

export interface LatestOrdersKey {
  customerId: string;
  first: number;
}

/** Per-request loaders: one statement per relation per page, whatever the page size. */
export function createOrderLoaders(ctx: Ctx) {
  const service = ctx.app.orders;
  return {
    byId: new DataLoader<string, Order | null>(async (ids) => {
      const rows = await service.byIds(tenantOf(ctx), ids);
      const map = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => map.get(id) ?? null);
    }),
    /** A customer's newest orders. Keys asking for different sizes (aliases) share one statement, sized for the largest. */
    latestOfCustomer: new DataLoader<LatestOrdersKey, Order[], string>(
      async (keys) => {
        const limit = Math.max(...keys.map((k) => k.first));
        const customerIds = [...new Set(keys.map((k) => k.customerId))];
        const rows = limit > 0 ? await service.latestOfCustomers(tenantOf(ctx), customerIds, limit) : [];
        const map = new Map<string, Order[]>(customerIds.map((id) => [id, []]));
        for (const r of rows) map.get(r.customerId!)?.push(r);
        return keys.map((k) => map.get(k.customerId)!.slice(0, k.first));
      },
      { cacheKeyFn: (k) => `${k.first}:${k.customerId}` },
    ),
    stats: new DataLoader<string, CustomerStats>((customerIds) => service.statsOf(tenantOf(ctx), customerIds)),
    /** How many orders each customer has (Customer.orders.totalCount). */
    counts: new DataLoader<string, number>((customerIds) => service.countsOf(tenantOf(ctx), customerIds)),
    /** Units refunded per SKU of each order (empty map when none). */
    refundedQuantities: new DataLoader<string, Map<string, string>>(async (orderIds) => {
      const rows = await service.refundedQuantities(tenantOf(ctx), orderIds);
      const map = new Map<string, Map<string, string>>(orderIds.map((id) => [id, new Map()]));
      for (const r of rows) map.get(r.orderId)?.set(r.sku, r.quantity);
      return orderIds.map((id) => map.get(id)!);
    }),
  };
}
export type OrderLoaders = ReturnType<typeof createOrderLoaders>;

