import pg from "pg";

/**
 * The segments bench's data, written straight into the app's tables by set-based SQL (no `pg-copy-streams`
 * here, and `INSERT … SELECT FROM generate_series` is as fast as COPY when the rows are made in the server):
 * `customers` customers of one tenant, `orders` paid CNY orders over the last two years, and
 * `customer_stats` computed from them as the orders module counts orders. Deterministic: every value is a
 * hash of the row number and `seed`, and every time is relative to `now` (the bench's clock).
 *
 * What makes it interesting for segments and RFM: orders are skewed (a few customers have dozens, 15 %
 * none), 10 % of customers are tagged "vip", 2 % of orders are fully and 1 % partly refunded, provinces are
 * skewed towards the first ones of PROVINCES.
 */
export const PROVINCES = ["浙江", "广东", "江苏", "上海", "北京", "四川", "山东", "湖北", "福建", "河南"];
const CITIES = ["杭州", "广州", "南京", "上海", "北京", "成都", "济南", "武汉", "福州", "郑州"];
const CATEGORIES = ["服装", "鞋履", "美妆", "食品", "家居", "数码"];

/** The share of customers (the last ones by number) who never order. */
export const PROSPECT_SHARE = 0.15;

/** Indexes the load drops and builds again afterwards (a bulk load's usual order; constraints stay). */
const LOADED_TABLES = ["customers", "orders"];

export interface FixtureTimes {
  rowsMs: number;
  indexesMs: number;
  statsMs: number;
  analyzeMs: number;
}

/**
 * Customer number k's id, the same in every statement: md5 of the seed and k as a uuid. Orders name their
 * customer by it without a join.
 */
const customerId = (k: string) => `md5($4::text || ':c:' || (${k})::text)::uuid`;

/**
 * Uniform in [0, 1) from a row number and a salt (one per column), seeded: `hashint8` is PostgreSQL's own
 * stable hash, so the data is the same on every run and every server.
 */
const rnd = (row: string, salt: number) => `((hashint8(($4::bigint * 1000003 + ${salt}) * 100000007 + (${row})) & 2147483647)::float8 / 2147483648.0)`;

export async function loadFixture(url: string, tenantId: string, customers: number, orders: number, seed: number, now: Date): Promise<FixtureTimes> {
  const times: FixtureTimes = { rowsMs: 0, indexesMs: 0, statsMs: 0, analyzeMs: 0 };
  const connect = async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`SET maintenance_work_mem = '512MB'`);
    // A superuser's bulk load skips the foreign-key triggers (every id is made to exist); others check them.
    await c.query(`SET session_replication_role = replica`).catch(() => undefined);
    return c;
  };
  const a = await connect();
  const b = await connect();
  try {
    const { rows: indexes } = await a.query<{ name: string; def: string }>(
      `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)`,
      [LOADED_TABLES],
    );
    for (const i of indexes) await a.query(`DROP INDEX ${i.name}`);

    let t = performance.now();
    // Customers and orders on two connections at once: orders name customers by their computed ids.
    await Promise.all([
      a.query(
        `INSERT INTO customers (id, tenant_id, display_name, gender, country, province, city, tags, attributes, created_at, updated_at, first_seen_at, last_seen_at)
         SELECT ${customerId("k")}, $1, '顾客' || k,
                CASE WHEN ${rnd("k", 1)} < 0.45 THEN 'MALE' WHEN ${rnd("k", 1)} < 0.9 THEN 'FEMALE' ELSE 'UNKNOWN' END,
                'CN', ($3::text[])[p], ($6::text[])[p],
                CASE WHEN ${rnd("k", 3)} < 0.10 THEN ARRAY['vip', '会员'] WHEN ${rnd("k", 3)} < 0.5 THEN ARRAY['会员'] ELSE ARRAY[]::text[] END,
                jsonb_build_object('level', floor(${rnd("k", 4)} * 5)::int),
                at, at, at, at
           FROM (SELECT k, 1 + floor(power(${rnd("k", 2)}, 1.3) * 10)::int AS p,
                        date_trunc('milliseconds', $5::timestamptz - ${rnd("k", 5)} * interval '1095 days') AS at
                   FROM generate_series(1, $2::int) AS k) x`,
        [tenantId, customers, PROVINCES, seed, now, CITIES],
      ),
      b.query(
        `INSERT INTO orders (id, tenant_id, channel, external_order_id, customer_id, store_id, currency, subtotal, discount, shipping, total, refunded, items,
                             placed_at, paid_at, created_at, updated_at)
         SELECT md5($4::text || ':o:' || j::text)::uuid, $1, (ARRAY['youzan', 'taobao', 'pos'])[1 + floor(${rnd("j", 11)} * 3)::int], 'O' || j,
                ${customerId("k")}, 'S' || lpad(floor(${rnd("j", 12)} * 50)::int::text, 2, '0'), 'CNY', total, 0, 0, total,
                CASE WHEN ${rnd("j", 13)} < 0.02 THEN total WHEN ${rnd("j", 13)} < 0.03 THEN total / 2 ELSE 0 END,
                jsonb_build_array(jsonb_build_object('sku', 'SKU-' || lpad(floor(${rnd("j", 14)} * 2000)::int::text, 4, '0'),
                                                     'category', ($6::text[])[1 + floor(${rnd("j", 15)} * 6)::int], 'quantity', 1, 'unitPrice', total)),
                at, at + interval '1 minute', at, at + interval '1 minute'
           FROM (SELECT j, 1 + floor(${1 - PROSPECT_SHARE} * $2::int * power(${rnd("j", 10)}, 1.6))::bigint AS k,
                        1000 + floor(power(${rnd("j", 16)}, 2) * 99000)::bigint AS total,
                        date_trunc('milliseconds', $5::timestamptz - ${rnd("j", 17)} * interval '730 days') AS at
                   FROM generate_series(1, $3::int) AS j) x`,
        [tenantId, customers, orders, seed, now, CATEGORIES],
      ),
    ]);
    times.rowsMs = performance.now() - t;

    t = performance.now();
    // Two at a time: the orders indexes are the big ones, customers' trigram index the slowest per row.
    const queue = [...indexes];
    await Promise.all(
      [a, b].map(async (c) => {
        for (let i = queue.shift(); i; i = queue.shift()) await c.query(i.def);
      }),
    );
    times.indexesMs = performance.now() - t;

    // customer_stats as the orders module's REFRESH_STATS_SQL computes it: orders in the tenant currency,
    // paid or completed, not fully refunded; the sum capped at MAX_SAFE_INTEGER.
    t = performance.now();
    await a.query(
      `INSERT INTO customer_stats (customer_id, tenant_id, orders_count, total_spent, first_order_at, last_order_at, currency)
       SELECT o.customer_id, $1, count(*)::int, least(sum(o.total - o.refunded), ${Number.MAX_SAFE_INTEGER}),
              min(coalesce(o.placed_at, o.paid_at, o.completed_at)), max(coalesce(o.placed_at, o.paid_at, o.completed_at)), t.currency
         FROM orders o JOIN (SELECT coalesce(settings->>'currency', 'CNY') AS currency FROM tenants WHERE id = $1) t ON o.currency = t.currency
        WHERE o.tenant_id = $1 AND o.customer_id IS NOT NULL AND (o.paid_at IS NOT NULL OR o.completed_at IS NOT NULL) AND o.refunded < o.total
        GROUP BY o.customer_id, t.currency
        ORDER BY o.customer_id`,
      [tenantId],
    );
    times.statsMs = performance.now() - t;

    t = performance.now();
    await a.query(`ANALYZE`); // autovacuum is off on this server: as it would after a bulk load
    times.analyzeMs = performance.now() - t;
    return times;
  } finally {
    await a.end();
    await b.end();
  }
}
