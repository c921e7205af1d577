import { defineModule } from "../../core/module";
import { IdentityConflict } from "./conflict-entity";
import { CustomerMergeResolver, IdentityConflictResolver, IngestionResolver } from "./resolver";
import { IngestionService } from "./service";
import { IdentitySettingsResolver } from "./settings-graphql";

declare module "../../app" {
  interface App {
    ingestion: IngestionService;
  }
}

/** The ingestion pipeline: claims, identity resolution, merges and conflicts, hooks in the batch transaction. */
export const ingestionModule = defineModule({
  name: "ingestion",
  entities: [IdentityConflict],
  resolvers: [IngestionResolver, CustomerMergeResolver, IdentityConflictResolver, IdentitySettingsResolver],
  scopes: ["ingest"],
  setup(app) {
    app.ingestion = new IngestionService(app);
    app.customers.merges.hooks.push(app.ingestion.mergeHook);
    for (const hook of app.ingestion.personalDataHooks) app.customers.personalData.register(hook);
  },
  jobs: (app) => [
    {
      name: "crm.ingestion.strip-payloads",
      cron: { expression: "37 3 * * *" },
      policy: "stately",
      run: async () => {
        const n = await app.ingestion.stripOldPayloads();
        if (n) app.log.info({ stripped: n }, "payloads of events past their tenant's eventPayloadRetentionDays stripped");
      },
    },
  ],
});

export { IngestionService, type IngestSource } from "./service";
export { IngestionHookFailed, type IngestionChanges, type IngestionHook } from "./hooks";
export { identitySettings, isBlocked, defaultPrecedence, type IdentitySettings } from "./settings";
