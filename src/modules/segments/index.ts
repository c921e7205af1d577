import "./events";
import type { App } from "../../app";
import { defineModule } from "../../core/module";
import { systemContext } from "../../core/context";
import { inTransaction } from "../../core/transaction";
import { Segments1764500000000 } from "../../../migrations/1764500000000-segments";
import { SegmentSystemKeys1764520000000 } from "../../../migrations/1764520000000-segment-system-keys";
import { Segment } from "./entity";
import { SEGMENT_EVENTS } from "./events";
import { createSegmentLoaders, type SegmentLoaders } from "./loaders";
import { emitChanges } from "./membership";
import { CustomerSegmentsResolver, SegmentPreviewResolver, SegmentResolver } from "./resolver";
import { SegmentsService } from "./service";
import { SegmentMembershipChangeResolver, SegmentSubscriptionResolver } from "./subscriptions";

declare module "../../app" {
  interface App {
    segments: SegmentsService;
  }
}
declare module "../../graphql/loaders" {
  interface Loaders {
    segments: SegmentLoaders;
  }
}

const HOURLY = "crm.segments.refresh-time-based";
const DAILY = "crm.segments.refresh-all";

/** Segments: rule and static, materialized members kept current, `segmentMembershipChanged`. */
export const segmentsModule = defineModule({
  name: "segments",
  entities: [Segment],
  migrations: [Segments1764500000000, SegmentSystemKeys1764520000000],
  resolvers: [SegmentResolver, SegmentPreviewResolver, CustomerSegmentsResolver, SegmentSubscriptionResolver, SegmentMembershipChangeResolver],
  scopes: ["segments:read", "segments:write"],
  events: SEGMENT_EVENTS,
  loaders: createSegmentLoaders,
  setup(app) {
    const segments = (app.segments = new SegmentsService(app));
    // Facts a batch changed: members follow in the batch's own transaction.
    app.ingestion.hooks.register({
      name: "segments",
      last: true, // conditions read what other hooks write in the batch (lifecycle stages, tiers)
      run: async (tx, changes) => {
        const ids = [
          ...changes.statsChanged,
          ...changes.customers.created,
          ...changes.customers.updated.map((u) => u.id),
          ...changes.customers.merged.flatMap((m) => [m.sourceId, m.targetId]),
          ...changes.orders.flatMap((o) => (o.customerId ? [o.customerId] : [])),
        ];
        emitChanges(tx, await segments.evaluateFor(tx, ids));
      },
    });
    app.customers.merges.hooks.push(segments.mergeHook);
    app.customers.personalData.register({ name: "segments", export: (tx, ids) => segments.exportOf(tx, ids), erase: (tx, ids) => segments.eraseOf(tx, ids) });
    // Changes made through the API (not in an ingested batch, which the hook above covers): members follow
    // on the queue, retried until they do.
    for (const type of ["customer.created", "customer.updated", "customer.consent_changed", "customer.stats_changed"] as const) {
      app.outbox.on(
        type,
        async (event) => {
          if (event.source.kind === "channel") return;
          const ctx = systemContext(app, event.tenantId, "segments", `event-${event.eventId}`);
          await inTransaction(ctx, async (tx) => emitChanges(tx, await segments.evaluateFor(tx, [event.customerId])));
        },
        `segments:${type}`,
      );
    }
  },
  jobs: (app) => [
    {
      name: HOURLY,
      cron: { expression: "7 * * * *" },
      policy: "stately",
      run: async () => refreshAll(app, "time-based"),
    },
    {
      name: DAILY,
      cron: { expression: "27 4 * * *" },
      policy: "stately",
      run: async () => refreshAll(app, "all"),
    },
  ],
});

async function refreshAll(app: App, which: "time-based" | "all"): Promise<Record<string, unknown>> {
  let changes = 0;
  const tenants = await app.segments.tenantsWithRules(which);
  for (const tenantId of tenants) changes += await app.segments.refreshTenant(systemContext(app, tenantId, "segments.refresh", `job-segments-${which}`), which);
  return { tenants: tenants.length, changes };
}

export { Segment, SegmentKind } from "./entity";
export { SegmentsService } from "./service";
export { SegmentQuery } from "./compile";
export type { SegmentConditionDefinition, CompileScope } from "./registry";
export type { Condition, Comparison, Operator } from "./condition";
