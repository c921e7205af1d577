import fc from "fast-check";
import { appWithTenant } from "../../helpers/app";

jest.setTimeout(180_000);

type Env = Awaited<ReturnType<typeof appWithTenant>>;
let env: Env;
beforeAll(async () => {
  env = await appWithTenant();
});
afterAll(() => env.close());

const source = { channel: "http-json", connectionId: null };
let n = 0;
const upsert = (payload: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
  n++;
  return {
    type: "customer.upserted",
    externalId: `poison-${n}`,
    occurredAt: "2026-07-01T08:00:00Z",
    identities: [{ type: "external", value: `poison-customer-${n}` }],
    payload,
    ...extra,
  };
};
/** JSON nested `levels` deep: {"a":{"a":…}} */
const nested = (levels: number) => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
};
const customers = async () => Number((await env.app.db.dataSource.query(`SELECT count(*) AS n FROM customers`))[0].n);

describe("events the database cannot store", () => {
  const poisons: [string, () => Record<string, unknown>][] = [
    ["a NUL in the display name", () => upsert({ displayName: "a\u0000b" })],
    ["a NUL in an attribute value", () => upsert({ attributes: { note: "x\u0000y" } })],
    ["a NUL in an attribute key", () => upsert({ attributes: { "k\u0000": "v" } })],
    ["a NUL in a tag", () => upsert({ tags: ["ok", "b\u0000d"] })],
    ["an unpaired surrogate in the city", () => upsert({ region: { city: "杭\ud800州" } })],
    ["attributes nested 5,000 levels deep", () => upsert({ attributes: { deep: nested(5000) } })],
    ["attributes nested 40 levels deep", () => upsert({ attributes: { deep: nested(40) } })],
    ["birthday 0000-01-01", () => upsert({ birthday: "0000-01-01" })],
    ["an occurredAt in year 0", () => upsert({ displayName: "x" }, { occurredAt: "0000-01-01T00:00:00Z" })],
    [
      "a NUL in an order id",
      () => ({
        type: "order.paid",
        externalId: `poison-order-${++n}`,
        occurredAt: "2026-07-01T08:00:00Z",
        identities: [{ type: "external", value: "buyer-1" }],
        payload: { orderId: "T\u00001", currency: "CNY", total: 100 },
      }),
    ],
    [
      "a NUL in a message",
      () => ({
        type: "message.received",
        externalId: `poison-msg-${++n}`,
        occurredAt: "2026-07-01T08:00:00Z",
        identities: [{ type: "external", value: "buyer-2" }],
        payload: { threadId: "t1", text: "hello\u0000" },
      }),
    ],
    [
      "a NUL in a feedback payload",
      () => ({
        type: "feedback.submitted",
        externalId: `poison-fb-${++n}`,
        occurredAt: "2026-07-01T08:00:00Z",
        identities: [{ type: "external", value: "buyer-3" }],
        payload: { comment: "bad\u0000" },
      }),
    ],
  ];

  it.each(poisons)("rejects %s with a reason and accepts the batch's good events", async (_name, make) => {
    const before = await customers();
    const good1 = upsert({ displayName: "王芳" });
    const bad = make();
    const good2 = upsert({ displayName: "李雷" });
    const results = await env.app.ingestion.ingest(env.ctx, source, [good1, bad, good2]);
    expect(results.map((r) => r.status)).toEqual(["accepted", "rejected", "accepted"]);
    expect(results[1].reason).toEqual(expect.any(String));
    expect(results[1].reason!.length).toBeGreaterThan(5);
    expect(await customers()).toBe(before + 2);
    // Nothing of the bad event was claimed: it is rejected again, not a duplicate.
    const again = await env.app.ingestion.ingest(env.ctx, source, [bad]);
    expect(again[0].status).toBe("rejected");
  });
});

describe("a batch the database refuses for its data", () => {
  it("is split down to the offending event, which is rejected with the database's reason; the others land", async () => {
    // A rule validation does not know, enforced by the database alone, stands for any such gap.
    await env.app.db.dataSource.query(`ALTER TABLE customers ADD CONSTRAINT test_no_poison CHECK (display_name IS DISTINCT FROM 'poison')`);
    try {
      const before = await customers();
      const events = Array.from({ length: 9 }, (_, i) => upsert({ displayName: i === 3 || i === 7 ? "poison" : `客户${i}` }));
      const results = await env.app.ingestion.ingest(env.ctx, source, events);
      expect(results.map((r) => r.status)).toEqual(events.map((_, i) => (i === 3 || i === 7 ? "rejected" : "accepted")));
      expect(results[3].reason).toMatch(/^the database cannot store this event: .*test_no_poison/);
      expect(await customers()).toBe(before + 7);
      const names: { display_name: string }[] = await env.app.db.dataSource.query(`SELECT display_name FROM customers WHERE display_name LIKE '客户%'`);
      expect(names.map((r) => r.display_name).sort()).toEqual(["客户0", "客户1", "客户2", "客户4", "客户5", "客户6", "客户8"]);
      // The accepted ones are claimed (a replay is a duplicate); the rejected ones are not.
      const replay = await env.app.ingestion.ingest(env.ctx, source, [events[0], events[3]]);
      expect(replay.map((r) => r.status)).toEqual(["duplicate", "rejected"]);
    } finally {
      await env.app.db.dataSource.query(`ALTER TABLE customers DROP CONSTRAINT test_no_poison`);
    }
  });

  it("treats a data exception (SQLSTATE class 22) the database raises like a refused value: only that event is rejected", async () => {
    await env.app.db.dataSource.query(
      `CREATE FUNCTION test_data_exception() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.display_name = 'poison22' THEN RAISE EXCEPTION 'bad value' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$`,
    );
    await env.app.db.dataSource.query(`CREATE TRIGGER test_data_exception BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION test_data_exception()`);
    try {
      const results = await env.app.ingestion.ingest(env.ctx, source, [upsert({ displayName: "好" }), upsert({ displayName: "poison22" }), upsert({ displayName: "也好" })]);
      expect(results.map((r) => r.status)).toEqual(["accepted", "rejected", "accepted"]);
      expect(results[1].reason).toMatch(/^the database cannot store this event: bad value/);
    } finally {
      await env.app.db.dataSource.query(`DROP TRIGGER test_data_exception ON customers`);
      await env.app.db.dataSource.query(`DROP FUNCTION test_data_exception()`);
    }
  });

  it("still throws when the failure is not the data's (the channel gets a retryable answer)", async () => {
    await env.app.db.dataSource.query(`CREATE FUNCTION test_outage() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outage' USING ERRCODE = '57P01'; END $$`);
    await env.app.db.dataSource.query(`CREATE TRIGGER test_outage BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION test_outage()`);
    try {
      const before = await customers();
      await expect(env.app.ingestion.ingest(env.ctx, source, [upsert({ displayName: "a" }), upsert({ displayName: "b" })])).rejects.toThrow(/outage/);
      expect(await customers()).toBe(before);
    } finally {
      await env.app.db.dataSource.query(`DROP TRIGGER test_outage ON customers`);
      await env.app.db.dataSource.query(`DROP FUNCTION test_outage()`);
    }
  });
});

describe("money that would overflow", () => {
  it("rejects amounts above 10^13 minor units with a reason", async () => {
    const r = await env.app.ingestion.ingest(env.ctx, source, [
      {
        type: "order.paid",
        externalId: "huge-1",
        occurredAt: "2026-07-01T08:00:00Z",
        identities: [{ type: "external", value: "rich-1" }],
        payload: { orderId: "H1", currency: "CNY", total: 9007199254740991 },
      },
    ]);
    expect(r[0].status).toBe("rejected");
    expect(r[0].reason).toMatch(/payload\.total/);
  });
});

describe("a property: whatever JSON the event schema sees, ingest answers per event", () => {
  // Strings of any UTF-16 code units (NUL, lone surrogates, controls), and JSON of any depth.
  const anyText = fc.string({ unit: "binary", maxLength: 30 });
  const anyJson = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small", withCrossShrink: true }, anyText, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), tie("array"), tie("object")),
    array: fc.array(tie("value"), { maxLength: 3 }),
    object: fc.dictionary(anyText, tie("value"), { maxKeys: 3 }),
  })).value;
  const date = fc.oneof(fc.constantFrom("0000-01-01", "0001-01-01", "9999-12-31", "1899-12-31", "2026-02-29", "2024-02-29"), fc.string({ maxLength: 12 }));
  const event = fc.record(
    {
      type: fc.constantFrom("customer.upserted", "order.paid", "order.refunded", "message.received", "review.posted", "cart.updated"),
      externalId: fc.oneof({ weight: 4, arbitrary: fc.uuid() }, { weight: 1, arbitrary: anyText }),
      occurredAt: fc.oneof(
        { weight: 4, arbitrary: fc.date({ min: new Date("1990-01-01"), max: new Date("2030-01-01"), noInvalidDate: true }).map((d) => d.toISOString()) },
        { weight: 1, arbitrary: fc.constantFrom("0000-01-01T00:00:00Z", "2026-07-01T08:00:00+08:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00") },
        { weight: 1, arbitrary: anyText },
      ),
      identities: fc.array(
        fc.oneof(
          { weight: 3, arbitrary: fc.record({ type: fc.constant("external"), value: fc.stringMatching(/^[a-z0-9]{1,6}$/) }) },
          { weight: 1, arbitrary: fc.record({ type: fc.constant("phone"), value: fc.constantFrom("13800138000", "139 1234 5678", "+86 138 0013 8001") }) },
          { weight: 1, arbitrary: fc.record({ type: fc.constantFrom("external", "phone", "email", "wechat_openid"), value: anyText }) },
        ),
        { minLength: 1, maxLength: 3 },
      ),
      payload: fc.record(
        {
          displayName: anyText,
          birthday: date,
          attributes: fc.dictionary(anyText, anyJson, { maxKeys: 3 }),
          tags: fc.array(anyText, { maxLength: 3 }),
          region: fc.record({ city: anyText }),
          orderId: anyText,
          refundId: anyText,
          currency: fc.constantFrom("CNY", "USD"),
          total: fc.oneof(fc.integer({ min: 0, max: 10 ** 6 }), fc.constant(Number.MAX_SAFE_INTEGER)),
          amount: fc.oneof(fc.integer({ min: 0, max: 10 ** 6 }), fc.constant(Number.MAX_SAFE_INTEGER)),
          threadId: anyText,
          text: anyText,
          cartId: anyText,
          items: fc.array(fc.record({ sku: anyText, quantity: fc.integer({ min: 1, max: 10 }), unitPrice: fc.integer({ min: 0, max: 1000 }), amount: fc.integer({ min: 0, max: 1000 }) }), { maxLength: 2 }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["type", "externalId", "occurredAt", "payload"] },
  );

  it("never throws while the database is up", async () => {
    const seen = { accepted: 0, rejected: 0, duplicate: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 6 }), async (events) => {
        const results = await env.app.ingestion.ingest(env.ctx, source, events);
        expect(results).toHaveLength(events.length);
        for (const r of results) {
          expect(["accepted", "duplicate", "rejected"]).toContain(r.status);
          seen[r.status]++;
        }
      }),
      { numRuns: 200 },
    );
    // The generator reaches the database, not only the schema's refusals.
    expect(seen.accepted).toBeGreaterThan(50);
    expect(seen.rejected).toBeGreaterThan(50);
  });
});
