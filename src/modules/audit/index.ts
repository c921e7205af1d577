import { defineModule } from "../../core/module";
import { AuditLog1764450000000 } from "../../../migrations/1764450000000-audit-log";
import { AuditSubscriptions1764490000000 } from "../../../migrations/1764490000000-audit-subscriptions";
import { AuditRecord } from "./entity";
import { auditPlugin, auditWsHook } from "./plugin";
import { AuditResolver } from "./resolver";
import { AuditService } from "./service";

declare module "../../app" {
  interface App {
    audit: AuditService;
  }
}

/** The audit log: who did what to whom, when, from where, with what result (append-only, kept AUDIT_RETENTION_DAYS). */
export const auditModule = defineModule({
  name: "audit",
  entities: [AuditRecord],
  migrations: [AuditLog1764450000000, AuditSubscriptions1764490000000],
  resolvers: [AuditResolver],
  graphqlPlugins: (app) => [auditPlugin(app)],
  wsHooks: (app) => [auditWsHook(app)],
  setup(app) {
    app.audit = new AuditService(app);
  },
  jobs: (app) => [
    {
      name: "crm.audit.prune",
      cron: { expression: "17 3 * * *" },
      policy: "stately",
      run: async () => {
        const n = await app.audit.prune();
        if (n) app.log.info({ deleted: n, days: app.config.auditRetentionDays }, "audit records past their retention deleted");
      },
    },
  ],
});

export { AuditRecord, AuditKind, AuditResult, AuditLogFilter } from "./entity";
export { AuditService } from "./service";
