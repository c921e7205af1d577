import pg from "pg";
import pino from "pino";
import { PostgresQueryRunner } from "typeorm/driver/postgres/PostgresQueryRunner";
import { createApp, type App } from "../src/app";
import { loadConfig } from "../src/config";
import type { Clock } from "../src/core/calendar";
import { systemContext, type Ctx } from "../src/core/context";
import { toGlobalId } from "../src/core/global-id";
import { rfmCell } from "../src/modules/analytics";
import { segmentInsights, AOV_BANDS, CLV_BANDS, type SegmentInsights } from "../src/modules/analytics";
import { DEFAULT_SERVER, freshDatabase, positiveInt, redact } from "./database";
import { loadFixture } from "./segments-fixture";

/**
 * Segments and analytics over a whole tenant on real PostgreSQL, each beside hand-written SQL computing
 * the same result in the same run and database (issue: "segments bench"):
 *
 *   1. `app.analytics.refreshScores`: lifecycle + RFM, which also creates the four value-tier segments (first
 *      call) and refreshes the time-based segments — first computation (every row new) and the daily
 *      recompute a day later (the figure the target is about) — against one hand-written statement each
 *      writing the same lifecycle and RFM rows into a copy of `customer_analytics`.
 *   2. A 5-condition rule segment: `app.segments.refreshTenant(ctx, "all")` after 2 % of the customers had
 *      their "vip" tag toggled and a day passed — against a hand-written set difference into a copy of
 *      `segment_members`.
 *   3. `segmentInsights` of that segment (analytics/insights.ts: distributions, totals, channel mix) against
 *      the same facts from two hand-written statements. Median of 5 runs each.
 *   4. The customer-value model: `app.analytics.refit` (BG/NBD + Gamma-Gamma fit, predictions for every
 *      customer). No baseline (a fit is not SQL).
 *
 * Autovacuum is off on this server: the bench runs ANALYZE where autovacuum would have by then (after the
 * load, after a million new analytics rows, after new segment members), never inside a timed step.
 *
 *   BENCH_CUSTOMERS (1000000)  BENCH_ORDERS (5 × customers)  BENCH_SEED (42)
 *   BENCH_STEP_TIMEOUT (900), BENCH_FIT_TIMEOUT (900): seconds after which a step of ours is stopped (its
 *     statement cancelled) and reported as MISSED, so a run always ends
 *   BENCH_EXPLAIN=1: EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of each step of ours, in a rolled-back transaction
 *   DATABASE_URL (the local server)
 *
 * Prints the figures, then as its last line one JSON object. Exits 1 when ours and the baseline disagree.
 */
export async function segmentsBench(): Promise<number> {
  const customers = positiveInt("BENCH_CUSTOMERS", 1_000_000, 100);
  const orders = positiveInt("BENCH_ORDERS", 5 * customers);
  const seed = positiveInt("BENCH_SEED", 42);
  const fitTimeout = positiveInt("BENCH_FIT_TIMEOUT", 900);
  const stepTimeout = positiveInt("BENCH_STEP_TIMEOUT", 900);
  const explain = process.env.BENCH_EXPLAIN === "1";
  const full = customers >= 1_000_000;

  // One clock for ours and the baselines, moved by hand: "a day later" is the daily job's situation.
  const clock = mutableClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  const db = await freshDatabase(process.env.DATABASE_URL?.trim() || DEFAULT_SERVER, "crm_segments");
  let app: App | undefined;
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const profile = profileStatements();
  try {
    const log = pino({ level: "silent" });
    app = await createApp(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent", OUTBOX_POLL_MS: "0" }), log, { clock });
    await app.tenancy.bootstrap(log, () => undefined);
    await app.outbox.stop();
    const [tenant] = await app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
    const tenantId: string = tenant.id;
    const ctx: Ctx = systemContext(app, tenantId, "bench", "bench");
    const [{ version }] = await app.db.dataSource.query(`SELECT current_setting('server_version') AS version`);
    console.log(`database: PostgreSQL ${version}, fresh database ${redact(db.url)} (dropped at the end); outbox dispatcher stopped (outbox rows are still written)`);

    // ---- the data ----------------------------------------------------------------------------------
    const t0 = performance.now();
    const times = await loadFixture(db.url, tenantId, customers, orders, seed, clock.now());
    const [facts] = await app.db.dataSource.query(
      `SELECT (SELECT count(*)::int FROM customers) AS customers, (SELECT count(*)::int FROM orders) AS orders,
              (SELECT count(*)::int FROM customer_stats) AS buyers, (SELECT count(*)::int FROM orders WHERE refunded >= total) AS refunded`,
    );
    console.log(
      `data: ${facts.customers} customers (${facts.buyers} with counted orders), ${facts.orders} orders (${facts.refunded} fully refunded), seed ${seed}; ` +
        `loaded in ${secs(performance.now() - t0)} (rows ${secs(times.rowsMs)}, indexes ${secs(times.indexesMs)}, customer_stats ${secs(times.statsMs)}, ANALYZE ${secs(times.analyzeMs)}; not timed)`,
    );
    const failures: string[] = [];
    const analyze = (tables: string) => app!.db.dataSource.query(`ANALYZE ${tables}`);

    // ---- 1. RFM and lifecycle ------------------------------------------------------------------------
    // refreshScores also creates the four value-tier segments (first call) and refreshes the time-based
    // segments: the baseline is lifecycle + RFM only, so the output splits ours into the two.
    await pool.query(`CREATE TABLE bench_rfm (LIKE customer_analytics INCLUDING ALL)`);
    const firstBase = await timed(() => pool.query(baselineScoresSql("insert"), [tenantId, clock.now()]));
    const firstOurs = await profile.step("refreshScores, first", () => guarded(app!.analytics.refreshScores(ctx), stepTimeout, pool, db.name));
    if (firstOurs.value === TIMED_OUT) console.log(`refreshScores, first: stopped after ${stepTimeout} s (BENCH_STEP_TIMEOUT), its statement cancelled`);
    failures.push(...(await compareScores(pool, "first computation")));
    // What autovacuum would have done by the next day: statistics of the new rows (analytics, tier members).
    await analyze("customer_analytics, bench_rfm, segment_members");
    clock.advance(1);
    const rfmOurs = await profile.step("refreshScores, a day later", () => guarded(app!.analytics.refreshScores(ctx), stepTimeout, pool, db.name));
    if (rfmOurs.value === TIMED_OUT) console.log(`refreshScores, a day later: stopped after ${stepTimeout} s (BENCH_STEP_TIMEOUT), its statement cancelled`);
    const rfmBase = await timed(() => pool.query(baselineScoresSql("upsert"), [tenantId, clock.now()]));
    failures.push(...(await compareScores(pool, "a day later")));
    const cells = await pool.query(`SELECT coalesce(rfm_segment, '(none)') AS cell, count(*)::int AS n FROM customer_analytics GROUP BY 1 ORDER BY 2 DESC`);
    console.log(`RFM cells (ours = baseline): ${cells.rows.map((r) => `${r.cell} ${r.n}`).join(", ")}`);
    const tiers = await pool.query(`SELECT s.name, count(m.id)::int AS n FROM segments s LEFT JOIN segment_members m ON m.segment_id = s.id AND m.until IS NULL GROUP BY s.name ORDER BY s.name`);
    console.log(`value tiers (created by refreshScores): ${tiers.rows.map((r) => `${r.name} ${r.n}`).join(", ")}`);
    await analyze("customer_analytics, bench_rfm, segment_members");
    // The statements on segments (tables segments / segment_members, not the rfm_segment column) are the tiers' part.
    const rfmScoresMs = profile.sqlMs("refreshScores, a day later", (label) => !/\bsegments?\b|segment_members|segment_id/i.test(label));

    // ---- 2. the rule segment -------------------------------------------------------------------------
    const query = `orders_count >= 3 AND total_spent > 50000 AND last_order_at > -180d AND province IN ("浙江", "广东") AND tag = "vip"`;
    const created = await timed(() => app!.segments.create(ctx, { name: "bench: recent vip buyers in 浙江/广东", query }));
    if (!created.value.ok) throw new Error(`segment not created: ${JSON.stringify(created.value.errors)}`);
    const segmentId = created.value.value.id;
    const { rows: [{ n: firstMembers }] } = await pool.query(`SELECT count(*)::int AS n FROM segment_members WHERE segment_id = $1 AND until IS NULL`, [segmentId]);
    // Facts move: 2 % of the customers gain or lose "vip" (a channel import), and a day passes.
    const moved = await pool.query(
      `UPDATE customers SET tags = CASE WHEN tags @> ARRAY['vip'] THEN array_remove(tags, 'vip') ELSE tags || ARRAY['vip'] END, updated_at = $2
        WHERE tenant_id = $1 AND abs(hashtext(id::text)) % 50 = 0`,
      [tenantId, clock.now()],
    );
    clock.advance(1);
    await analyze("segment_members"); // its new members, as autovacuum would before the daily refresh
    await pool.query(`CREATE TABLE bench_members (LIKE segment_members INCLUDING ALL)`);
    await pool.query(`INSERT INTO bench_members OVERRIDING SYSTEM VALUE SELECT * FROM segment_members`);
    await pool.query(`SELECT setval(pg_get_serial_sequence('bench_members', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM segment_members), false)`);
    await analyze("bench_members");
    const tier = await tierCells(pool, tenantId);
    const refreshBase = await timed(() => pool.query(baselineRefreshSql(), [tenantId, segmentId, clock.now(), tier.ids, tier.cells]));
    const refreshRun = await profile.step("refreshTenant all", () => guarded(app!.segments.refreshTenant(ctx, "all"), stepTimeout, pool, db.name));
    if (refreshRun.value === TIMED_OUT) throw new Error(`refreshTenant: stopped after ${stepTimeout} s (BENCH_STEP_TIMEOUT)`);
    const refreshOurs = { ms: refreshRun.ms, value: refreshRun.value };
    const baseChanges = Number(refreshBase.value.rows[0].added) + Number(refreshBase.value.rows[0].removed);
    // Every segment's current members and stays (the tiers' too): ours and the baseline's must be the same sets.
    const members = await pool.query(
      `SELECT (SELECT count(*)::int FROM segment_members WHERE segment_id = $1 AND until IS NULL) AS ours,
              (SELECT count(*)::int FROM bench_members WHERE segment_id = $1 AND until IS NULL) AS base,
              (SELECT count(*)::int FROM (SELECT segment_id, customer_id FROM segment_members WHERE until IS NULL
                                          EXCEPT SELECT segment_id, customer_id FROM bench_members WHERE until IS NULL) x) AS only_ours,
              (SELECT count(*)::int FROM (SELECT segment_id, customer_id FROM bench_members WHERE until IS NULL
                                          EXCEPT SELECT segment_id, customer_id FROM segment_members WHERE until IS NULL) x) AS only_base,
              (SELECT count(*)::int FROM segment_members) AS stays_ours,
              (SELECT count(*)::int FROM bench_members) AS stays_base`,
      [segmentId],
    );
    const m = members.rows[0];
    console.log(
      `segment: ${query}\n  created with ${firstMembers} members in ${secs(created.ms)} (not a target); then ${moved.rowCount} customers' "vip" toggled and a day passed; ` +
        `refresh of all ${1 + new Set(tier.ids).size} rule segments: ${refreshOurs.value} changes (baseline ${baseChanges}: +${refreshBase.value.rows[0].added} −${refreshBase.value.rows[0].removed}), members now ${m.ours} (baseline ${m.base})`,
    );
    if (m.ours !== m.base || m.only_ours || m.only_base || m.stays_ours !== m.stays_base || refreshOurs.value !== baseChanges) {
      failures.push(`segment members differ: ours ${m.ours} / baseline ${m.base}, only ours ${m.only_ours}, only baseline ${m.only_base}, stays ${m.stays_ours} / ${m.stays_base}, changes ${refreshOurs.value} / ${baseChanges}`);
    }

    // ---- 3. insights ---------------------------------------------------------------------------------
    const insightsOurs: number[] = [];
    const insightsBase: number[] = [];
    let ours: SegmentInsights | null = null;
    let base: string[] = [];
    for (let i = 0; i < 5; i++) {
      const b = await timed(() => baselineInsights(pool, tenantId, segmentId));
      const o = await profile.step("segmentInsights", () => segmentInsights(app!, ctx, { segmentId: toGlobalId("Segment", segmentId) }));
      if (!o.value.ok) throw new Error(`segmentInsights failed: ${JSON.stringify(o.value.errors)}`);
      insightsBase.push(b.ms);
      insightsOurs.push(o.ms);
      base = b.value;
      ours = o.value.value;
    }
    const oursFacts = insightFacts(ours!);
    if (oursFacts.join("|") !== base.join("|")) {
      const only = (x: string[], y: string[]) => x.filter((v) => !y.includes(v)).slice(0, 8).join(", ");
      failures.push(`insights differ: only ours ${only(oursFacts, base)}; only baseline ${only(base, oursFacts)}`);
    }
    console.log(
      `insights (segmentInsights): ${ours!.customers} customers, ${ours!.orders} orders, revenue ${ours!.revenue}, AOV ${ours!.averageOrderValue}, repurchase ${ours!.repurchaseRate.toFixed(3)}; ` +
        `rfm ${ours!.rfmSegment.map((b) => `${b.key} ${b.customers}`).join(", ")}; AOV bands ${ours!.averageOrderValueBand.map((b) => `${b.key} ${b.customers}`).join(", ")}`,
    );

    // ---- 4. the customer-value model -----------------------------------------------------------------
    const fit = await profile.step("refit", () => guarded(app!.analytics.refit(ctx), fitTimeout, pool, db.name));
    let fitSeconds: number | null = null;
    if (fit.value === TIMED_OUT) console.log(`refit: stopped after ${fitTimeout} s (BENCH_FIT_TIMEOUT), its statement cancelled`);
    else if (!fit.value.ok) failures.push(`refit failed: ${JSON.stringify(fit.value.errors)}`);
    else {
      fitSeconds = fit.ms / 1000;
      const model = fit.value.value;
      const { rows: [{ predicted }] } = await pool.query(`SELECT count(*)::int AS predicted FROM customer_analytics WHERE predicted_at = $1 AND probability_alive IS NOT NULL`, [model.fittedAt]);
      console.log(
        `refit: ${model.customers} customers (${model.repeatCustomers} repeat), BG/NBD r ${model.bgnbd.r.toFixed(3)} α ${model.bgnbd.alpha.toFixed(2)} a ${model.bgnbd.a.toFixed(3)} b ${model.bgnbd.b.toFixed(3)}, ` +
          `Gamma-Gamma p ${model.gammaGamma.p.toFixed(2)} q ${model.gammaGamma.q.toFixed(2)} v ${model.gammaGamma.v.toFixed(0)}; predictions stored for ${predicted}`,
      );
      if (predicted !== model.customers) failures.push(`refit stored predictions for ${predicted} customers, the model saw ${model.customers}`);
    }

    // ---- figures -------------------------------------------------------------------------------------
    const row = (what: string, ours: number, base: number | null, extra = "") => {
      const ratio = base === null ? null : ours / base;
      console.log(`${what.padEnd(34)} ours ${secs(ours).padStart(9)}  ${base === null ? "" : `baseline ${secs(base).padStart(9)}  ratio ${ratio!.toFixed(2).padStart(5)} (≤ 1.5: ${ratio! <= 1.5 ? "met" : "MISSED"})`}${extra}`);
      return ratio;
    };
    console.log(`statements of ours, slowest first (per step):`);
    profile.print();
    if (explain) await profile.explain(pool);
    row("refreshScores, first (+ 4 tiers)", firstOurs.ms, firstBase.ms, firstOurs.value === TIMED_OUT ? " (stopped: a lower bound)" : "");
    const rfmDailyRatio = row("refreshScores, a day later", rfmOurs.ms, rfmBase.ms, (full ? `; < 30 s at 1 M: ${rfmOurs.ms < 30_000 ? "met" : "MISSED"}` : "; (30 s target is for 1 M customers)") + (rfmOurs.value === TIMED_OUT ? " (stopped: a lower bound)" : ""));
    const rfmScoresRatio = row("  of which lifecycle + RFM", rfmScoresMs, rfmBase.ms, " (its statements not on segments)");
    row("  of which time-based segments", rfmOurs.ms - rfmScoresMs, null, " (the 4 value tiers; no baseline)");
    const refreshRatio = row("refreshTenant all (5 segments)", refreshOurs.ms, refreshBase.ms, " (the 5-condition one and the 4 tiers)");
    const insightsRatio = row("insights (median of 5)", median(insightsOurs), median(insightsBase));
    if (fitSeconds !== null) row("model fit + predictions", fit.ms, null, full ? `  < 60 s at 1 M: ${fit.ms < 60_000 ? "met" : "MISSED"}` : "  (60 s target is for 1 M customers)");
    else console.log(`${"model fit + predictions".padEnd(34)} ours > ${fitTimeout} s (stopped)${full ? "  < 60 s at 1 M: MISSED" : ""}`);

    if (failures.length) {
      for (const f of failures) console.error(`FAIL: ${f}`);
      console.error("sanity: FAILED");
      return 1;
    }
    console.log(`sanity: ok (RFM scores, cells, stages and stage times per customer; segment members, stays and changes; insights distributions and totals${fitSeconds === null ? "" : "; a prediction per modelled customer"})`);
    console.log(
      JSON.stringify({
        bench: "segments",
        customers: facts.customers,
        orders: facts.orders,
        rfmSeconds: s3(rfmOurs.ms),
        rfmBaselineSeconds: s3(rfmBase.ms),
        rfmRatio: r3(rfmDailyRatio!),
        rfmScoresSeconds: s3(rfmScoresMs),
        rfmScoresRatio: r3(rfmScoresRatio!),
        rfmFirstSeconds: s3(firstOurs.ms),
        rfmFirstBaselineSeconds: s3(firstBase.ms),
        refreshSeconds: s3(refreshOurs.ms),
        refreshBaselineSeconds: s3(refreshBase.ms),
        refreshRatio: r3(refreshRatio!),
        insightsSeconds: s3(median(insightsOurs)),
        insightsBaselineSeconds: s3(median(insightsBase)),
        insightsRatio: r3(insightsRatio!),
        fitSeconds: fitSeconds === null ? null : r3(fitSeconds),
        // Steps of ours stopped at their timeout: their seconds and ratios are lower bounds.
        stopped: [firstOurs.value === TIMED_OUT && "rfmFirst", rfmOurs.value === TIMED_OUT && "rfm", fit.value === TIMED_OUT && "fit"].filter(Boolean),
      }),
    );
    return 0;
  } finally {
    profile.stop();
    await pool.end();
    await app?.db.close();
    await db.drop();
  }
}

// ---- setup ---------------------------------------------------------------------------------------

function mutableClock(start: Date): Clock & { advance(days: number): void } {
  let at = start.getTime();
  return {
    now: () => new Date(at),
    advance: (days) => void (at += days * 86_400_000),
  };
}

// ---- baselines -----------------------------------------------------------------------------------

/**
 * Lifecycle stages and RFM scores for every customer in one hand-written statement, into bench_rfm: the
 * first time as INSERT, a day later as an upsert that keeps `stage_since` while the stage holds. Default
 * settings (RFM window 365 days; at risk 90, dormant 180, churned 365 days; loyal from 5 orders), the
 * default tenant's CNY and Asia/Shanghai written in.
 */
function baselineScoresSql(mode: "insert" | "upsert"): string {
  const grid = [1, 2, 3, 4, 5].flatMap((r) => [1, 2, 3, 4, 5].map((fm) => `(${r}, ${fm}, '${rfmCell(r, fm, fm)}')`)).join(", ");
  const days = `(($2::timestamptz AT TIME ZONE 'Asia/Shanghai')::date - (s.last_order_at AT TIME ZONE 'Asia/Shanghai')::date)`;
  return `
    WITH w AS (
      SELECT o.customer_id, count(*) AS f, sum(o.total - o.refunded) AS m, max(coalesce(o.placed_at, o.paid_at, o.completed_at)) AS last
        FROM orders o
       WHERE o.tenant_id = $1 AND o.currency = 'CNY' AND (o.paid_at IS NOT NULL OR o.completed_at IS NOT NULL) AND o.refunded < o.total
         AND o.customer_id IS NOT NULL AND coalesce(o.placed_at, o.paid_at, o.completed_at) >= $2::timestamptz - interval '365 days'
       GROUP BY o.customer_id
    ), scored AS (
      SELECT customer_id,
             least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY last)))::smallint AS r,
             least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY f)))::smallint AS f,
             least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY m)))::smallint AS m
        FROM w
    ), grid(r, fm, segment) AS (VALUES ${grid})${
      mode === "upsert" ? `, gone AS (DELETE FROM bench_rfm b WHERE b.tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = b.customer_id))` : ""
    }
    INSERT INTO bench_rfm AS a (customer_id, tenant_id, lifecycle_stage, stage_since, recency, frequency, monetary, rfm_segment, rfm_at)
    SELECT c.id, $1,
           CASE WHEN s.customer_id IS NULL THEN 'PROSPECT' WHEN ${days} > 365 THEN 'CHURNED' WHEN ${days} > 180 THEN 'DORMANT'
                WHEN ${days} > 90 THEN 'AT_RISK' WHEN s.orders_count >= 5 THEN 'LOYAL' WHEN s.orders_count >= 2 THEN 'REPEAT' ELSE 'FIRST_PURCHASE' END,
           $2, sc.r, sc.f, sc.m, g.segment, $2
      FROM customers c
      LEFT JOIN customer_stats s ON s.customer_id = c.id AND s.tenant_id = $1
      LEFT JOIN scored sc ON sc.customer_id = c.id
      LEFT JOIN grid g ON g.r = sc.r AND g.fm = (sc.f + sc.m + 1) / 2
     WHERE c.tenant_id = $1${
       mode === "upsert"
         ? `
    ON CONFLICT (customer_id) DO UPDATE SET
      lifecycle_stage = EXCLUDED.lifecycle_stage,
      stage_since = CASE WHEN a.lifecycle_stage = EXCLUDED.lifecycle_stage THEN a.stage_since ELSE EXCLUDED.stage_since END,
      recency = EXCLUDED.recency, frequency = EXCLUDED.frequency, monetary = EXCLUDED.monetary, rfm_segment = EXCLUDED.rfm_segment, rfm_at = EXCLUDED.rfm_at`
         : ""
     }`;
}

/** Ours and the baseline row by row: every column RFM and lifecycle write. */
async function compareScores(pool: pg.Pool, when: string): Promise<string[]> {
  const { rows: [d] } = await pool.query(
    `SELECT count(*) FILTER (WHERE a.customer_id IS NULL OR b.customer_id IS NULL)::int AS missing,
            count(*) FILTER (WHERE (a.lifecycle_stage, a.stage_since, a.recency, a.frequency, a.monetary, a.rfm_segment, a.rfm_at)
                                   IS DISTINCT FROM (b.lifecycle_stage, b.stage_since, b.recency, b.frequency, b.monetary, b.rfm_segment, b.rfm_at))::int AS differ,
            count(*)::int AS n, count(a.rfm_segment)::int AS scored
       FROM customer_analytics a FULL JOIN bench_rfm b USING (customer_id)`,
  );
  console.log(`RFM, ${when}: ${d.n} customers, ${d.scored} scored; rows only on one side ${d.missing}, rows that differ ${d.differ}`);
  return d.missing || d.differ ? [`RFM ${when}: ${d.missing} rows on one side only, ${d.differ} differ`] : [];
}

/**
 * Every rule segment's members by hand, as `refreshTenant(ctx, "all")` refreshes them all: the bench
 * segment's five conditions as plain predicates a planner can use indexes for (`last_order_at > -180d` is
 * "from midnight 179 days ago, Asia/Shanghai"), the value tiers as a join on their RFM cells; and the same
 * diff into bench_members as membership.ts makes — stays closed with `until`, new stays inserted.
 * $4/$5: the tiers' (segment id, cell) pairs.
 */
function baselineRefreshSql(): string {
  return `
    WITH tier(segment_id, cell) AS (SELECT * FROM unnest($4::uuid[], $5::text[])),
    target AS (
      SELECT $2::uuid AS segment_id, c.id FROM customers c JOIN customer_stats s ON s.customer_id = c.id AND s.tenant_id = $1
       WHERE c.tenant_id = $1 AND s.orders_count >= 3 AND s.total_spent > 50000
         AND s.last_order_at >= ((date_trunc('day', $3::timestamptz AT TIME ZONE 'Asia/Shanghai') - interval '179 days') AT TIME ZONE 'Asia/Shanghai')
         AND c.province IN ('浙江', '广东') AND c.tags @> ARRAY['vip']
      UNION ALL
      SELECT t.segment_id, a.customer_id FROM customer_analytics a JOIN tier t ON t.cell = a.rfm_segment
       WHERE a.tenant_id = $1 AND EXISTS (SELECT 1 FROM customers c WHERE c.id = a.customer_id AND c.tenant_id = $1)
    ), removed AS (
      UPDATE bench_members m SET until = $3
       WHERE m.segment_id = ANY(array_append($4::uuid[], $2::uuid)) AND m.until IS NULL
         AND NOT EXISTS (SELECT 1 FROM target t WHERE t.segment_id = m.segment_id AND t.id = m.customer_id)
      RETURNING 1
    ), added AS (
      INSERT INTO bench_members (tenant_id, segment_id, customer_id, since)
      SELECT $1, t.segment_id, t.id, $3 FROM target t
       WHERE NOT EXISTS (SELECT 1 FROM bench_members m WHERE m.segment_id = t.segment_id AND m.customer_id = t.id AND m.until IS NULL)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM removed) AS removed`;
}

/** The value tiers refreshScores created: (segment id, RFM cell) pairs, the cells read from their queries. */
async function tierCells(pool: pg.Pool, tenantId: string): Promise<{ ids: string[]; cells: string[] }> {
  const { rows } = await pool.query<{ id: string; kind: string; query: string }>(`SELECT id::text, kind, query FROM segments WHERE tenant_id = $1 AND system_key IS NOT NULL`, [tenantId]);
  const pairs = rows.flatMap((r) => {
    const m = /^rfm_segment IN \(((?:"[A-Z_]+"(?:, )?)+)\)$/.exec(r.query ?? "");
    if (r.kind !== "RULE" || !m) throw new Error(`value tier ${r.id} is not "rfm_segment IN (…)": ${r.query}`);
    return [...m[1].matchAll(/"([A-Z_]+)"/g)].map((c) => [r.id, c[1]] as const);
  });
  return { ids: pairs.map((p) => p[0]), cells: pairs.map((p) => p[1]) };
}

/** `CASE` naming the band of `expr` (`0-5000`, …, `100000+`, NONE when null), as the insights' charts name them. */
function band(expr: string, edges: readonly number[]): string {
  const parts = edges.map((edge, i) => `WHEN ${expr} < ${edge} THEN '${i === 0 ? 0 : edges[i - 1]}-${edge}'`);
  return `CASE WHEN ${expr} IS NULL THEN 'NONE' ${parts.join(" ")} ELSE '${edges[edges.length - 1]}+' END`;
}

/**
 * The segment's insights by hand, in two statements as ours: members joined once to customers, stats and
 * analytics with every distribution in one GROUPING SETS; members joined to their counted orders for the
 * channel mix. Returns the same facts `insightFacts` reads from ours.
 */
async function baselineInsights(pool: pg.Pool, tenantId: string, segmentId: string): Promise<string[]> {
  const dims: Record<string, string> = {
    gender: "c.gender",
    province: "coalesce(c.province, 'NONE')",
    city: "coalesce(c.city, 'NONE')",
    lifecycleStage: "coalesce(a.lifecycle_stage, 'PROSPECT')",
    rfmSegment: "coalesce(a.rfm_segment, 'NONE')",
    averageOrderValueBand: band("CASE WHEN s.orders_count > 0 THEN round(s.total_spent::numeric / s.orders_count) END", AOV_BANDS),
    predictedValueBand: band("a.predicted_clv_365d", CLV_BANDS),
  };
  const names = Object.keys(dims);
  const [{ rows }, { rows: mix }] = [
    await pool.query(
      `SELECT ${names.map((n) => `${dims[n]} AS "${n}"`).join(", ")}, ${names.map((n) => `GROUPING(${dims[n]}) AS "g_${n}"`).join(", ")},
              count(*)::int AS customers, coalesce(sum(s.orders_count), 0)::bigint::text AS orders, coalesce(sum(s.total_spent), 0)::bigint::text AS revenue
         FROM segment_members m
         JOIN customers c ON c.id = m.customer_id
         LEFT JOIN customer_stats s ON s.customer_id = m.customer_id
         LEFT JOIN customer_analytics a ON a.customer_id = m.customer_id
        WHERE m.segment_id = $2 AND m.until IS NULL AND c.tenant_id = $1
        GROUP BY GROUPING SETS (${names.map((n) => `(${dims[n]})`).join(", ")}, ())`,
      [tenantId, segmentId],
    ),
    await pool.query(
      `SELECT o.channel, count(DISTINCT o.customer_id)::int AS customers
         FROM segment_members m JOIN orders o ON o.customer_id = m.customer_id
        WHERE m.segment_id = $2 AND m.until IS NULL AND o.tenant_id = $1 AND o.currency = 'CNY'
          AND (o.paid_at IS NOT NULL OR o.completed_at IS NOT NULL) AND o.refunded < o.total
        GROUP BY o.channel`,
      [tenantId, segmentId],
    ),
  ];
  const facts: string[] = [];
  for (const r of rows) {
    const dim = names.find((n) => r[`g_${n}`] === 0);
    if (dim) facts.push(`${dim}:${r[dim]}:${r.customers}`);
    else facts.push(`total:${r.customers}:${r.orders}:${r.revenue}`);
  }
  for (const r of mix) facts.push(`channel:${r.channel}:${r.customers}`);
  return facts.sort();
}

/** What ours answers, as comparable facts: every non-empty bucket of every distribution, and the totals. */
function insightFacts(i: SegmentInsights): string[] {
  const facts = [`total:${i.customers}:${i.orders}:${i.revenue}`];
  for (const dim of ["gender", "province", "city", "lifecycleStage", "rfmSegment", "averageOrderValueBand", "predictedValueBand", "channel"] as const) {
    for (const b of i[dim]) if (b.customers > 0) facts.push(`${dim}:${b.key}:${b.customers}`);
  }
  return facts.sort();
}

// ---- timing --------------------------------------------------------------------------------------

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

const TIMED_OUT = Symbol("timed out");

/** `work`, or TIMED_OUT after `seconds` — then the app's running statement is cancelled and its failure awaited. */
async function guarded<T>(work: Promise<T>, seconds: number, pool: pg.Pool, database: string): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), seconds * 1000);
  });
  const first = await Promise.race([work, late]);
  clearTimeout(timer);
  if (first === TIMED_OUT) {
    await cancelRunning(pool, database);
    await work.catch(() => undefined);
  }
  return first;
}

/** Cancels what the app's connections are running in the bench's database (the refit's statement). */
async function cancelRunning(pool: pg.Pool, database: string): Promise<void> {
  await pool.query(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active' AND application_name = 'omnichannel-crm'`, [database]);
}

/**
 * Times every statement the app sends through TypeORM during a step (round trip included), so the output
 * can say where a step's time goes; with BENCH_EXPLAIN=1 the slowest of each step is explained.
 */
function profileStatements() {
  const proto = PostgresQueryRunner.prototype;
  const original = proto.query;
  type Entry = { n: number; ms: number; sql: string; params: unknown[] | undefined; slowest: number };
  const steps: { name: string; ms: number; entries: Map<string, Entry>; stopped?: boolean }[] = [];
  let current: Map<string, Entry> | null = null;
  proto.query = async function (this: PostgresQueryRunner, query: string, parameters?: unknown[], ...rest: unknown[]) {
    const t = performance.now();
    try {
      return await (original as (...a: unknown[]) => Promise<unknown>).call(this, query, parameters, ...rest);
    } finally {
      const spent = performance.now() - t;
      if (current) {
        const label = query.replace(/\s+/g, " ").trim().slice(0, 110);
        const e = current.get(label) ?? { n: 0, ms: 0, sql: query, params: parameters, slowest: 0 };
        e.n++;
        e.ms += spent;
        if (spent > e.slowest) Object.assign(e, { slowest: spent, sql: query, params: parameters });
        current.set(label, e);
      }
    }
  } as typeof original;
  return {
    async step<T>(name: string, fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
      let entries = steps.find((s) => s.name === name);
      if (!entries) steps.push((entries = { name, ms: 0, entries: new Map() }));
      current = entries.entries;
      try {
        const r = await timed(fn);
        entries.ms += r.ms;
        if ((r.value as unknown) === TIMED_OUT) entries.stopped = true;
        return r;
      } finally {
        current = null;
      }
    },
    stop: () => void (proto.query = original),
    /** Time in the statements of a step whose label passes `which`. */
    sqlMs(name: string, which: (label: string) => boolean): number {
      const st = steps.find((x) => x.name === name);
      return st ? [...st.entries].filter(([label]) => which(label)).reduce((sum, [, e]) => sum + e.ms, 0) : 0;
    },
    print() {
      for (const s of steps) {
        const rows = [...s.entries].sort((x, y) => y[1].ms - x[1].ms);
        const sql = rows.reduce((sum, [, e]) => sum + e.ms, 0);
        console.log(`  ${s.name}: ${secs(s.ms)}, of which SQL round trips ${secs(sql)}`);
        for (const [label, e] of rows.slice(0, 4)) console.log(`    ${secs(e.ms).padStart(9)} ×${String(e.n).padEnd(4)} ${label}`);
      }
    },
    async explain(pool: pg.Pool) {
      for (const s of steps) {
        const [label, e] = [...s.entries].sort((x, y) => y[1].slowest - x[1].slowest)[0] ?? [];
        if (!e) continue;
        const c = await pool.connect();
        try {
          await c.query("BEGIN");
          // A statement that was stopped would not end under ANALYZE either: its plan alone.
          const how = s.stopped ? "" : "(ANALYZE, BUFFERS) ";
          const { rows } = await c.query(`EXPLAIN ${how}${e.sql}`, e.params as unknown[]);
          console.log(`EXPLAIN ${how}of ${s.name}, slowest statement (${label.slice(0, 60)}…)${s.stopped ? ", plan only (the step was stopped)" : ", in a rolled-back transaction"}:`);
          for (const r of rows) console.log(`    ${r["QUERY PLAN"]}`);
        } finally {
          await c.query("ROLLBACK");
          c.release();
        }
      }
    },
  };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 2)} s`;
const s3 = (ms: number) => Math.round(ms) / 1000;
const r3 = (v: number) => Math.round(v * 1000) / 1000;
