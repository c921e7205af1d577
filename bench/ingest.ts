import pg from "pg";
import { PostgresQueryRunner } from "typeorm/driver/postgres/PostgresQueryRunner";
import type { App } from "../src/app";
import type { Ctx } from "../src/core/context";
import type { NormalizedEventInput } from "../src/plugins/events";
import { benchApp, positiveInt, redact } from "./database";
import { generateEvents, type GeneratedEvents } from "./ingest-events";
import { pipelineBaseline, pipelineBaselineSanity } from "./pipeline-baseline";

/**
 * Ingestion throughput on real PostgreSQL, beside a raw-SQL baseline measured in the same run on
 * the same server: N synthetic normalized events go through `app.ingestion.ingest` in batches, and
 * the same events go as one plain row each into three tables with a multi-row
 * `INSERT … ON CONFLICT DO NOTHING` per table per batch.
 *
 *   BENCH_EVENTS (100000)  BENCH_BATCH (1000)  BENCH_SEED (42)  DATABASE_URL (the local server)
 *   BENCH_PROFILE=1 also prints where the pipeline's time goes, statement by statement.
 *   BENCH_ANALYZE=auto|on|off (auto): see `analyzePolicy`.
 *
 * Prints the figures, then as its last line one JSON object. Exits 1 when an event is rejected or
 * the database does not hold what the events imply.
 */
export async function ingestBench(): Promise<number> {
  const n = positiveInt("BENCH_EVENTS", 100_000, 10);
  const batchSize = positiveInt("BENCH_BATCH", 1_000);
  const seed = positiveInt("BENCH_SEED", 42);

  const { fakerZH_CN: faker } = await import("@faker-js/faker");
  faker.seed(seed);
  const t = performance.now();
  const gen = generateEvents(faker, n);
  const { counts } = gen;
  console.log(
    `events: ${n} (${counts.customers} new customers, ${counts.orderEvents} order.placed/paid, ${counts.refunds} refunds, ${counts.duplicates} duplicates), ` +
      `batch ${batchSize}, seed ${seed}; generated in ${secs(performance.now() - t)} (not timed)`,
  );

  const { app, ctx, tenantId, url, close } = await benchApp("crm_bench");
  try {
    const [{ version }] = await app.db.dataSource.query(`SELECT current_setting('server_version') AS version`);
    console.log(`database: PostgreSQL ${version}, fresh database ${redact(url)} (dropped at the end)`);
    console.log("outbox: dispatcher stopped before timing — dispatch is NOT measured (outbox rows are still written in each batch's transaction)");

    // The baseline first, on its own connection; then the pipeline.
    const raw = await rawBaseline(url, gen.events, batchSize);
    const rawRowsPerSecond = Math.round(n / (raw.ms / 1000));
    console.log(
      `raw baseline: ${n} rows in ${secs(raw.ms)} = ${rawRowsPerSecond} rows/s ` +
        `(multi-row INSERT … ON CONFLICT DO NOTHING into plain customers/orders/refunds tables, one transaction per batch of ${batchSize}, pg directly)`,
    );

    // The target's reference (issue 9): a minimal hand-written pipeline writing the same facts.
    const pipe = await pipelineBaseline(url, gen.events, batchSize);
    const baselineEventsPerSecond = Math.round(n / (pipe.ms / 1000));
    console.log(
      `pipeline baseline: ${n} events in ${secs(pipe.ms)} = ${baselineEventsPerSecond} events/s ` +
        `(hand-written set-based SQL writing the same facts: claims, customers, identities, orders and lines, refunds, stats, outbox rows; ` +
        `${pipe.statementsPerBatch.toFixed(1)} statements per batch incl. BEGIN/COMMIT)`,
    );

    const analyze = await analyzePolicy(app);
    console.log(`statistics: ${analyze.reason}`);
    const profile = process.env.BENCH_PROFILE === "1" ? profileStatements() : undefined;
    const run = await ingestAll(app, ctx, gen.events, batchSize, analyze.enabled, profile);
    profile?.stop();
    const eventsPerSecond = Math.round(n / (run.ms / 1000));
    const ratio = Math.round((eventsPerSecond / rawRowsPerSecond) * 1000) / 1000;
    const tenth = Math.max(1, Math.floor(run.batches.length / 10));
    console.log(
      `ingestion: ${n} events in ${secs(run.ms)} = ${eventsPerSecond} events/s ` +
        `(${run.batches.length} batches; per batch p50 ${ms(pct(run.batches, 0.5))}, p95 ${ms(pct(run.batches, 0.95))}, max ${ms(Math.max(...run.batches))}; ` +
        `mean of the first tenth ${ms(mean(run.batches.slice(0, tenth)))}, of the last tenth ${ms(mean(run.batches.slice(-tenth)))})`,
    );
    if (run.analyzes) console.log(`statistics: ANALYZE ran ${run.analyzes} times in ${secs(run.analyzeMs)}, counted in the ingestion time above`);
    console.log(`results: accepted ${run.accepted}, duplicate ${run.duplicate}, rejected ${run.rejected}`);
    const st = run.statements;
    console.log(`SQL statements per batch (incl. BEGIN/COMMIT): mean ${(st.reduce((a, b) => a + b, 0) / st.length).toFixed(1)}, min ${Math.min(...st)}, max ${Math.max(...st)}`);

    if (profile) profile.print(run.ms);

    const failures: string[] = [];
    if (run.rejected) failures.push(`${run.rejected} events rejected, e.g. ${run.firstRejection}`);
    failures.push(...(await sanity(app, tenantId, url, gen, run)));

    failures.push(...(await pipelineBaselineSanity(url, gen.expected)));

    const pipelineRatio = Math.round((eventsPerSecond / baselineEventsPerSecond) * 1000) / 1000;
    const met = eventsPerSecond >= 5_000 && pipelineRatio >= 0.25;
    console.log(`ratio: ${ratio} of raw (the old, superseded comparison)`);
    console.log(`pipelineRatio: ${pipelineRatio} of the hand-written pipeline (target ≥ 5000 events/s and pipelineRatio ≥ 0.25: ${met ? "met" : "MISSED"})`);
    if (failures.length) {
      for (const f of failures) console.error(`FAIL: ${f}`);
      return 1;
    }
    console.log(JSON.stringify({ bench: "ingest", events: n, eventsPerSecond, rawRowsPerSecond, ratio, baselineEventsPerSecond, pipelineRatio }));
    return 0;
  } finally {
    await close();
  }
}

/** The tables the pipeline reads and writes. */
const CRM_TABLES = ["ingested_events", "customers", "customer_identities", "orders", "order_refunds", "customer_stats", "outbox"];

/**
 * Planner statistics. With none (a database autovacuum never analyzed), PostgreSQL guesses that
 * `tenant_id = $1` matches 0.5 % of rows, so keyed lookups become "read every row of the tenant" and
 * each batch costs more as the tables grow; cached plans made while the tables were tiny (foreign-key
 * checks) keep doing so. A production server analyzes the tables itself once enough rows changed
 * (autovacuum: 50 rows + 10 %). When this server's autovacuum is off, the bench stands in for it:
 * ANALYZE of the pipeline's tables each time the number of events ingested has doubled, inside the
 * timed loop. BENCH_ANALYZE=on forces that, =off measures without statistics.
 */
async function analyzePolicy(app: App): Promise<{ enabled: boolean; reason: string }> {
  const mode = (process.env.BENCH_ANALYZE ?? "auto").trim();
  if (mode !== "auto" && mode !== "on" && mode !== "off") throw new Error(`BENCH_ANALYZE must be auto, on or off, got ${JSON.stringify(mode)}`);
  const [{ autovacuum }] = await app.db.dataSource.query(`SELECT current_setting('autovacuum') AS autovacuum`);
  const stand = "the bench runs ANALYZE of the pipeline's tables whenever the events ingested have doubled (1, 2, 4 … batches), timed";
  if (mode === "on") return { enabled: true, reason: `BENCH_ANALYZE=on: ${stand} (server autovacuum = ${autovacuum})` };
  if (mode === "off") return { enabled: false, reason: `BENCH_ANALYZE=off: no ANALYZE by the bench (server autovacuum = ${autovacuum})` };
  return autovacuum === "on"
    ? { enabled: false, reason: "left to the server's autovacuum" }
    : { enabled: true, reason: `this server runs with autovacuum = off, so in its place ${stand}` };
}

async function ingestAll(app: App, ctx: Ctx, events: NormalizedEventInput[], batchSize: number, analyze: boolean, profile?: ReturnType<typeof profileStatements>) {
  const source = { channel: "http-json", connectionId: null };
  let analyzes = 0;
  let analyzeMs = 0;
  let analyzeAt = batchSize;
  const batches: number[] = [];
  const statements: number[] = [];
  let accepted = 0;
  let duplicate = 0;
  let rejected = 0;
  let firstRejection: string | undefined;
  profile?.start(Math.ceil(events.length / batchSize));
  const start = performance.now();
  for (let i = 0; i < events.length; i += batchSize) {
    if (profile) profile.batch = i / batchSize;
    const before = app.db.sql.statements;
    const t = performance.now();
    const results = await app.ingestion.ingest(ctx, source, events.slice(i, i + batchSize));
    batches.push(performance.now() - t);
    statements.push(app.db.sql.statements - before);
    if (analyze && i + batchSize >= analyzeAt && i + batchSize < events.length) {
      const a = performance.now();
      await app.db.dataSource.query(`ANALYZE ${CRM_TABLES.join(", ")}`);
      analyzeMs += performance.now() - a;
      analyzes++;
      analyzeAt *= 2;
    }
    for (const r of results) {
      if (r.status === "accepted") accepted++;
      else if (r.status === "duplicate") duplicate++;
      else {
        rejected++;
        firstRejection ??= `${r.externalId}: ${r.reason}`;
      }
    }
  }
  return { ms: performance.now() - start, batches, statements, accepted, duplicate, rejected, firstRejection, analyzes, analyzeMs };
}

// ---- the raw baseline ------------------------------------------------------------------------

const RAW_TABLES = {
  customers: {
    ddl: `external_id text PRIMARY KEY, occurred_at timestamptz NOT NULL, identity_type text NOT NULL, identity_value text NOT NULL,
          display_name text, phone text, gender text, birthday date, country text, province text, city text, tags text[], attributes jsonb`,
    columns: ["external_id", "occurred_at", "identity_type", "identity_value", "display_name", "phone", "gender", "birthday", "country", "province", "city", "tags", "attributes"],
  },
  orders: {
    ddl: `external_id text PRIMARY KEY, occurred_at timestamptz NOT NULL, type text NOT NULL, identity_type text, identity_value text,
          order_id text NOT NULL, currency text NOT NULL, total bigint NOT NULL, subtotal bigint, discount bigint, store_id text, items jsonb`,
    columns: ["external_id", "occurred_at", "type", "identity_type", "identity_value", "order_id", "currency", "total", "subtotal", "discount", "store_id", "items"],
  },
  refunds: {
    ddl: `external_id text PRIMARY KEY, occurred_at timestamptz NOT NULL, identity_type text, identity_value text,
          order_id text NOT NULL, refund_id text NOT NULL, amount bigint NOT NULL`,
    columns: ["external_id", "occurred_at", "identity_type", "identity_value", "order_id", "refund_id", "amount"],
  },
} as const;
type RawTable = keyof typeof RAW_TABLES;

/** The row an event would be as plain data: no validation, no identity resolution, no folding. */
function rawRow(e: NormalizedEventInput): [RawTable, unknown[]] {
  const idn = e.identities?.[0];
  const head = [e.externalId, e.occurredAt];
  switch (e.type) {
    case "customer.upserted": {
      const p = e.payload;
      return ["customers", [...head, idn?.type, idn?.value, p.displayName, p.phone, p.gender, p.birthday, p.region?.country, p.region?.province, p.region?.city, p.tags, JSON.stringify(p.attributes ?? {})]];
    }
    case "order.placed":
    case "order.paid": {
      const p = e.payload;
      return ["orders", [...head, e.type, idn?.type, idn?.value, p.orderId, p.currency, p.total, p.subtotal, p.discount, p.storeId, JSON.stringify(p.items ?? [])]];
    }
    case "order.refunded": {
      const p = e.payload;
      return ["refunds", [...head, idn?.type, idn?.value, p.orderId, p.refundId, p.amount]];
    }
    default:
      throw new Error(`the generator made an event the baseline has no table for: ${e.type}`);
  }
}

async function rawBaseline(url: string, events: NormalizedEventInput[], batchSize: number): Promise<{ ms: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA bench_raw`);
    for (const [name, t] of Object.entries(RAW_TABLES)) await client.query(`CREATE TABLE bench_raw.${name} (${t.ddl})`);
    const start = performance.now();
    for (let i = 0; i < events.length; i += batchSize) {
      const rows: Record<RawTable, unknown[][]> = { customers: [], orders: [], refunds: [] };
      for (const e of events.slice(i, i + batchSize)) {
        const [table, row] = rawRow(e);
        rows[table].push(row);
      }
      await client.query("BEGIN");
      for (const table of Object.keys(rows) as RawTable[]) {
        const width = RAW_TABLES[table].columns.length;
        // Parameters are capped at 65,535 per statement: split only when a batch would exceed it.
        const per = Math.floor(65_535 / width);
        for (let j = 0; j < rows[table].length; j += per) {
          const chunk = rows[table].slice(j, j + per);
          const values = chunk.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(", ")})`).join(", ");
          await client.query(`INSERT INTO bench_raw.${table} (${RAW_TABLES[table].columns.join(", ")}) VALUES ${values} ON CONFLICT DO NOTHING`, chunk.flat());
        }
      }
      await client.query("COMMIT");
    }
    return { ms: performance.now() - start };
  } finally {
    await client.end();
  }
}

// ---- sanity ----------------------------------------------------------------------------------

async function sanity(app: App, tenantId: string, url: string, gen: GeneratedEvents, run: Awaited<ReturnType<typeof ingestAll>>): Promise<string[]> {
  const q = async (sql: string) => (await app.db.dataSource.query(sql, [tenantId]))[0] as Record<string, string | null>;
  const num = (v: string | null) => Number(v ?? 0);
  const e = gen.expected;
  const stats = await q(`SELECT count(*) AS n, sum(orders_count) AS orders, sum(total_spent) AS spent FROM customer_stats WHERE tenant_id = $1`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const raw = (await client.query(`SELECT (SELECT count(*) FROM bench_raw.customers) AS c, (SELECT count(*) FROM bench_raw.orders) AS o, (SELECT count(*) FROM bench_raw.refunds) AS r`)).rows[0];
  await client.end();
  const checks: [string, number, number][] = [
    ["accepted results", run.accepted, e.accepted],
    ["duplicate results", run.duplicate, gen.counts.duplicates],
    ["ingested_events rows", num((await q(`SELECT count(*) AS n FROM ingested_events WHERE tenant_id = $1`)).n), e.accepted],
    ["customers", num((await q(`SELECT count(*) AS n FROM customers WHERE tenant_id = $1`)).n), e.customers],
    ["customer identities", num((await q(`SELECT count(*) AS n FROM customer_identities WHERE tenant_id = $1`)).n), e.identities],
    ["orders", num((await q(`SELECT count(*) AS n FROM orders WHERE tenant_id = $1`)).n), e.orders],
    ["orders without a customer", num((await q(`SELECT count(*) AS n FROM orders WHERE tenant_id = $1 AND customer_id IS NULL`)).n), 0],
    ["refunds", num((await q(`SELECT count(*) AS n FROM order_refunds WHERE tenant_id = $1`)).n), e.refunds],
    ["customers with stats", num(stats.n), e.customersWithStats],
    ["stats: orders counted", num(stats.orders), e.statsOrders],
    ["stats: total spent", num(stats.spent), e.statsSpent],
    ["merges", num((await q(`SELECT count(*) AS n FROM customer_merges WHERE tenant_id = $1`)).n), 0],
    ["identity conflicts", num((await q(`SELECT count(*) AS n FROM identity_conflicts WHERE tenant_id = $1`)).n), 0],
    ["customer.created in outbox", num((await q(`SELECT count(*) AS n FROM outbox WHERE tenant_id = $1 AND type = 'customer.created'`)).n), e.customers],
    ["raw customers rows", Number(raw.c), gen.counts.customers],
    ["raw orders rows", Number(raw.o), gen.counts.orderEvents],
    ["raw refunds rows", Number(raw.r), gen.counts.refunds],
  ];
  const bad = checks.filter(([, got, want]) => got !== want);
  console.log(`sanity: ${checks.map(([name, got, want]) => `${name} ${got}${got === want ? "" : ` (expected ${want})`}`).join(", ")} — ${bad.length ? "FAILED" : "all as expected"}`);
  return bad.map(([name, got, want]) => `${name}: ${got}, expected ${want}`);
}

// ---- profile ---------------------------------------------------------------------------------

/**
 * Times every statement TypeORM sends (round trip, driver and result handling included), grouped by
 * what it does; whatever the batches took beyond that is time spent in JavaScript.
 */
function profileStatements() {
  const proto = PostgresQueryRunner.prototype;
  const original = proto.query;
  const byLabel = new Map<string, { n: number; ms: number; first: number; last: number }>();
  let batches = 0;
  proto.query = async function (this: PostgresQueryRunner, query: string, ...rest: unknown[]) {
    const t = performance.now();
    try {
      return await (original as (...a: unknown[]) => Promise<unknown>).call(this, query, ...rest);
    } finally {
      const label = query.replace(/\s+/g, " ").trim().slice(0, 90);
      const entry = byLabel.get(label) ?? { n: 0, ms: 0, first: 0, last: 0 };
      const spent = performance.now() - t;
      entry.n++;
      entry.ms += spent;
      // Split by the batch it ran in: the first and last tenth show what grows with the tables.
      if (control.batch < control.tenth) entry.first += spent;
      if (control.batch >= batches - control.tenth) entry.last += spent;
      byLabel.set(label, entry);
    }
  } as typeof original;
  const control = {
    /** The batch being ingested (set by the loop). */
    batch: 0,
    tenth: 1,
    start(total: number) {
      batches = total;
      control.tenth = Math.max(1, Math.floor(total / 10));
    },
    stop: () => void (proto.query = original),
    print(totalMs: number) {
      const rows = [...byLabel].sort((a, b) => b[1].ms - a[1].ms);
      const sqlMs = rows.reduce((s, [, v]) => s + v.ms, 0);
      const per = (v: number, count: number) => (v / count).toFixed(1).padStart(7);
      console.log(`profile: time in SQL round trips ${secs(sqlMs)} (${pctOf(sqlMs, totalMs)}), in JavaScript and waiting ${secs(totalMs - sqlMs)} (${pctOf(totalMs - sqlMs, totalMs)})`);
      console.log(`  ms/batch  share  first/last tenth  calls  statement`);
      for (const [label, v] of rows) {
        console.log(`  ${per(v.ms, batches)} ${pctOf(v.ms, totalMs).padStart(7)} ${per(v.first, control.tenth)} /${per(v.last, control.tenth)}  ×${String(v.n).padEnd(5)} ${label}`);
      }
    },
  };
  return control;
}
const pctOf = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;

// ---- helpers ---------------------------------------------------------------------------------

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const secs = (msValue: number) => `${(msValue / 1000).toFixed(2)} s`;
const ms = (msValue: number) => `${msValue.toFixed(0)} ms`;
function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
