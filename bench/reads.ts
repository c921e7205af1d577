import http from "node:http";
import pg from "pg";
import type { Ctx } from "../src/core/context";
import type { startServer } from "../src/server";
import { benchServer, positiveInt, redact } from "./database";
import type { DataKeyring } from "../src/core/data-keys";
import { graphqlJsAlone, profileShares } from "./reads-ceiling";

/**
 * The customer-360 list page (issue 10) over HTTP, beside a hand-written server measured in the same
 * run on the same database: node:http + pg answering the same JSON with 3 statements.
 *
 *   BENCH_CUSTOMERS (5000)  BENCH_SECONDS (5 per server)  BENCH_CLIENTS (10)  DATABASE_URL (the local server)
 *
 * Both servers and the clients share this process (and its CPU): the ratio compares like with like,
 * the absolute figures are lower than with clients elsewhere. Prints requests/s, p50/p99 and, for
 * ours, statements per request at first 5/50/250; the last line is one JSON object.
 */
const PAGE = (n: number) =>
  `{ customers(first: ${n}) { edges { node { id displayName phone tags identities { type value } stats { ordersCount totalSpent lastOrderAt } orders(first: 5) { nodes { id total status items { sku quantity } } } } } } }`;

export async function readsBench(): Promise<number> {
  const customers = positiveInt("BENCH_CUSTOMERS", 5_000);
  const seconds = positiveInt("BENCH_SECONDS", 5);
  const clients = positiveInt("BENCH_CLIENTS", 10);
  const bench = await benchServer("crm_reads");
  const { server, adminKey } = bench;
  const pool = new pg.Pool({ connectionString: bench.url, max: 10 });
  let baseline: http.Server | null = null;
  let ceiling: http.Server | null = null;
  try {
    const [tenant] = await server.app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
    const t0 = performance.now();
    const orders = await seed(server.app, tenant.id, customers);
    await server.app.db.dataSource.query(`ANALYZE`); // as autovacuum would after a bulk load
    console.log(`data: ${customers} customers, ${orders} orders in ${redact(bench.url)}, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s (not timed)`);

    baseline = await handWritten(pool, tenant.id, server.app.dataKeys);
    const baseUrl = `http://127.0.0.1:${(baseline.address() as { port: number }).port}/`;
    const ours = (n: number) => () => post(`${server.url}/graphql`, { query: PAGE(n) }, adminKey);
    const theirs = () => post(baseUrl, {}, null);

    // Same answer from both (ids aside, which the baseline spells as global ids too).
    const a = JSON.parse(await ours(50)());
    const b = JSON.parse(await theirs());
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      console.error("sanity: the two servers answer differently", JSON.stringify(a).slice(0, 400), JSON.stringify(b).slice(0, 400));
      return 1;
    }
    // The ceiling: graphql-js executing the same page from memory (reads-ceiling.ts), checked to answer the same.
    ceiling = await graphqlJsAlone(PAGE(50), a.data);
    const ceilingUrl = `http://127.0.0.1:${(ceiling.address() as { port: number }).port}/`;
    const alone = () => post(ceilingUrl, {}, null);
    if ((await alone()) !== JSON.stringify(a)) {
      console.error("sanity: graphql-js alone answers differently", (await alone()).slice(0, 400));
      return 1;
    }
    const statements: Record<number, number> = {};
    for (const n of [5, 50, 250]) {
      const before = server.app.db.sql.statements;
      await ours(n)();
      statements[n] = server.app.db.sql.statements - before;
    }
    const base = await load(theirs, clients, seconds);
    const mine = await load(ours(50), clients, seconds);
    const floor = await load(alone, clients, seconds);
    const ratio = mine.perSecond / base.perSecond;
    const ceilingRatio = floor.perSecond / base.perSecond;
    const shares = await profileShares(() => load(ours(50), clients, Math.min(seconds, 3)));
    console.log(`hand-written (3 statements): ${base.perSecond.toFixed(0)} requests/s, p50 ${base.p50.toFixed(1)} ms, p99 ${base.p99.toFixed(1)} ms`);
    console.log(`ours (GraphQL): ${mine.perSecond.toFixed(0)} requests/s, p50 ${mine.p50.toFixed(1)} ms, p99 ${mine.p99.toFixed(1)} ms; ratio ${ratio.toFixed(3)} (target ≥ 0.5)`);
    console.log(`graphql-js alone (no database, default resolvers): ${floor.perSecond.toFixed(0)} requests/s, p50 ${floor.p50.toFixed(1)} ms, p99 ${floor.p99.toFixed(1)} ms; ratio ${ceilingRatio.toFixed(3)} — the ceiling of any graphql-js server on this page`);
    console.log(`statements per request: first 5 → ${statements[5]}, 50 → ${statements[50]}, 250 → ${statements[250]} (auth included)`);
    console.log(`where ours spends its CPU under load (self time; clients and baselines share the process):`);
    for (const s of shares.filter((x) => x.share >= 0.01)) console.log(`  ${(s.share * 100).toFixed(1).padStart(5)} %  ${s.what}`);
    console.log(JSON.stringify({ scenario: "reads", customers, orders, clients, seconds, requestsPerSecond: Math.round(mine.perSecond), p99Ms: round(mine.p99), baselineRequestsPerSecond: Math.round(base.perSecond), baselineP99Ms: round(base.p99), ratio: round(ratio, 3), ceilingRequestsPerSecond: Math.round(floor.perSecond), ceilingRatio: round(ceilingRatio, 3), statements }));
    return 0;
  } finally {
    baseline?.close();
    ceiling?.close();
    await pool.end();
    await bench.close();
  }
}

/** Customers with 1–6 paid orders each (3.5 on average), through the real pipeline. */
async function seed(app: Awaited<ReturnType<typeof startServer>>["app"], tenantId: string, customers: number): Promise<number> {
  const ctx: Ctx = { requestId: "bench", principal: { kind: "system", tenantId, actor: "bench" }, app, log: app.log };
  const events: unknown[] = [];
  let orders = 0;
  for (let c = 0; c < customers; c++) {
    const phone = `+86139${String(10_000_000 + c).slice(-8)}`;
    const identities = [{ type: "phone", value: phone }];
    const at = (m: number) => new Date(Date.UTC(2026, 0, 1) + c * 60_000 + m * 1000).toISOString();
    events.push({ type: "customer.upserted", externalId: `c${c}`, occurredAt: at(0), identities, payload: { displayName: `顾客${c}`, tags: c % 3 ? ["会员"] : ["新客", "会员"] } });
    for (let o = 0; o < 1 + (c % 6); o++, orders++) {
      events.push({
        type: "order.paid",
        externalId: `o${c}-${o}`,
        occurredAt: at(o + 1),
        identities,
        payload: { orderId: `O${c}-${o}`, currency: "CNY", total: 1_000 + o * 250, items: [{ sku: `SKU-${o}`, quantity: 1 + (o % 3), unitPrice: 500 }] },
      });
    }
  }
  for (let i = 0; i < events.length; i += 1_000) await app.ingestion.ingest(ctx, { channel: "bench", connectionId: null }, events.slice(i, i + 1_000));
  return orders;
}

/** The hand-written server: the same page as plain JSON, from 3 statements, decrypting what is stored encrypted as ours does. */
function handWritten(pool: pg.Pool, tenantId: string, keys: DataKeyring): Promise<http.Server> {
  const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64url");
  const s = http.createServer((req, res) => {
    req.resume();
    req.on("end", async () => {
      try {
        const { rows: cs } = await pool.query(
          `SELECT c.id, c.display_name, c.phone, c.tags, s.orders_count, s.total_spent, s.last_order_at
             FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id
            WHERE c.tenant_id = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT 50`,
          [tenantId],
        );
        const ids = cs.map((c) => c.id);
        const [{ rows: idn }, { rows: os }] = await Promise.all([
          pool.query(`SELECT customer_id, type, value FROM customer_identities WHERE tenant_id = $1 AND customer_id = ANY($2) ORDER BY first_seen_at, id`, [tenantId, ids]),
          pool.query(
            `SELECT o.customer_id, o.id, o.total, o.status, o.items FROM unnest($2::uuid[]) AS c(id)
               CROSS JOIN LATERAL (SELECT * FROM orders o WHERE o.tenant_id = $1 AND o.customer_id = c.id
                                    ORDER BY coalesce(o.placed_at, o.created_at) DESC, o.id DESC LIMIT 5) o`,
            [tenantId, ids],
          ),
        ]);
        const body = {
          data: {
            customers: {
              edges: cs.map((c) => ({
                node: {
                  id: gid("Customer", c.id),
                  displayName: c.display_name,
                  phone: keys.decryptOrNull(c.phone),
                  tags: c.tags,
                  identities: idn.filter((i) => i.customer_id === c.id).map((i) => ({ type: String(i.type).toUpperCase(), value: keys.decrypt(i.value) })),
                  stats: { ordersCount: c.orders_count ?? 0, totalSpent: Number(c.total_spent ?? 0), lastOrderAt: c.last_order_at ? new Date(c.last_order_at).toISOString() : null },
                  orders: {
                    nodes: os
                      .filter((o) => o.customer_id === c.id)
                      .map((o) => ({ id: gid("Order", o.id), total: Number(o.total), status: o.status, items: (o.items ?? []).map((i: { sku: string; quantity: string | number }) => ({ sku: i.sku, quantity: String(i.quantity) })) })),
                  },
                },
              })),
            },
          },
        };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  s.keepAliveTimeout = 120_000; // idle while ours is measured: no keep-alive close racing the next request
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, body: object, key: string | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...(key ? { authorization: `Bearer ${key}` } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`))));
    });
    req.on("error", reject);
    req.end(data);
  });
}

/** `clients` loops sending one request after another for `seconds` (after a 1 s warm-up). */
async function load(send: () => Promise<string>, clients: number, seconds: number): Promise<{ perSecond: number; p50: number; p99: number }> {
  const warm = Date.now() + 1_000;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (Date.now() < warm) await send();
  }));
  const times: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await send();
        times.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  times.sort((x, y) => x - y);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { perSecond: times.length / elapsed, p50: at(0.5), p99: at(0.99) };
}

function round(v: number, digits = 1): number {
  return Math.round(v * 10 ** digits) / 10 ** digits;
}
