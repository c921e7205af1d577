import "./events";
import { defineModule } from "../../core/module";
import { ApiKey, Tenant } from "./entity";
import { TENANCY_EVENTS } from "./events";
import { createTenancyLoaders, type TenancyLoaders } from "./loaders";
import { TenancyResolver } from "./resolver";
import { TenancyService } from "./service";
import { TenantSettingsResolver } from "./settings-graphql";

declare module "../../app" {
  interface App {
    tenancy: TenancyService;
  }
}
declare module "../../graphql/loaders" {
  interface Loaders {
    tenancy: TenancyLoaders;
  }
}

/** Tenants, API keys and their scopes, tenant settings (currency, time zone, locale, phone region). */
export const tenancyModule = defineModule({
  name: "tenancy",
  entities: [Tenant, ApiKey],
  resolvers: [TenancyResolver, TenantSettingsResolver],
  events: TENANCY_EVENTS,
  loaders: createTenancyLoaders,
  setup(app) {
    app.tenancy = new TenancyService(app);
  },
});

export { Tenant, ApiKey } from "./entity";
export { TenancyService, DEFAULT_TENANT } from "./service";
export { apiKeyNameSql } from "./keys";
export type { TenancyLoaders } from "./loaders";
export { readTenantSettings, tenantCurrencySql, tenantTimeZoneSql, DEFAULT_TENANT_SETTINGS, TenantSettingsService, type SettingsSection, type TenantSettings } from "./settings";
