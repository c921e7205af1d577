import { Field, Float, Int, ObjectType } from "type-graphql";
import { GraphQLSafeInt } from "graphql-scalars";
import type { Ctx } from "../../core/context";
import { ok, type Result } from "../../core/user-error";
import type { App } from "../../app";
import { customersSql } from "../customers";
import { channelMixSql, joinCustomerStatsSql } from "../orders";
import { tenantTimeZoneSql } from "../tenancy";

@ObjectType({ description: "One bar of a distribution: a value and how many of the segment's customers have it." })
export class InsightBucket {
  @Field(() => String, { description: "The value (an enum name, a region, a band such as `10000-20000`); `NONE` for customers without one." }) key: string;
  @Field(() => Int) customers: number;
  @Field(() => Float, { description: "customers / the segment's customers (0–1)." }) share: number;
}

@ObjectType({ description: "Who is in a segment (人群透视): totals and distributions, each computed in SQL, ready for charts." })
export class SegmentInsights {
  @Field(() => Int) customers: number;
  @Field(() => GraphQLSafeInt, { description: "What they spent (counted orders, net of refunds), minor units of the tenant currency." }) revenue: number;
  @Field(() => Int, { description: "Their counted orders." }) orders: number;
  @Field(() => GraphQLSafeInt, { description: "revenue / orders, rounded; 0 without orders." }) averageOrderValue: number;
  @Field(() => Float, { description: "Of the customers with an order, the share with two or more (0–1)." }) repurchaseRate: number;
  @Field(() => Float, { description: "Share of their counted orders that carried a discount (0–1)." }) discountSensitivity: number;
  @Field(() => [InsightBucket]) gender: InsightBucket[];
  @Field(() => [InsightBucket], { description: "Age bands (this year less the birth year): under 18, 18-24, 25-29, 30-34, 35-39, 40-49, 50+; NONE without a birthday." }) ageBand: InsightBucket[];
  @Field(() => [InsightBucket], { description: "The 30 largest provinces; the rest under OTHER." }) province: InsightBucket[];
  @Field(() => [InsightBucket], { description: "The 30 largest cities; the rest under OTHER." }) city: InsightBucket[];
  @Field(() => [InsightBucket], { description: "Customers with a counted order on each channel (one customer may count on several)." }) channel: InsightBucket[];
  @Field(() => [InsightBucket]) lifecycleStage: InsightBucket[];
  @Field(() => [InsightBucket], { description: "Named RFM cells; NONE without orders in the RFM window." }) rfmSegment: InsightBucket[];
  @Field(() => [InsightBucket], { description: "Average order value bands in minor units (`0-5000` is under ¥50)." }) averageOrderValueBand: InsightBucket[];
  @Field(() => [InsightBucket], { description: "Predicted 365-day value bands in minor units; NONE before a model or without orders." }) predictedValueBand: InsightBucket[];
}

/** Band edges in minor units (¥50, ¥100, ¥200, ¥500, ¥1,000 for orders; ¥100 … ¥5,000 for a year's value). */
export const AOV_BANDS = [5_000, 10_000, 20_000, 50_000, 100_000];
export const CLV_BANDS = [10_000, 50_000, 200_000, 500_000];
const TOP = 30;

/** `CASE` naming the band of `expr`: `0-5000`, `5000-10000`, …, `100000+`; NONE when null. */
function bandSql(expr: string, edges: readonly number[]): string {
  const parts = edges.map((edge, i) => `WHEN ${expr} < ${edge} THEN '${i === 0 ? 0 : edges[i - 1]}-${edge}'`);
  return `CASE WHEN ${expr} IS NULL THEN 'NONE' ${parts.join(" ")} ELSE '${edges[edges.length - 1]}+' END`;
}

/** The bands in their natural order, for stable charts (empty bands included). */
function bandKeys(edges: readonly number[]): string[] {
  return [...edges.map((e, i) => `${i === 0 ? 0 : edges[i - 1]}-${e}`), `${edges[edges.length - 1]}+`];
}

const AGE_BANDS = [18, 25, 30, 35, 40, 50];
type Dimension = "ageBand" | "gender" | "province" | "city" | "lifecycleStage" | "rfmSegment" | "averageOrderValueBand" | "predictedValueBand";

/**
 * Totals and distributions of a set of customers in two statements: one over the customers with their
 * stats and analytics (GROUPING SETS, one scan for every distribution), one over their orders
 * (channels, discounts).
 */
export async function segmentInsights(app: Pick<App, "db" | "segments">, ctx: Ctx, input: { segmentId?: string | null; query?: string | null; condition?: Record<string, unknown> | null }): Promise<Result<SegmentInsights>> {
  const members = await app.segments.memberQuery(ctx, input);
  if (!members.ok) return members;
  const { q, sql } = members.value;
  const memberValues = [...q.values]; // before `q.now` may bind one more, which the orders statement does not use
  const age = `(extract(year FROM ${q.now} AT TIME ZONE ${tenantTimeZoneSql("$1")})::int - c.birth_year)`;
  const dims: Record<Dimension, string> = {
    ageBand: bandSql(age, AGE_BANDS),
    gender: "c.gender",
    province: "coalesce(c.province, 'NONE')",
    city: "coalesce(c.city, 'NONE')",
    lifecycleStage: "coalesce(a.lifecycle_stage, 'PROSPECT')",
    rfmSegment: "coalesce(a.rfm_segment, 'NONE')",
    averageOrderValueBand: bandSql("CASE WHEN s.orders_count > 0 THEN round(s.total_spent::numeric / s.orders_count) END", AOV_BANDS),
    predictedValueBand: bandSql("a.predicted_clv_365d", CLV_BANDS),
  };
  const names = Object.keys(dims) as Dimension[];
  const rows: Record<string, unknown>[] = await app.db.dataSource.query(
    `WITH m AS (${sql}),
     base AS (
       SELECT ${names.map((n) => `${dims[n]} AS "${n}"`).join(", ")},
              coalesce(s.orders_count, 0) AS orders_count, coalesce(s.total_spent, 0) AS total_spent
         FROM ${customersSql("c")} ${joinCustomerStatsSql("c", "s", "$1")}
         LEFT JOIN customer_analytics a ON a.customer_id = c.id AND a.tenant_id = $1
        WHERE c.tenant_id = $1 AND c.id IN (SELECT id FROM m)
     )
     SELECT ${names.map((n) => `"${n}"`).join(", ")}, ${names.map((n) => `GROUPING("${n}") AS "g_${n}"`).join(", ")},
            count(*)::int AS customers, sum(orders_count)::bigint::text AS orders, sum(total_spent)::bigint::text AS revenue,
            (count(*) FILTER (WHERE orders_count >= 2))::int AS repeaters, (count(*) FILTER (WHERE orders_count >= 1))::int AS buyers
       FROM base
      GROUP BY GROUPING SETS (${names.map((n) => `("${n}")`).join(", ")}, ())`,
    q.values,
  );
  const mix: { channel: string; customers: number; orders: number; discounted: number }[] = await app.db.dataSource.query(channelMixSql("$1", sql), memberValues);

  const total = rows.find((r) => names.every((n) => r[`g_${n}`] === 1));
  const customers = total ? Number(total.customers) : 0;
  const orders = total ? Number(total.orders ?? 0) : 0;
  const revenue = total ? Number(total.revenue ?? 0) : 0;
  const buyers = total ? Number(total.buyers) : 0;
  const share = (n: number, of = customers) => (of ? n / of : 0);
  const buckets = (dim: Dimension): InsightBucket[] => {
    const list = rows
      .filter((r) => r[`g_${dim}`] === 0 && names.filter((n) => n !== dim).every((n) => r[`g_${n}`] === 1))
      .map((r) => ({ key: String(r[dim]), customers: Number(r.customers) }))
      .sort((x, y) => y.customers - x.customers || x.key.localeCompare(y.key));
    return list.map((b) => Object.assign(new InsightBucket(), { ...b, share: share(b.customers) }));
  };
  const top = (list: InsightBucket[]): InsightBucket[] => {
    if (list.length <= TOP) return list;
    const rest = list.slice(TOP).reduce((n, b) => n + b.customers, 0);
    return [...list.slice(0, TOP), Object.assign(new InsightBucket(), { key: "OTHER", customers: rest, share: share(rest) })];
  };
  const ordered = (list: InsightBucket[], keys: readonly string[]): InsightBucket[] =>
    [...keys, "NONE"].flatMap((k) => {
      const b = list.find((x) => x.key === k);
      return b ? [b] : k === "NONE" ? [] : [Object.assign(new InsightBucket(), { key: k, customers: 0, share: 0 })];
    });
  const allOrders = mix.reduce((n, r) => n + r.orders, 0);
  return ok(
    Object.assign(new SegmentInsights(), {
      customers,
      revenue,
      orders,
      averageOrderValue: orders ? Math.round(revenue / orders) : 0,
      repurchaseRate: share(total ? Number(total.repeaters) : 0, buyers),
      discountSensitivity: allOrders ? mix.reduce((n, r) => n + r.discounted, 0) / allOrders : 0,
      gender: buckets("gender"),
      ageBand: ordered(buckets("ageBand"), bandKeys(AGE_BANDS)),
      province: top(buckets("province")),
      city: top(buckets("city")),
      channel: mix
        .map((r) => Object.assign(new InsightBucket(), { key: r.channel, customers: r.customers, share: share(r.customers) }))
        .sort((x, y) => y.customers - x.customers || x.key.localeCompare(y.key)),
      lifecycleStage: buckets("lifecycleStage"),
      rfmSegment: buckets("rfmSegment"),
      averageOrderValueBand: ordered(buckets("averageOrderValueBand"), bandKeys(AOV_BANDS)),
      predictedValueBand: ordered(buckets("predictedValueBand"), bandKeys(CLV_BANDS)),
    }),
  );
}
