import DataLoader from "dataloader";
import { tenantOf, type Ctx } from "../../core/context";
import type { Customer, CustomerIdentity } from "./entity";

/** Per-request loaders: one statement per relation per page, whatever the page size. */
export function createCustomerLoaders(ctx: Ctx) {
  const service = ctx.app.customers;
  return {
    byId: new DataLoader<string, Customer | null>(async (ids) => {
      const rows = await service.byIds(tenantOf(ctx), ids);
      const map = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => map.get(id) ?? null);
    }),
    identities: new DataLoader<string, CustomerIdentity[]>(async (customerIds) => {
      const rows = await service.identitiesOf(tenantOf(ctx), customerIds);
      const map = new Map<string, CustomerIdentity[]>(customerIds.map((id) => [id, []]));
      for (const r of rows) map.get(r.customerId)?.push(r);
      return customerIds.map((id) => map.get(id)!);
    }),
  };
}
export type CustomerLoaders = ReturnType<typeof createCustomerLoaders>;
