import { createApp, type App } from "../../../src/app";
import type { Ctx } from "../../../src/core/context";
import { inTransaction } from "../../../src/core/transaction";
import { deliveryJobId, deliveryQueueOf, Outbox } from "../../../src/events/outbox";
import type { Delivered } from "../../../src/events/types";
import { errorRecordingLog, freshDatabase, reopenableDatabase, silentLog } from "../../helpers/database";
import { aCustomer } from "../../fixtures/customers";

jest.setTimeout(60_000);

// The outbox logs and swallows what goes wrong while dispatching (it retries later): a test must not pass over it.
const logged = errorRecordingLog();
afterEach(() => expect(logged.take()).toEqual([]));

type Db = Awaited<ReturnType<typeof reopenableDatabase>>;

/** Deliveries retried after 1–2 s, then 2–4 s…: what EVENT_RETRY_DELAY_SECONDS=1 gives. */
async function appOn(db: Db, retryLimit = 10): Promise<{ app: App; ctx: Ctx; close(): Promise<void> }> {
  const app = await createApp({ ...db.config, eventDelivery: { retryDelaySeconds: 1, retryLimit } }, logged.log, { database: await db.open() });
  await app.tenancy.bootstrap(silentLog, () => undefined);
  const [tenant] = await app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
  const ctx: Ctx = { requestId: "test", principal: { kind: "api_key", keyId: "k", tenantId: tenant.id, scopes: new Set(["admin"]) }, app, log: silentLog };
  return {
    app,
    ctx,
    async close() {
      await app.outbox.stop();
      await app.jobs.stop();
      await app.db.close();
    },
  };
}

async function pendingRows(app: App): Promise<number> {
  const [row] = await app.db.dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE dispatched_at IS NULL`);
  return row.n;
}

async function eventIdOf(app: App, type: string): Promise<string> {
  const [row] = await app.db.dataSource.query(`SELECT id FROM outbox WHERE type = $1`, [type]);
  return row.id;
}

/** The delivery job of (event, handler) as operators see it in jobRuns. */
async function deliveryOf(app: App, eventId: string, handler: string) {
  const [run] = await app.jobs.runs({ name: deliveryQueueOf(handler) }, 1, undefined, deliveryJobId(eventId, handler));
  return run;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A second dispatcher on the same app and database, as another instance would be. */
function anotherOutbox(app: App): Outbox {
  return new Outbox(app.db.dataSource, app.pubsub, app.jobs, logged.log, app.metrics, { retryDelaySeconds: 1, retryLimit: 10 });
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
  let db: Db;
  beforeEach(async () => {
    db = await freshDatabase();
  });
  afterEach(() => db.dispose());

  it("dispatches an event to handlers only after its transaction commits", async () => {
    const { app, ctx, close } = await appOn(db);
    const seen: Delivered[] = [];
    app.outbox.on("customer.created", (e) => void seen.push(e), "seen");
    const result = await app.customers.create(ctx, aCustomer() as never);
    expect(result.ok).toBe(true);
    await app.outbox.idle();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ type: "customer.created", customerId: (result as { value: { id: string } }).value.id });
    expect(seen[0].eventId).toMatch(/^\d+$/);
    expect(await pendingRows(app)).toBe(0);
    expect((await deliveryOf(app, seen[0].eventId, "seen")).state).toBe("completed");
    await close();
  });

  it("writes no event when the transaction rolls back", async () => {
    const { app, ctx, close } = await appOn(db);
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
    await close();
  });

  it("dispatches at the next start what a crash left undispatched after commit", async () => {
    const durable = await reopenableDatabase(); // this one must survive a "restart"
    const first = await appOn(durable);
    await first.app.outbox.stop(); // from here on nothing is dispatched: the process "dies" after commit
    const result = await first.app.customers.create(first.ctx, aCustomer() as never);
    expect(result.ok).toBe(true);
    expect(await pendingRows(first.app)).toBe(1);
    await first.close();

    const second = await appOn(durable);
    const seen: Delivered[] = [];
    second.app.outbox.on("customer.created", (e) => void seen.push(e));
    second.app.outbox.start(0);
    await second.app.outbox.idle();
    expect(seen.map((e) => e.type)).toEqual(["customer.created"]);
    expect(await pendingRows(second.app)).toBe(0);
    await second.close();
    await durable.dispose();
  });

  it("delivers more than one claim's worth of events (200) to every handler, each once and in order", async () => {
    const { app, ctx, close } = await appOn(db);
    const seen: string[] = [];
    app.outbox.on("customer.deleted", (e) => void seen.push(e.customerId));
    await inTransaction(ctx, async (tx) => {
      for (let n = 0; n < 450; n++) tx.emit({ type: "customer.deleted", tenantId: tenantOfCtx(ctx), customerId: `c${n}` });
    });
    await app.outbox.idle();
    expect(seen).toEqual(Array.from({ length: 450 }, (_, n) => `c${n}`));
    expect(await pendingRows(app)).toBe(0);
    await close();
  });
});

describe("outbox delivery through the job queue", () => {
  let db: Db;
  beforeEach(async () => {
    db = await freshDatabase();
  });
  afterEach(() => db.dispose());

  it("publishes an event to subscribers once and retries only the handler that failed", async () => {
    const { app, ctx, close } = await appOn(db);
    const subscriber = listen(app, "customer.created", tenantOfCtx(ctx));
    const calls = { steady: 0, flaky: 0 };
    app.outbox.on("customer.created", () => void calls.steady++, "steady");
    app.outbox.on("customer.created", () => {
      if (++calls.flaky === 1) throw new Error("downstream unavailable");
    }, "flaky");

    await app.customers.create(ctx, aCustomer() as never);
    await app.outbox.idle();
    expect(calls).toEqual({ steady: 1, flaky: 1 });
    const eventId = await eventIdOf(app, "customer.created");
    expect(await pendingRows(app)).toBe(0); // dispatched: the retry belongs to the queue now
    expect(await deliveryOf(app, eventId, "flaky")).toMatchObject({ state: "retry", lastError: "downstream unavailable" });

    await waitFor("the retry", () => calls.flaky === 2, 15_000);
    await waitFor("the retry's record", async () => (await deliveryOf(app, eventId, "flaky")).state === "completed", 5_000);
    await subscriber.stop();
    expect(subscriber.heard.map((e) => e.type)).toEqual(["customer.created"]);
    expect(calls).toEqual({ steady: 1, flaky: 2 });
    expect(await deliveryOf(app, eventId, "steady")).toMatchObject({ state: "completed", retryCount: 0 });
    expect(await deliveryOf(app, eventId, "flaky")).toMatchObject({ state: "completed", retryCount: 1 });
    // What operators see of it on GET /metrics.
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toContain('crm_outbox_handler_failures_total{handler="flaky"} 1');
    expect(metrics).toContain('crm_outbox_events_dispatched_total{type="customer.created"} 1');
    await close();
  });

  it("does not make other handlers wait for a slow one", async () => {
    const { app, ctx, close } = await appOn(db);
    let release!: () => void;
    const slowGate = new Promise<void>((r) => (release = r));
    const fast: string[] = [];
    app.outbox.on("customer.created", () => slowGate, "slow");
    app.outbox.on("customer.created", (e) => void fast.push(e.customerId), "fast");
    await app.customers.create(ctx, aCustomer() as never);
    await app.customers.create(ctx, aCustomer() as never);
    await waitFor("the fast handler", () => fast.length === 2, 10_000);
    release();
    await app.outbox.idle();
    await close();
  });

  it("still delivers to a handler that fails for a minute", async () => {
    const { app, ctx, close } = await appOn(db);
    let firstTry = 0;
    const attempts: number[] = [];
    const received: string[] = [];
    app.outbox.on("customer.created", (e) => {
      const now = Date.now();
      firstTry ||= now;
      attempts.push(now - firstTry);
      if (now - firstTry < 60_000) throw new Error("Zoho is down");
      received.push(e.customerId);
    }, "zoho");
    const created = await app.customers.create(ctx, aCustomer() as never);
    await waitFor("delivery after the outage", () => received.length === 1, 170_000);
    expect(received).toEqual([(created as { value: { id: string } }).value.id]);
    // Backed off: 1–2 s, 2–4 s, 4–8 s… apart, not hammered; the gaps grow.
    expect(attempts.length).toBeGreaterThanOrEqual(6);
    expect(attempts.length).toBeLessThanOrEqual(9);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
    expect(gaps[0]).toBeGreaterThanOrEqual(900);
    expect(gaps[gaps.length - 1]).toBeGreaterThan(gaps[0] * 4);
    await app.outbox.idle();
    await close();
  }, 200_000);

  it("leaves a delivery whose retries are spent as a dead letter, which retryJob delivers", async () => {
    const { app, ctx, close } = await appOn(db, 1);
    let up = false;
    const calls: boolean[] = [];
    app.outbox.on("customer.created", () => {
      calls.push(up);
      if (!up) throw new Error("always down");
    }, "broken");
    app.outbox.on("customer.created", () => undefined, "fine");
    await app.customers.create(ctx, aCustomer() as never);
    const eventId = await eventIdOf(app, "customer.created");
    await waitFor("the dead letter", async () => (await deliveryOf(app, eventId, "broken"))?.state === "failed", 15_000);
    expect(calls).toEqual([false, false]); // the first attempt and its one retry
    expect(await deliveryOf(app, eventId, "broken")).toMatchObject({ tenantId: tenantOfCtx(ctx), lastError: "always down", retryCount: 1 });
    expect(await deliveryOf(app, eventId, "fine")).toMatchObject({ state: "completed" });
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toContain(`crm_jobs_failed{queue="${deliveryQueueOf("broken")}"} 1`);

    up = true;
    expect(await app.jobs.retry(deliveryJobId(eventId, "broken"), tenantOfCtx(ctx))).toBe(true);
    await waitFor("the retried delivery", () => calls.length === 3, 15_000);
    expect(calls).toEqual([false, false, true]);
    await waitFor("its record", async () => (await deliveryOf(app, eventId, "broken")).state === "completed", 5_000);
    await close();
  });

  it("skips, for a row dispatched before deliveries were jobs, the handlers it records as done", async () => {
    const { app, ctx, close } = await appOn(db);
    await app.outbox.stop();
    await app.customers.create(ctx, aCustomer() as never);
    // What the old dispatcher left behind: published, one handler done, lease ended.
    await app.db.dataSource.query(`UPDATE outbox SET published_at = now(), handlers_done = '{audit}', attempts = 1, lease_until = now() - interval '1 second'`);
    const other = anotherOutbox(app);
    const subscriber = listen(app, "customer.created", tenantOfCtx(ctx));
    const ran: string[] = [];
    other.on("customer.created", () => void ran.push("audit"), "audit");
    other.on("customer.created", () => void ran.push("mail"), "mail");
    other.kick();
    await other.idle();
    await subscriber.stop();
    expect(ran).toEqual(["mail"]);
    expect(subscriber.heard).toEqual([]);
    expect(await pendingRows(app)).toBe(0);
    await close();
  });

  it("enqueues a delivery once even when a dispatcher died before recording the row as dispatched", async () => {
    const { app, ctx, close } = await appOn(db);
    await app.outbox.stop();
    await app.customers.create(ctx, aCustomer() as never);
    const eventId = await eventIdOf(app, "customer.created");
    const other = anotherOutbox(app);
    const ran: string[] = [];
    other.on("customer.created", (e) => void ran.push(e.eventId), "audit");
    await other.ready();
    // The first dispatcher enqueued the job, then died: the row is still undispatched.
    const event = { type: "customer.created", tenantId: tenantOfCtx(ctx), eventId };
    await app.jobs.insert(deliveryQueueOf("audit"), [{ id: deliveryJobId(eventId, "audit"), data: { tenantId: tenantOfCtx(ctx), type: "customer.created", handler: "audit", event } }]);
    expect(await pendingRows(app)).toBe(1);
    other.kick();
    await other.idle();
    expect(ran).toEqual([eventId]);
    expect(await pendingRows(app)).toBe(0);
    expect(await app.jobs.count({ name: deliveryQueueOf("audit") })).toBe(1);
    await close();
  });

  it("refuses two handlers of one event type under the same name, and names that share a queue", async () => {
    const { app, close } = await appOn(db);
    app.outbox.on("customer.created", () => undefined, "sync");
    expect(() => app.outbox.on("customer.created", () => undefined, "sync")).toThrow(/named "sync"/);
    app.outbox.on("customer.updated", () => undefined, "sync");
    app.outbox.on("customer.created", () => undefined, "plugin:zoho");
    expect(() => app.outbox.on("customer.updated", () => undefined, "plugin_zoho")).toThrow(/share the delivery queue/);
    await close();
  });
});

describe("outbox pruning", () => {
  it("deletes dispatched rows older than the retention, in chunks, and never a pending or recent one", async () => {
    const db = await freshDatabase();
    const app = await createApp(db.config, logged.log, { database: await db.open() });
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
  let db: Db;
  beforeEach(async () => {
    db = await freshDatabase();
  });
  afterEach(() => db.dispose());

  it("lets a handler use the database (the embedded database has one connection)", async () => {
    const { app, ctx, close } = await appOn(db);
    const seen: string[] = [];
    app.outbox.on("customer.created", async (e) => {
      const [row] = await app.db.dataSource.query(`SELECT display_name FROM customers WHERE id = $1`, [e.customerId]);
      seen.push(row.display_name);
    });
    await app.customers.create(ctx, aCustomer({ displayName: "郑爽" }) as never);
    await app.outbox.idle();
    expect(seen).toEqual(["郑爽"]);
    await close();
  });

  it("leaves a row leased by a live dispatcher alone, and takes it over once the lease has ended", async () => {
    const { app, ctx, close } = await appOn(db);
    await app.outbox.stop();
    await app.customers.create(ctx, aCustomer() as never);
    await app.db.dataSource.query(`UPDATE outbox SET lease_until = now() + interval '1 hour'`);
    const other = anotherOutbox(app);
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
    await other.stop();
    await close();
  });
});
