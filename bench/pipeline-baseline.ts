import { randomUUID } from "node:crypto";
import pg from "pg";
import { normalizePhone } from "../src/modules/customers";
import type { NormalizedEventInput } from "../src/plugins/events";
import type { GeneratedEvents } from "./ingest-events";

/**
 * The pipeline baseline of the ingest bench (issue 9): a minimal hand-written, set-based pipeline in
 * raw SQL over `pg` that writes the same facts per batch as ours — idempotency claim with the payload,
 * customers, identities, last seen, the claim's customer, orders with lines, refunds, stats, outbox
 * rows (customer.created, order.created / paid / refunded, customer.stats_changed) — with the indexes
 * the API needs on those facts, one transaction and one statement per step per batch. What it leaves
 * out is what a minimal pipeline can: schema validation, blocked values, merges and conflicts, field
 * stamps, settings, advisory locks (one writer), hooks. It is written for the bench's generator (one
 * channel, every event valid, no merges) and checks that it holds what the events imply.
 */

const SCHEMA = "bench_pipe";
const TENANT = "00000000-0000-0000-0000-000000000001";
const CHANNEL = "http-json";

const DDL = [
  `CREATE SCHEMA ${SCHEMA}`,
  `CREATE TABLE ${SCHEMA}.claims (tenant_id uuid NOT NULL, channel text NOT NULL, external_id text NOT NULL, type text NOT NULL,
     occurred_at timestamptz NOT NULL, payload jsonb NOT NULL, customer_id uuid, PRIMARY KEY (tenant_id, channel, external_id))`,
  `CREATE INDEX ON ${SCHEMA}.claims (tenant_id, type, occurred_at)`,
  `CREATE TABLE ${SCHEMA}.customers (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, display_name text, phone text, gender text, birthday date,
     country text, province text, city text, tags text[] NOT NULL DEFAULT '{}', attributes jsonb NOT NULL DEFAULT '{}',
     created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, first_seen_at timestamptz NOT NULL, last_seen_at timestamptz NOT NULL)`,
  `CREATE INDEX ON ${SCHEMA}.customers (tenant_id, created_at, id)`,
  `CREATE INDEX ON ${SCHEMA}.customers (tenant_id, updated_at, id)`,
  `CREATE INDEX ON ${SCHEMA}.customers (tenant_id, last_seen_at, id)`,
  `CREATE INDEX ON ${SCHEMA}.customers (tenant_id, display_name, id)`,
  `CREATE INDEX ON ${SCHEMA}.customers USING gin (tags)`,
  `CREATE INDEX ON ${SCHEMA}.customers USING gin (display_name gin_trgm_ops)`,
  `CREATE INDEX ON ${SCHEMA}.customers USING gin (phone gin_trgm_ops)`,
  `CREATE TABLE ${SCHEMA}.identities (tenant_id uuid NOT NULL, type text NOT NULL, value text NOT NULL, customer_id uuid NOT NULL,
     first_seen_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, type, value))`,
  `CREATE INDEX ON ${SCHEMA}.identities (tenant_id, customer_id)`,
  `CREATE TABLE ${SCHEMA}.orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, channel text NOT NULL, order_id text NOT NULL,
     customer_id uuid, currency text, total bigint NOT NULL, subtotal bigint, discount bigint, store_id text, items jsonb NOT NULL,
     placed_at timestamptz, paid_at timestamptz, refunded bigint NOT NULL DEFAULT 0, UNIQUE (tenant_id, channel, order_id))`,
  `CREATE INDEX ON ${SCHEMA}.orders (tenant_id, placed_at, id)`,
  `CREATE INDEX ON ${SCHEMA}.orders (customer_id, placed_at, id)`,
  `CREATE TABLE ${SCHEMA}.refunds (tenant_id uuid NOT NULL, channel text NOT NULL, order_id text NOT NULL, refund_id text NOT NULL, amount bigint NOT NULL,
     PRIMARY KEY (tenant_id, channel, order_id, refund_id))`,
  `CREATE TABLE ${SCHEMA}.stats (customer_id uuid PRIMARY KEY, tenant_id uuid NOT NULL, orders_count int NOT NULL, total_spent bigint NOT NULL,
     first_order_at timestamptz, last_order_at timestamptz)`,
  `CREATE TABLE ${SCHEMA}.outbox (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, type text NOT NULL, payload jsonb NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(), dispatched_at timestamptz)`,
  `CREATE INDEX ON ${SCHEMA}.outbox (id) WHERE dispatched_at IS NULL`,
];

const ORDERS_SQL = `
WITH incoming AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(order_id text, customer_id uuid, currency text, total bigint, subtotal bigint, discount bigint,
    store_id text, items jsonb, placed_at timestamptz, paid_at timestamptz)
), new_refunds AS (
  INSERT INTO ${SCHEMA}.refunds (tenant_id, channel, order_id, refund_id, amount)
  SELECT $3, $4, r.order_id, r.refund_id, r.amount FROM jsonb_to_recordset($2::jsonb) AS r(order_id text, refund_id text, amount bigint)
  ON CONFLICT DO NOTHING RETURNING order_id, amount
), added AS (SELECT order_id, sum(amount) AS amount FROM new_refunds GROUP BY order_id),
old AS (
  SELECT o.id, o.paid_at, o.refunded FROM ${SCHEMA}.orders o JOIN incoming i ON o.tenant_id = $3 AND o.channel = $4 AND o.order_id = i.order_id
), up AS (
  INSERT INTO ${SCHEMA}.orders AS o (tenant_id, channel, order_id, customer_id, currency, total, subtotal, discount, store_id, items, placed_at, paid_at, refunded)
  SELECT $3, $4, i.order_id, i.customer_id, i.currency, coalesce(i.total, 0), i.subtotal, i.discount, i.store_id, coalesce(i.items, '[]'), i.placed_at, i.paid_at, coalesce(a.amount, 0)
    FROM incoming i LEFT JOIN added a USING (order_id) ORDER BY i.order_id
  ON CONFLICT (tenant_id, channel, order_id) DO UPDATE SET
    currency = coalesce(EXCLUDED.currency, o.currency), total = CASE WHEN EXCLUDED.currency IS NULL THEN o.total ELSE EXCLUDED.total END,
    subtotal = coalesce(EXCLUDED.subtotal, o.subtotal), discount = coalesce(EXCLUDED.discount, o.discount), store_id = coalesce(EXCLUDED.store_id, o.store_id),
    items = CASE WHEN EXCLUDED.items = '[]' THEN o.items ELSE EXCLUDED.items END,
    placed_at = least(o.placed_at, EXCLUDED.placed_at), paid_at = least(o.paid_at, EXCLUDED.paid_at), refunded = o.refunded + EXCLUDED.refunded
  RETURNING o.id, o.customer_id, o.total, o.refunded, o.paid_at
)
SELECT up.id, up.customer_id, old.id IS NULL AS created, old.paid_at IS NULL AND up.paid_at IS NOT NULL AS became_paid,
       up.refunded - coalesce(old.refunded, 0) AS refunded_now
  FROM up LEFT JOIN old USING (id)`;

const STATS_SQL = `
WITH fresh AS (
  SELECT customer_id, count(*)::int AS n, sum(total - refunded) AS spent, min(coalesce(placed_at, paid_at)) AS first_at, max(coalesce(placed_at, paid_at)) AS last_at
    FROM ${SCHEMA}.orders WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND paid_at IS NOT NULL AND refunded < total GROUP BY customer_id
), upserted AS (
  INSERT INTO ${SCHEMA}.stats AS s (customer_id, tenant_id, orders_count, total_spent, first_order_at, last_order_at)
  SELECT customer_id, $1, n, spent, first_at, last_at FROM fresh ORDER BY customer_id
  ON CONFLICT (customer_id) DO UPDATE SET orders_count = EXCLUDED.orders_count, total_spent = EXCLUDED.total_spent,
    first_order_at = EXCLUDED.first_order_at, last_order_at = EXCLUDED.last_order_at
  WHERE (s.orders_count, s.total_spent, s.first_order_at, s.last_order_at) IS DISTINCT FROM (EXCLUDED.orders_count, EXCLUDED.total_spent, EXCLUDED.first_order_at, EXCLUDED.last_order_at)
  RETURNING s.customer_id
), deleted AS (
  DELETE FROM ${SCHEMA}.stats s WHERE s.customer_id = ANY($2::uuid[]) AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.customer_id = s.customer_id) RETURNING s.customer_id
)
SELECT customer_id::text AS id FROM upserted UNION SELECT customer_id::text FROM deleted`;

type Idn = { type: string; value: string };

/** Identities of an event as the pipeline keys them (phones in E.164), the payload phone included. */
function identitiesOf(e: NormalizedEventInput): Idn[] {
  const out: Idn[] = (e.identities ?? []).map((i) => ({ type: i.type, value: i.type === "phone" ? (normalizePhone(i.value, "CN") ?? i.value) : i.value.trim() }));
  if (e.type === "customer.upserted" && e.payload.phone) out.push({ type: "phone", value: normalizePhone(e.payload.phone, "CN")! });
  return out;
}

export async function pipelineBaseline(url: string, events: NormalizedEventInput[], batchSize: number): Promise<{ ms: number; statementsPerBatch: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let statements = 0;
  const q = (text: string, values?: unknown[]) => {
    statements++;
    return client.query(text, values);
  };
  try {
    for (const sql of DDL) await client.query(sql);
    const start = performance.now();
    let batches = 0;
    for (let i = 0; i < events.length; i += batchSize) {
      batches++;
      const batch = events.slice(i, i + batchSize);
      await q("BEGIN");
      // 1. Claim: only events new to (tenant, channel, externalId) go on.
      const seen = new Set<string>();
      const firsts = batch.filter((e) => !seen.has(e.externalId) && seen.add(e.externalId));
      const claimed = await q(
        `INSERT INTO ${SCHEMA}.claims (tenant_id, channel, external_id, type, occurred_at, payload)
         SELECT $1, $2, x.external_id, x.type, x.occurred_at, x.payload FROM jsonb_to_recordset($3::jsonb) AS x(external_id text, type text, occurred_at timestamptz, payload jsonb)
         ON CONFLICT DO NOTHING RETURNING external_id`,
        [TENANT, CHANNEL, JSON.stringify(firsts.map((e) => ({ external_id: e.externalId, type: e.type, occurred_at: e.occurredAt, payload: e })))],
      );
      const mine = new Set(claimed.rows.map((r: { external_id: string }) => r.external_id));
      const todo = firsts.filter((e) => mine.has(e.externalId));
      // 2. Owners of the batch's identities, in one read.
      const idns = todo.flatMap(identitiesOf);
      const owners = new Map<string, string>();
      if (idns.length) {
        const r = await q(
          `SELECT i.type, i.value, i.customer_id FROM ${SCHEMA}.identities i JOIN unnest($2::text[], $3::text[]) AS k(type, value) ON i.type = k.type AND i.value = k.value WHERE i.tenant_id = $1`,
          [TENANT, idns.map((x) => x.type), idns.map((x) => x.value)],
        );
        for (const row of r.rows) owners.set(`${row.type}:${row.value}`, row.customer_id);
      }
      // 3. Resolve: the owner of any identity, else a new customer.
      const profiles: Record<string, unknown>[] = [];
      const seenAt = new Map<string, string>();
      const newIdentities: (Idn & { customer_id: string; at: string })[] = [];
      const claims: { external_id: string; customer_id: string }[] = [];
      const orders = new Map<string, Record<string, unknown>>();
      const refunds: { order_id: string; refund_id: string; amount: number }[] = [];
      const created: string[] = [];
      for (const e of todo) {
        const ids = identitiesOf(e);
        let customer = ids.map((x) => owners.get(`${x.type}:${x.value}`)).find(Boolean);
        if (!customer && e.type === "customer.upserted") {
          customer = randomUUID();
          created.push(customer);
        }
        if (!customer) continue;
        for (const x of ids) {
          if (!owners.has(`${x.type}:${x.value}`)) {
            owners.set(`${x.type}:${x.value}`, customer);
            newIdentities.push({ ...x, customer_id: customer, at: e.occurredAt });
          }
        }
        claims.push({ external_id: e.externalId, customer_id: customer });
        if (e.type === "customer.upserted") {
          const p = e.payload;
          profiles.push({
            id: customer, display_name: p.displayName, phone: normalizePhone(p.phone!, "CN"), gender: p.gender, birthday: p.birthday,
            country: p.region?.country, province: p.region?.province, city: p.region?.city, tags: p.tags ?? [], attributes: p.attributes ?? {}, at: e.occurredAt,
          });
        } else if (seenAt.get(customer)! < e.occurredAt || !seenAt.has(customer)) seenAt.set(customer, e.occurredAt);
        if (e.type === "order.placed" || e.type === "order.paid") {
          const p = e.payload;
          const prev = orders.get(p.orderId);
          orders.set(p.orderId, {
            order_id: p.orderId, customer_id: customer, currency: p.currency, total: p.total, subtotal: p.subtotal, discount: p.discount, store_id: p.storeId, items: p.items ?? [],
            placed_at: e.type === "order.placed" ? e.occurredAt : (prev?.placed_at ?? null), paid_at: e.type === "order.paid" ? e.occurredAt : (prev?.paid_at ?? null),
          });
        } else if (e.type === "order.refunded") {
          refunds.push({ order_id: e.payload.orderId, refund_id: e.payload.refundId, amount: e.payload.amount });
          if (!orders.has(e.payload.orderId)) orders.set(e.payload.orderId, { order_id: e.payload.orderId, customer_id: customer, currency: null, total: null, items: null });
        }
      }
      // 4. Customers: new ones and profile changes in one upsert; sightings move last_seen_at.
      if (profiles.length) {
        await q(
          `INSERT INTO ${SCHEMA}.customers AS c (id, tenant_id, display_name, phone, gender, birthday, country, province, city, tags, attributes, created_at, updated_at, first_seen_at, last_seen_at)
           SELECT x.id, $1, x.display_name, x.phone, x.gender, x.birthday, x.country, x.province, x.city, x.tags, x.attributes, now(), now(), x.at, x.at
             FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, display_name text, phone text, gender text, birthday date, country text, province text, city text, tags text[], attributes jsonb, at timestamptz)
           ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, phone = EXCLUDED.phone, gender = EXCLUDED.gender, birthday = EXCLUDED.birthday,
             country = EXCLUDED.country, province = EXCLUDED.province, city = EXCLUDED.city, tags = EXCLUDED.tags, attributes = EXCLUDED.attributes,
             updated_at = now(), last_seen_at = greatest(c.last_seen_at, EXCLUDED.last_seen_at)`,
          [TENANT, JSON.stringify(profiles)],
        );
      }
      if (newIdentities.length) {
        await q(
          `INSERT INTO ${SCHEMA}.identities (tenant_id, type, value, customer_id, first_seen_at)
           SELECT $1, x.type, x.value, x.customer_id, x.at FROM jsonb_to_recordset($2::jsonb) AS x(type text, value text, customer_id uuid, at timestamptz) ON CONFLICT DO NOTHING`,
          [TENANT, JSON.stringify(newIdentities)],
        );
      }
      if (seenAt.size) {
        await q(
          `UPDATE ${SCHEMA}.customers c SET last_seen_at = greatest(c.last_seen_at, x.at) FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, at timestamptz)
            WHERE c.tenant_id = $1 AND c.id = x.id AND c.last_seen_at < x.at`,
          [TENANT, JSON.stringify([...seenAt].map(([id, at]) => ({ id, at })))],
        );
      }
      // 5. The claims record their customer.
      if (claims.length) {
        await q(
          `UPDATE ${SCHEMA}.claims c SET customer_id = x.customer_id FROM jsonb_to_recordset($3::jsonb) AS x(external_id text, customer_id uuid)
            WHERE c.tenant_id = $1 AND c.channel = $2 AND c.external_id = x.external_id`,
          [TENANT, CHANNEL, JSON.stringify(claims)],
        );
      }
      // 6. Orders and refunds in one statement, then stats of the customers whose orders changed.
      const outbox: { type: string; payload: unknown }[] = created.map((id) => ({ type: "customer.created", payload: { customerId: id } }));
      if (orders.size) {
        const changed = await q(ORDERS_SQL, [JSON.stringify([...orders.values()]), JSON.stringify(refunds), TENANT, CHANNEL]);
        const customers = new Set<string>();
        for (const r of changed.rows) {
          if (r.customer_id) customers.add(r.customer_id);
          if (r.created) outbox.push({ type: "order.created", payload: { orderId: r.id } });
          if (r.became_paid) outbox.push({ type: "order.paid", payload: { orderId: r.id } });
          if (Number(r.refunded_now) > 0) outbox.push({ type: "order.refunded", payload: { orderId: r.id, amount: Number(r.refunded_now) } });
        }
        if (customers.size) {
          const stats = await q(STATS_SQL, [TENANT, [...customers]]);
          for (const r of stats.rows) outbox.push({ type: "customer.stats_changed", payload: { customerId: r.id } });
        }
      }
      // 7. The batch's events, in one insert.
      if (outbox.length) {
        await q(`INSERT INTO ${SCHEMA}.outbox (tenant_id, type, payload) SELECT $1, x.type, x.payload FROM jsonb_to_recordset($2::jsonb) AS x(type text, payload jsonb)`, [
          TENANT,
          JSON.stringify(outbox),
        ]);
      }
      await q("COMMIT");
      // Statistics as the pipeline run gets them (the bench stands in for autovacuum the same way).
      if ((batches & (batches - 1)) === 0 && i + batchSize < events.length) await client.query(`ANALYZE ${SCHEMA}.claims, ${SCHEMA}.customers, ${SCHEMA}.identities, ${SCHEMA}.orders, ${SCHEMA}.refunds, ${SCHEMA}.stats, ${SCHEMA}.outbox`);
    }
    return { ms: performance.now() - start, statementsPerBatch: statements / batches };
  } finally {
    await client.end();
  }
}

/** What the baseline must hold afterwards, checked against the generator's own expectations. */
export async function pipelineBaselineSanity(url: string, expected: GeneratedEvents["expected"]): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const one = async (sql: string) => Number((await client.query(sql)).rows[0].n);
    const checks: [string, number, number][] = [
      ["claims", await one(`SELECT count(*) AS n FROM ${SCHEMA}.claims`), expected.accepted],
      ["customers", await one(`SELECT count(*) AS n FROM ${SCHEMA}.customers`), expected.customers],
      ["identities", await one(`SELECT count(*) AS n FROM ${SCHEMA}.identities`), expected.identities],
      ["orders", await one(`SELECT count(*) AS n FROM ${SCHEMA}.orders`), expected.orders],
      ["refunds", await one(`SELECT count(*) AS n FROM ${SCHEMA}.refunds`), expected.refunds],
      ["customers with stats", await one(`SELECT count(*) AS n FROM ${SCHEMA}.stats`), expected.customersWithStats],
      ["stats: orders counted", await one(`SELECT coalesce(sum(orders_count), 0) AS n FROM ${SCHEMA}.stats`), expected.statsOrders],
      ["stats: total spent", await one(`SELECT coalesce(sum(total_spent), 0) AS n FROM ${SCHEMA}.stats`), expected.statsSpent],
    ];
    return checks.filter(([, got, want]) => got !== want).map(([what, got, want]) => `pipeline baseline: ${what} ${got}, expected ${want}`);
  } finally {
    await client.end();
  }
}
