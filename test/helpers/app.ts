import { createApp, type App } from "../../src/app";
import type { Ctx } from "../../src/core/context";
import { freshDatabase, silentLog } from "./database";

/** An app (no HTTP) on a fresh database with tenant "default", and a system ctx for it. */
export async function appWithTenant(): Promise<{ app: App; ctx: Ctx; tenantId: string; close(): Promise<void> }> {
  const db = await freshDatabase();
  const app = await createApp(db.config, silentLog, { database: await db.open() });
  await app.tenancy.bootstrap(silentLog, () => undefined);
  const [tenant] = await app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
  const ctx: Ctx = { requestId: "test", principal: { kind: "system", tenantId: tenant.id, actor: "test" }, app, log: silentLog };
  return {
    app,
    ctx,
    tenantId: tenant.id,
    async close() {
      await app.outbox.stop();
      await app.jobs.stop();
      await app.db.close();
      await db.dispose();
    },
  };
}

/** Ingests `events` in batches of `size` through `channel`; returns every result in order. */
export async function ingestAll(app: App, ctx: Ctx, events: unknown[], size = 250, channel = "http-json") {
  const out = [];
  for (let i = 0; i < events.length; i += size) out.push(...(await app.ingestion.ingest(ctx, { channel, connectionId: null }, events.slice(i, i + size))));
  return out;
}
