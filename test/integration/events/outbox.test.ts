import { createApp, type App } from "../../../src/app";
import type { Ctx } from "../../../src/core/context";
import { inTransaction } from "../../../src/core/transaction";
import type { Delivered } from "../../../src/events/types";
import { freshDatabase, reopenableDatabase, silentLog } from "../../helpers/database";
import { aCustomer } from "../../fixtures/customers";

jest.setTimeout(60_000);

async function appOn(db: Awaited<ReturnType<typeof reopenableDatabase>>): Promise<{ app: App; ctx: Ctx }> {
  const app = await createApp(db.config, silentLog, { database: await db.open() });
  await app.tenancy.bootstrap(silentLog, () => undefined);
  const [tenant] = await app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
  const ctx: Ctx = { requestId: "test", principal: { kind: "api_key", keyId: "k", tenantId: tenant.id, scopes: new Set(["admin"]) }, app, log: silentLog };
  return { app, ctx };
}

async function pendingRows(app: App): Promise<number> {
  const [row] = await app.db.dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE dispatched_at IS NULL`);
  return row.n;
}

type DeliveryRow = { attempts: number; published: boolean; dispatched: boolean; handlers_done: string[] };

async function deliveryOf(app: App, type: string): Promise<DeliveryRow> {
  const [row] = await app.db.dataSource.query(
    `SELECT attempts, published_at IS NOT NULL AS published, dispatched_at IS NOT NULL AS dispatched, handlers_done FROM outbox WHERE type = $1`,
    [type],
  );
  return row;
}

/** A real subscriber on the app's PubSub, recording what it hears until stopped. */
function listen(app: App, type: "customer.created", tenantId: string): { heard: Delivered[]; stop(): Promise<void> } {
  const heard: Delivered[] = [];
  const it = app.pubsub.subscribe(type, tenantId)[Symbol.asyncIterator]();
  const pump = (async () => {
    for (let r = await it.next(); !r.done; r = await it.next()) heard.push(r.value);
  })();
  return {
    heard,
    async stop() {
      await new Promise((r) => setImmediate(r)); // let anything already published reach the subscriber
      await it.return?.();
      await pump;
    },
  };
}

function tenantOfCtx(ctx: Ctx): string {
  return (ctx.principal as { tenantId: string }).tenantId;
}

describe("outbox", () => {
  let db: Awaited<ReturnType<typeof reopenableDatabase>>;
  beforeEach(async () => {
    db = await freshDatabase();
  });
  afterEach(() => db.dispose());

  it("dispatches an event to handlers only after its transaction commits", async () => {
    const { app, ctx } = await appOn(db);
    const seen: Delivered[] = [];
    app.outbox.on("customer.created", (e) => void seen.push(e));
    const result = await app.customers.create(ctx, aCustomer() as never);
    expect(result.ok).toBe(true);
    await app.outbox.idle();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ type: "customer.created", customerId: (result as { value: { id: string } }).value.id });
    expect(seen[0].eventId).toMatch(/^\d+$/);
    expect(await pendingRows(app)).toBe(0);
    await app.db.close();
  });

  it("writes no event when the transaction rolls back", async () => {
    const { app, ctx } = await appOn(db);
    const seen: Delivered[] = [];
    app.outbox.on("customer.deleted", (e) => void seen.push(e));
    await expect(
      inTransaction(ctx, async (tx) => {
        tx.emit({ type: "customer.deleted", tenantId: "00000000-0000-0000-0000-000000000000", customerId: "x" });
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    app.outbox.kick();
    await app.outbox.idle();
    expect(seen).toEqual([]);
    const [row] = await app.db.dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE type = 'customer.deleted'`);
    expect(row.n).toBe(0);
    await app.db.close();
  });

  it("dispatches at the next start what a crash left undispatched after commit", async () => {
    const durable = await reopenableDatabase(); // this one must survive a "restart"
    const first = await appOn(durable);
    await first.app.outbox.stop(); // from here on nothing is dispatched: the process "dies" after commit
    const result = await first.app.customers.create(first.ctx, aCustomer() as never);
    expect(result.ok).toBe(true);
    expect(await pendingRows(first.app)).toBe(1);
    await first.app.db.close();

    const second = await appOn(durable);
    const seen: Delivered[] = [];
    second.app.outbox.on("customer.created", (e) => void seen.push(e));
    second.app.outbox.start(0);
    await second.app.outbox.idle();
    expect(seen.map((e) => e.type)).toEqual(["customer.created"]);
    expect(await pendingRows(second.app)).toBe(0);
    await second.app.outbox.stop();
    await second.app.db.close();
    await durable.dispose();
  });

  it("keeps an event pending while a handler fails, and delivers it on the next run", async () => {
    const { app, ctx } = await appOn(db);
    let calls = 0;
    app.outbox.on("customer.created", () => {
      calls++;
      if (calls === 1) throw new Error("downstream unavailable");
    });
    await app.customers.create(ctx, aCustomer() as never);
    await app.outbox.idle();
    expect(calls).toBe(1);
    expect(await pendingRows(app)).toBe(1);
    app.outbox.kick();
    await app.outbox.idle();
    expect(calls).toBe(2);
    expect(await pendingRows(app)).toBe(0);
    await app.db.close();
  });
});

describe("outbox retries", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeEach(async () => {
    db = await freshDatabase();
  });
  afterEach(() => db.dispose());

  it("publishes an event to subscribers once and reruns only the handler that failed", async () => {
    const { app, ctx } = await appOn(db);
    const subscriber = listen(app, "customer.created", tenantOfCtx(ctx));
    const calls = { steady: 0, flaky: 0 };
    app.outbox.on("customer.created", () => void calls.steady++, "steady");
    app.outbox.on("customer.created", () => {
      if (++calls.flaky === 1) throw new Error("downstream unavailable");
    }, "flaky");

    await app.customers.create(ctx, aCustomer() as never);
    await app.outbox.idle();
    expect(calls).toEqual({ steady: 1, flaky: 1 });
    expect(await deliveryOf(app, "customer.created")).toEqual({ attempts: 1, published: true, dispatched: false, handlers_done: ["steady"] });

    app.outbox.kick();
    await app.outbox.idle();
    await subscriber.stop();
    expect(subscriber.heard.map((e) => e.type)).toEqual(["customer.created"]);
    expect(calls).toEqual({ steady: 1, flaky: 2 });
    expect(await deliveryOf(app, "customer.created")).toEqual({ attempts: 2, published: true, dispatched: true, handlers_done: ["flaky", "steady"] });
    expect(await pendingRows(app)).toBe(0);
    // What operators see of it on GET /metrics.
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toContain('crm_outbox_handler_failures_total{handler="flaky"} 1');
    expect(metrics).toContain('crm_outbox_events_dispatched_total{type="customer.created"} 1');
    await app.db.close();
  });

  it("after a restart, neither republishes a row recorded as published nor reruns the handlers it records as done", async () => {
    const { app, ctx } = await appOn(db);
    await app.outbox.stop();
    await app.customers.create(ctx, aCustomer() as never);
    // What a dispatcher that died after its first attempt leaves behind: published, one handler done, lease ended.
    await app.db.dataSource.query(`UPDATE outbox SET published_at = now(), handlers_done = '{audit}', attempts = 1, lease_until = now() - interval '1 second'`);
    const other = new (app.outbox.constructor as new (...a: unknown[]) => typeof app.outbox)(app.db.dataSource, app.pubsub, silentLog);
    const subscriber = listen(app, "customer.created", tenantOfCtx(ctx));
    const ran: string[] = [];
    other.on("customer.created", () => void ran.push("audit"), "audit");
    other.on("customer.created", () => void ran.push("mail"), "mail");
    other.kick();
    await other.idle();
    await subscriber.stop();
    expect(ran).toEqual(["mail"]);
    expect(subscriber.heard).toEqual([]);
    expect(await deliveryOf(app, "customer.created")).toEqual({ attempts: 2, published: true, dispatched: true, handlers_done: ["audit", "mail"] });
    await app.db.close();
  });

  it("gives a row up after ten attempts, having published it once, and records which handlers completed", async () => {
    const { app, ctx } = await appOn(db);
    const subscriber = listen(app, "customer.created", tenantOfCtx(ctx));
    let broken = 0;
    app.outbox.on("customer.created", () => undefined, "fine");
    app.outbox.on("customer.created", () => {
      broken++;
      throw new Error("always down");
    }, "broken");
    await app.customers.create(ctx, aCustomer() as never);
    await app.outbox.idle();
    for (let i = 1; i < 10; i++) {
      expect(await pendingRows(app)).toBe(1);
      app.outbox.kick();
      await app.outbox.idle();
    }
    await subscriber.stop();
    expect(broken).toBe(10);
    expect(subscriber.heard).toHaveLength(1);
    expect(await deliveryOf(app, "customer.created")).toEqual({ attempts: 10, published: true, dispatched: true, handlers_done: ["fine"] });
    await app.db.close();
  });

  it("refuses two handlers of one event type under the same name", async () => {
    const { app } = await appOn(db);
    app.outbox.on("customer.created", () => undefined, "sync");
    expect(() => app.outbox.on("customer.created", () => undefined, "sync")).toThrow(/named "sync"/);
    app.outbox.on("customer.updated", () => undefined, "sync");
    await app.db.close();
  });
});

describe("outbox pruning", () => {
  it("deletes dispatched rows older than the retention, in chunks, and never a pending or recent one", async () => {
    const db = await freshDatabase();
    const app = await createApp(db.config, silentLog, { database: await db.open() });
    try {
      await app.tenancy.bootstrap(silentLog, () => undefined);
      await app.outbox.stop();
      const [tenant] = await app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
      await app.db.dataSource.query(`DELETE FROM outbox`);
      // 7 old dispatched rows, 2 dispatched recently, 3 pending (2 of them old): written here, ages set by hand.
      const rows = [
        ...Array.from({ length: 7 }, () => ["old-done", "8 days", true]),
        ...Array.from({ length: 2 }, () => ["recent-done", "1 day", true]),
        ...Array.from({ length: 2 }, () => ["old-pending", "30 days", false]),
        ["new-pending", "0 days", false],
      ] as const;
      for (const [type, age, done] of rows) {
        await app.db.dataSource.query(
          `INSERT INTO outbox (tenant_id, type, payload, created_at, dispatched_at) VALUES ($1, $2, '{}', now() - $3::interval, CASE WHEN $4 THEN now() - $3::interval END)`,
          [tenant.id, type, age, done],
        );
      }
      expect(await app.outbox.prune(7, 3)).toBe(7); // chunks of 3: 3 + 3 + 1
      const left: { type: string; n: number }[] = await app.db.dataSource.query(`SELECT type, count(*)::int AS n FROM outbox GROUP BY type ORDER BY type`);
      expect(left).toEqual([
        { type: "new-pending", n: 1 },
        { type: "old-pending", n: 2 },
        { type: "recent-done", n: 2 },
      ]);
      expect(await app.outbox.prune(7)).toBe(0);
    } finally {
      await app.db.close();
      await db.dispose();
    }
  });
});

describe("outbox delivery outside transactions", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeEach(async () => {
    db = await freshDatabase();
  });
  afterEach(() => db.dispose());

  it("lets a handler use the database (the embedded database has one connection)", async () => {
    const { app, ctx } = await appOn(db);
    const seen: string[] = [];
    app.outbox.on("customer.created", async (e) => {
      const [row] = await app.db.dataSource.query(`SELECT display_name FROM customers WHERE id = $1`, [e.customerId]);
      seen.push(row.display_name);
    });
    await app.customers.create(ctx, aCustomer({ displayName: "郑爽" }) as never);
    await app.outbox.idle();
    expect(seen).toEqual(["郑爽"]);
    await app.db.close();
  });

  it("leaves a row leased by a live dispatcher alone, and takes it over once the lease has ended", async () => {
    const { app, ctx } = await appOn(db);
    await app.outbox.stop();
    await app.customers.create(ctx, aCustomer() as never);
    await app.db.dataSource.query(`UPDATE outbox SET lease_until = now() + interval '1 hour'`);
    const other = new (app.outbox.constructor as new (...a: unknown[]) => typeof app.outbox)(app.db.dataSource, app.pubsub, silentLog);
    const seen: Delivered[] = [];
    other.on("customer.created", (e) => void seen.push(e));
    other.kick();
    await other.idle();
    expect(seen).toEqual([]);
    await app.db.dataSource.query(`UPDATE outbox SET lease_until = now() - interval '1 second'`);
    other.kick();
    await other.idle();
    expect(seen).toHaveLength(1);
    expect(await pendingRows(app)).toBe(0);
    await app.db.close();
  });
});
