import { inTransaction } from "../../../src/core/transaction";
import { appWithTenant, ingestAll } from "../../helpers/app";
import { snapshot } from "../../helpers/state";
import { phoneOf, shuffle, syntheticEvents } from "../../fixtures/events";

jest.setTimeout(120_000);

type Env = Awaited<ReturnType<typeof appWithTenant>>;
let env: Env;
beforeEach(async () => {
  env = await appWithTenant();
});
afterEach(() => env.close());

const at = (minute: number) => new Date(Date.parse("2026-07-01T08:00:00Z") + minute * 60_000).toISOString();
const upsert = (externalId: string, minute: number, identities: { type: string; value: string }[], payload: Record<string, unknown> = {}) => ({
  type: "customer.upserted",
  externalId,
  occurredAt: at(minute),
  identities,
  payload,
});
const count = async (sql: string, params: unknown[] = []) => Number((await env.app.db.dataSource.query(sql, params))[0].n);

describe("ingestion pipeline", () => {
  it("accepts new events, answers replays as duplicates and rejects bad events with a reason, in request order", async () => {
    const good = upsert("e1", 1, [{ type: "phone", value: "139 1234 5678" }], { displayName: "王芳" });
    const results = await env.app.ingestion.ingest(env.ctx, { channel: "http-json", connectionId: null }, [
      good,
      { ...good },
      { type: "order.paid", externalId: "bad-money", occurredAt: at(2), identities: [], payload: { orderId: "T1", currency: "CNY", total: 12.5 } },
      { type: "nope", externalId: "x" },
      upsert("no-identity", 3, [], { displayName: "无名" }),
      upsert("bad-phone", 4, [{ type: "phone", value: "12345" }]),
      { ...good, externalId: "v2", version: 2 },
    ]);
    expect(results.map((r) => r.status)).toEqual(["accepted", "duplicate", "rejected", "rejected", "rejected", "rejected", "rejected"]);
    expect(results[2].reason).toMatch(/payload\.total/);
    expect(results[3].reason).toMatch(/unknown event type/);
    expect(results[4].reason).toMatch(/identity/);
    expect(results[5].reason).toMatch(/phone/);
    expect(results[6].reason).toMatch(/version/);
    const again = await env.app.ingestion.ingest(env.ctx, { channel: "http-json", connectionId: null }, [good]);
    expect(again).toEqual([{ externalId: "e1", status: "duplicate" }]);
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(1);
    const c = await env.app.customers.findByIdentity(env.ctx, "phone", "13912345678");
    expect(c?.displayName).toBe("王芳");
  });

  it("moves only lastSeenAt (not updatedAt) when a known customer is merely seen again", async () => {
    const id = [{ type: "phone", value: phoneOf(42) }];
    const source = { channel: "pos", connectionId: null };
    await env.app.ingestion.ingest(env.ctx, source, [upsert("p1", 1, id, { displayName: "钱多多" })]);
    const read = async () =>
      (await env.app.db.dataSource.query(`SELECT updated_at, last_seen_at, first_seen_at FROM customers`)).map((r: Record<string, Date>) => ({
        updated: new Date(r.updated_at).toISOString(),
        last: new Date(r.last_seen_at).toISOString(),
        first: new Date(r.first_seen_at).toISOString(),
      }))[0];
    const before = await read();
    const order = { type: "order.paid", externalId: "o1", occurredAt: at(30), identities: id, payload: { orderId: "T1", currency: "CNY", total: 1200 } };
    const early = upsert("p0", -5, id); // an older sighting without profile fields
    expect((await env.app.ingestion.ingest(env.ctx, source, [order, early])).map((r) => r.status)).toEqual(["accepted", "accepted"]);
    expect(await read()).toEqual({ updated: before.updated, last: at(30), first: at(-5) });
    await env.app.ingestion.ingest(env.ctx, source, [upsert("p2", 40, id, { displayName: "钱多多二" })]);
    const after = await read();
    expect(after.updated > before.updated).toBe(true);
    expect(after.last).toBe(at(40));
  });

  it("treats the same externalId on another channel as a different event", async () => {
    const e = upsert("same", 1, [{ type: "phone", value: phoneOf(1) }], { tags: ["有赞"] });
    await env.app.ingestion.ingest(env.ctx, { channel: "youzan", connectionId: null }, [e]);
    const r = await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [e]);
    expect(r[0].status).toBe("accepted");
  });

  it("keeps the most recent non-empty value whatever order profile events arrive in", async () => {
    const id = [{ type: "phone", value: phoneOf(7) }];
    await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [upsert("new", 10, id, { displayName: "新名字", region: { country: "CN", city: "杭州市" } })]);
    await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [upsert("old", 5, id, { displayName: "旧名字", gender: "FEMALE", region: { country: "CN", city: "宁波市" } })]);
    const c = await env.app.customers.findByIdentity(env.ctx, "phone", phoneOf(7));
    expect(c).toMatchObject({ displayName: "新名字", gender: "FEMALE", city: "杭州市" });
  });

  it("merges two customers when one event's identifiers point to both, and unmerge restores both exactly", async () => {
    await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [
      upsert("a", 1, [{ type: "pos_member", value: "M1" }], { displayName: "李娜", phone: phoneOf(1), tags: ["门店"] }),
      upsert("b", 2, [{ type: "email", value: "li.na@shop.example.cn" }], { displayName: "Lina", tags: ["小程序"], attributes: { 来源: "小程序" } }),
    ]);
    const before = await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys);
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(2);
    const r = await env.app.ingestion.ingest(env.ctx, { channel: "youzan", connectionId: null }, [
      upsert("link", 3, [{ type: "phone", value: phoneOf(1) }, { type: "email", value: "li.na@shop.example.cn" }], { tags: ["有赞"] }),
    ]);
    expect(r[0].status).toBe("accepted");
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(1);
    const merged = await env.app.customers.findByIdentity(env.ctx, "email", "li.na@shop.example.cn");
    expect(merged!.tags.sort()).toEqual(["小程序", "有赞", "门店"].sort());
    expect(merged!.displayName).toBe("Lina"); // the newer name wins
    const [merge] = await env.app.db.dataSource.query(`SELECT id, target_id, reason, channel, external_id FROM customer_merges`);
    expect(merge).toMatchObject({ reason: "identity", channel: "youzan", external_id: "link" });
    const [{ pos }] = await env.app.db.dataSource.query(`SELECT count(*)::int AS pos FROM customer_identities WHERE customer_id = $1 AND type = 'pos_member'`, [merge.target_id]);
    expect(pos).toBe(1); // the survivor is the store member, first seen at minute 1

    // Unmerge restores both customers as they were before the merge, but keeps what the linking event added.
    const undone = await inTransaction(env.ctx, (tx) => env.app.customers.merges.unmerge(tx, merge.id));
    expect(undone.ok).toBe(true);
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(2);
    const after: any = await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys);
    // The linking event's own effects stay on the target: its tag, and its time as the target's last sighting (minute 3).
    // The source is exactly as it was, last sighting (minute 2) included.
    const expected = (before as any).customers.map((c: any) =>
      c.identities.some((i: string) => i.startsWith("pos_member:")) ? { ...c, tags: [...c.tags, "有赞"].sort(), last_seen_at: at(3) } : c,
    );
    const jsSorted = (cs: any[]) => cs.map((c) => ({ ...c, tags: [...c.tags].sort() }));
    expect(jsSorted(after.customers)).toEqual(jsSorted(expected));
    expect(expected.map((c: any) => c.last_seen_at).sort()).toEqual([at(2), at(3)]);
  });

  it("merges into the customer first seen on a channel when one batch created them all, whatever their ids", async () => {
    // Rows one batch creates share their creation time; only the time each was first seen tells them apart. Eight
    // pairs in one batch: picking by random id would keep the right survivor for all eight once in 256 runs.
    const pairs = Array.from({ length: 8 }, (_, i) => i);
    const r = await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [
      ...pairs.map((i) => upsert(`first-${i}`, 1, [{ type: "phone", value: phoneOf(100 + i) }], { displayName: `先-${i}` })),
      ...pairs.map((i) => upsert(`second-${i}`, 2, [{ type: "pos_member", value: `M-${i}` }], { displayName: `后-${i}` })),
      ...pairs.map((i) => upsert(`link-${i}`, 3, [{ type: "phone", value: phoneOf(100 + i) }, { type: "pos_member", value: `M-${i}` }])),
    ]);
    expect(r.every((x) => x.status === "accepted")).toBe(true);
    const merges = await env.app.db.dataSource.query(
      `SELECT m.external_id, m.snapshot,
              (SELECT value FROM customer_identities i WHERE i.customer_id = m.target_id AND i.type = 'phone') AS target_phone
         FROM customer_merges m ORDER BY m.external_id`,
    );
    // The snapshot is kept encrypted (it is the merged-away person's profile).
    expect(merges.every((m: { snapshot: unknown }) => typeof m.snapshot === "string" && (m.snapshot as string).startsWith("p1:"))).toBe(true);
    const open = (m: { external_id: string; snapshot: string; target_phone: string }) => ({
      external_id: m.external_id,
      source_first_seen: env.app.dataKeys.decryptJson<{ source: { firstSeenAt: string } }>(m.snapshot).source.firstSeenAt,
      target_phone: env.app.dataKeys.decrypt(m.target_phone),
    });
    expect(merges.map(open)).toEqual(
      pairs.map((i) => ({ external_id: `link-${i}`, source_first_seen: at(2), target_phone: phoneOf(100 + i) })),
    );
  });

  it("gives another tenant its own customer for an identity this tenant holds, and leaves this tenant's untouched", async () => {
    const [{ id: otherTenant }] = await env.app.db.dataSource.query(`INSERT INTO tenants (name) VALUES ('other') RETURNING id`);
    const other = { ...env.ctx, principal: { ...env.ctx.principal, tenantId: otherTenant } } as typeof env.ctx;
    const shared = [{ type: "phone", value: phoneOf(7) }, { type: "wechat_unionid", value: "oUnionShared" }];
    await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [upsert("mine", 1, shared, { displayName: "甲方", tags: ["甲"] })]);
    const before = await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys);
    const r = await env.app.ingestion.ingest(other, { channel: "pos", connectionId: null }, [
      upsert("theirs", 2, shared, { displayName: "乙方", tags: ["乙"] }),
      upsert("theirs-2", 3, [{ type: "phone", value: phoneOf(7) }], { region: { city: "杭州" } }),
    ]);
    expect(r.map((x) => x.status)).toEqual(["accepted", "accepted"]);
    expect(await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys)).toEqual(before);
    const rows = await env.app.db.dataSource.query(
      `SELECT c.tenant_id, c.display_name, c.city, c.tags, (SELECT count(*)::int FROM customer_identities i WHERE i.customer_id = c.id AND i.tenant_id = c.tenant_id) AS identities
         FROM customers c ORDER BY c.display_name`,
    );
    expect(rows).toEqual([
      { tenant_id: otherTenant, display_name: "乙方", city: "杭州", tags: ["乙"], identities: 2 },
      { tenant_id: env.tenantId, display_name: "甲方", city: null, tags: ["甲"], identities: 2 },
    ]);
    expect(await count(`SELECT count(*) n FROM customer_merges`)).toBe(0);
  });

  it("does not merge customers whose union would hold two unionids, and records an identity conflict", async () => {
    await env.app.ingestion.ingest(env.ctx, { channel: "wechat", connectionId: null }, [
      upsert("u1", 1, [{ type: "wechat_unionid", value: "oUnion111" }, { type: "phone", value: phoneOf(2) }]),
      upsert("u2", 2, [{ type: "wechat_unionid", value: "oUnion222" }]),
      upsert("u3", 3, [{ type: "wechat_unionid", value: "oUnion222" }, { type: "phone", value: phoneOf(2) }]),
    ]);
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(2);
    expect(await count(`SELECT count(*) n FROM customer_merges`)).toBe(0);
    expect(await count(`SELECT count(*) n FROM identity_conflicts WHERE external_id = 'u3'`)).toBe(1);
  });

  it("never matches anyone on a blocked value: a shared service number or a placeholder e-mail", async () => {
    const r = await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [
      upsert("p1", 1, [{ type: "pos_member", value: "M1" }, { type: "phone", value: "138 0013 8000" }], { email: "test@test.com" }),
      upsert("p2", 2, [{ type: "pos_member", value: "M2" }, { type: "phone", value: "13800138000" }], { email: "TEST@test.com" }),
    ]);
    expect(r.map((x) => x.status)).toEqual(["accepted", "accepted"]);
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(2);
    expect(await count(`SELECT count(*) n FROM customer_identities WHERE type IN ('phone', 'email')`)).toBe(0);
    expect(await count(`SELECT count(*) n FROM customers WHERE phone IS NOT NULL OR email IS NOT NULL`)).toBe(0);
  });

  it("rejects an event whose identity value is invalid for its type, with the identity named", async () => {
    const r = await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [upsert("bad", 1, [{ type: "phone", value: "11111111111" }])]);
    expect(r[0]).toMatchObject({ status: "rejected", reason: expect.stringMatching(/^identities\.0\.value/) });
  });

  it("creates exactly one customer when two connections ingest the same new customer at once", async () => {
    const phone = [{ type: "phone", value: phoneOf(99) }];
    const runs = await Promise.all([
      env.app.ingestion.ingest(env.ctx, { channel: "youzan", connectionId: null }, [upsert("y1", 1, [...phone, { type: "youzan_buyer", value: "Y1" }], { displayName: "赵敏" })]),
      env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [upsert("p1", 2, [...phone, { type: "pos_member", value: "P1" }], { tags: ["门店"] })]),
      env.app.ingestion.ingest(env.ctx, { channel: "taobao", connectionId: null }, [upsert("t1", 3, [...phone, { type: "taobao_buyer", value: "AAG1" }])]),
    ]);
    expect(runs.flat().map((r) => r.status)).toEqual(["accepted", "accepted", "accepted"]);
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(1);
    expect(await count(`SELECT count(*) n FROM customer_identities`)).toBe(4);
  });

  it("answers a replayed batch as duplicates without rewriting a single row or announcing anything", async () => {
    const events = syntheticEvents(300, 5);
    await ingestAll(env.app, env.ctx, events, 300);
    // Every row's xmin is the transaction that last wrote it: a replay that touched a row, even to write the same
    // values, would change it. Outbox rows are counted: a replay must announce nothing.
    const versions = async () => {
      const out: Record<string, string[]> = {};
      for (const table of ["customers", "customer_identities", "orders", "order_refunds", "customer_stats", "ingested_events"]) {
        const rows: { v: string }[] = await env.app.db.dataSource.query(`SELECT xmin::text || ':' || ctid::text AS v FROM ${table} ORDER BY 1`);
        out[table] = rows.map((r) => r.v);
      }
      return out;
    };
    const before = await versions();
    const outbox = await count(`SELECT count(*) n FROM outbox`);
    expect(before.customers.length).toBeGreaterThan(0);
    expect(before.orders.length).toBeGreaterThan(0);
    const replay = await ingestAll(env.app, env.ctx, events, 300);
    expect(new Set(replay.map((r) => r.status))).toEqual(new Set(["duplicate"]));
    expect(await versions()).toEqual(before);
    expect(await count(`SELECT count(*) n FROM outbox`)).toBe(outbox);
  });

  it("applies each event once when the same batch is sent twice at the same time (a retry racing the first try)", async () => {
    const events = syntheticEvents(300, 5);
    const reference = await appWithTenant();
    try {
      await ingestAll(reference.app, reference.ctx, events, 300);
      const expected = await snapshot(reference.app.db.dataSource, reference.tenantId, reference.app.dataKeys);
      const source = { channel: "http-json", connectionId: null };
      // Overlapping halves as well as the whole batch, so claims collide part-way through a batch.
      const runs = await Promise.all([
        env.app.ingestion.ingest(env.ctx, source, events),
        env.app.ingestion.ingest(env.ctx, source, events.slice(100)),
        env.app.ingestion.ingest(env.ctx, source, events.slice(0, 200)),
      ]);
      const accepted = new Map<string, number>();
      for (const r of runs.flat()) if (r.status === "accepted") accepted.set(r.externalId, (accepted.get(r.externalId) ?? 0) + 1);
      expect(runs.flat().filter((r) => r.status === "rejected")).toEqual([]);
      expect([...accepted.values()].every((n) => n === 1)).toBe(true);
      expect(accepted.size).toBe(new Set(events.map((e) => (e as { externalId: string }).externalId)).size);
      expect(await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys)).toEqual(expected);
    } finally {
      await reference.close();
    }
  });

  it("ingests many large batches at once without running out of lock memory", async () => {
    // One advisory lock per identity ran PostgreSQL's shared lock table (max_locks_per_transaction ×
    // max_connections, 6,400 by default) out with four such batches: "out of shared memory".
    const batch = (k: number) =>
      Array.from({ length: 1000 }, (_, i) => ({
        type: "order.paid",
        externalId: `b${k}-${i}`,
        occurredAt: at(i),
        identities: [{ type: "pos_member", value: `M${k}-${i}` }, { type: "external", value: `X${k}-${i}` }],
        payload: { orderId: `O${k}-${i}`, currency: "CNY", total: 100 },
      }));
    const runs = await Promise.all(Array.from({ length: 8 }, (_, k) => env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, batch(k))));
    expect(runs.flat().every((r) => r.status === "accepted")).toBe(true);
    expect(await count(`SELECT count(*) n FROM customers`)).toBe(8000);
    expect(await count(`SELECT sum(orders_count) n FROM customer_stats`)).toBe(8000);
  });

  it("replaying the same 1,000 events twice leaves identical state", async () => {
    const events = syntheticEvents(1000, 7);
    const first = await ingestAll(env.app, env.ctx, events);
    expect(first.filter((r) => r.status === "rejected")).toEqual([]);
    const state = await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys);
    const second = await ingestAll(env.app, env.ctx, events);
    expect(second.every((r) => r.status === "duplicate")).toBe(true);
    expect(await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys)).toEqual(state);
  });

  it.each([3, 29])("reaches the same state when the same events arrive shuffled (seed %i)", async (seed) => {
    const events = syntheticEvents(600, 11 + seed);
    await ingestAll(env.app, env.ctx, events, 100);
    const inOrder = await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys);
    const other = await appWithTenant();
    try {
      await ingestAll(other.app, other.ctx, shuffle(events, seed), 70);
      expect(await snapshot(other.app.db.dataSource, other.tenantId, other.app.dataKeys)).toEqual(inOrder);
    } finally {
      await other.close();
    }
  });
});

describe("manual merge", () => {
  it("merge then unmerge leaves both customers, their identities and events exactly as before", async () => {
    await env.app.ingestion.ingest(env.ctx, { channel: "pos", connectionId: null }, [
      upsert("a", 1, [{ type: "pos_member", value: "M1" }], { displayName: "周杰", phone: phoneOf(3), tags: ["门店"], attributes: { 等级: "VIP1" } }),
      upsert("b", 5, [{ type: "wechat_openid", value: "o6_abc" }], { displayName: "Jay", gender: "MALE", tags: ["小程序"], attributes: { 来源: "小程序" } }),
    ]);
    const a = (await env.app.customers.findByIdentity(env.ctx, "pos_member", "M1"))!;
    const b = (await env.app.customers.findByIdentity(env.ctx, "wechat_openid", "o6_abc"))!;
    const before = await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys);
    // Every column as stored, the encrypted ones by what they say (a rewrite encrypts afresh, with a new IV).
    const raw = async () =>
      (await env.app.db.dataSource.query(`SELECT * FROM customers ORDER BY id`)).map((r: Record<string, string | null>) => ({
        ...r,
        phone: env.app.dataKeys.decryptOrNull(r.phone),
        email: env.app.dataKeys.decryptOrNull(r.email),
        birthday: env.app.dataKeys.decryptOrNull(r.birthday),
      }));
    const rawBefore = await raw();
    const merged = await inTransaction(env.ctx, (tx) => env.app.customers.merges.merge(tx, a.id, b.id, { reason: "manual" }, { wechat_unionid: 1 }));
    expect(merged.ok).toBe(true);
    const m = (merged as any).value;
    const target = (await env.app.customers.findByIdentity(env.ctx, "wechat_openid", "o6_abc"))!;
    expect(target.id).toBe(a.id);
    expect(target).toMatchObject({ displayName: "Jay", gender: "MALE", attributes: { 等级: "VIP1", 来源: "小程序" } });
    expect(await count(`SELECT count(*) n FROM ingested_events WHERE customer_id = $1`, [a.id])).toBe(2);
    const undone = await inTransaction(env.ctx, (tx) => env.app.customers.merges.unmerge(tx, m.id));
    expect(undone.ok).toBe(true);
    expect(await snapshot(env.app.db.dataSource, env.tenantId, env.app.dataKeys)).toEqual(before);
    expect(await raw()).toEqual(rawBefore);
    expect(await count(`SELECT count(*) n FROM ingested_events WHERE customer_id = $1`, [b.id])).toBe(1);
    const again = await inTransaction(env.ctx, (tx) => env.app.customers.merges.unmerge(tx, m.id));
    expect(again.ok).toBe(false);
  });
});
