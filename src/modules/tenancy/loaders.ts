import DataLoader from "dataloader";
import type { Ctx } from "../../core/context";
import type { TenantSettings } from "./settings";

/** Per-request loaders: a request that needs the tenant's settings in many fields reads them once. */
export function createTenancyLoaders(ctx: Ctx) {
  return {
    settings: new DataLoader<string, TenantSettings>((tenantIds) => Promise.all(tenantIds.map((id) => ctx.app.tenancy.settings.get(id)))),
  };
}

export type TenancyLoaders = ReturnType<typeof createTenancyLoaders>;
