import { Field, Float, Int, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLSafeInt } from "graphql-scalars";

/** The classic named RFM cells. */
export enum RfmSegment {
  CHAMPIONS = "CHAMPIONS",
  LOYAL = "LOYAL",
  POTENTIAL_LOYALISTS = "POTENTIAL_LOYALISTS",
  NEW = "NEW",
  PROMISING = "PROMISING",
  NEED_ATTENTION = "NEED_ATTENTION",
  AT_RISK = "AT_RISK",
  CANT_LOSE = "CANT_LOSE",
  HIBERNATING = "HIBERNATING",
  LOST = "LOST",
}
registerEnumType(RfmSegment, { name: "RfmSegment", description: "The named RFM cell, from the recency score and the mean of the frequency and monetary scores (docs/analytics.md)." });

export enum LifecycleStage {
  PROSPECT = "PROSPECT",
  FIRST_PURCHASE = "FIRST_PURCHASE",
  REPEAT = "REPEAT",
  LOYAL = "LOYAL",
  AT_RISK = "AT_RISK",
  DORMANT = "DORMANT",
  CHURNED = "CHURNED",
}
registerEnumType(LifecycleStage, {
  name: "LifecycleStage",
  valuesConfig: {
    PROSPECT: { description: "No counted order yet." },
    FIRST_PURCHASE: { description: "One counted order, recent enough." },
    REPEAT: { description: "Two or more orders, recent enough." },
    LOYAL: { description: "At least `loyalOrders` orders, recent enough." },
    AT_RISK: { description: "Last order more than `atRiskDays` ago." },
    DORMANT: { description: "Last order more than `dormantDays` ago." },
    CHURNED: { description: "Last order more than `churnedDays` ago." },
  },
});

/**
 * Rows: recency score 5 → 1; columns: FM = round((F + M) / 2), 1 → 5. Recent and frequent/valuable
 * customers are champions; long-gone valuable ones are "can't lose"; long-gone small ones are lost.
 */
export const RFM_GRID: Record<number, readonly RfmSegment[]> = {
  5: [RfmSegment.NEW, RfmSegment.POTENTIAL_LOYALISTS, RfmSegment.POTENTIAL_LOYALISTS, RfmSegment.CHAMPIONS, RfmSegment.CHAMPIONS],
  4: [RfmSegment.PROMISING, RfmSegment.POTENTIAL_LOYALISTS, RfmSegment.POTENTIAL_LOYALISTS, RfmSegment.CHAMPIONS, RfmSegment.CHAMPIONS],
  3: [RfmSegment.NEED_ATTENTION, RfmSegment.NEED_ATTENTION, RfmSegment.NEED_ATTENTION, RfmSegment.LOYAL, RfmSegment.LOYAL],
  2: [RfmSegment.HIBERNATING, RfmSegment.HIBERNATING, RfmSegment.AT_RISK, RfmSegment.AT_RISK, RfmSegment.CANT_LOSE],
  1: [RfmSegment.LOST, RfmSegment.LOST, RfmSegment.AT_RISK, RfmSegment.CANT_LOSE, RfmSegment.CANT_LOSE],
};

export function rfmCell(r: number, f: number, m: number): RfmSegment {
  const fm = Math.floor((f + m + 1) / 2);
  return RFM_GRID[r][fm - 1];
}

/** The grid as SQL rows `(r, fm, segment)`, so the statement and `rfmCell` cannot disagree. */
export function rfmGridValuesSql(): string {
  return Object.entries(RFM_GRID)
    .flatMap(([r, row]) => row.map((seg, i) => `(${Number(r)}, ${i + 1}, '${seg}')`))
    .join(", ");
}

/** Per tenant (settings section `analytics`); defaults for a merchant with monthly-ish purchase cycles. */
export interface AnalyticsSettings {
  /** Days of orders RFM looks at (default 365). */
  rfmWindowDays: number;
  /** A customer whose last order is older than this is AT_RISK (default 90), DORMANT (180), CHURNED (365). */
  atRiskDays: number;
  dormantDays: number;
  churnedDays: number;
  /** Orders (recent enough) from which a customer is LOYAL (default 5). */
  loyalOrders: number;
}

export const DEFAULT_ANALYTICS_SETTINGS: AnalyticsSettings = { rfmWindowDays: 365, atRiskDays: 90, dormantDays: 180, churnedDays: 365, loyalOrders: 5 };

const BOUNDS: Record<keyof AnalyticsSettings, [number, number]> = {
  rfmWindowDays: [7, 3650],
  atRiskDays: [1, 3650],
  dormantDays: [1, 3650],
  churnedDays: [1, 3650],
  loyalOrders: [2, 1000],
};

/** The stored section with defaults filled in (a stored value out of bounds falls back to the default). */
export function readAnalyticsSettings(raw: Record<string, unknown>): AnalyticsSettings {
  const out = { ...DEFAULT_ANALYTICS_SETTINGS };
  for (const key of Object.keys(BOUNDS) as (keyof AnalyticsSettings)[]) {
    const v = raw[key];
    if (Number.isInteger(v) && (v as number) >= BOUNDS[key][0] && (v as number) <= BOUNDS[key][1]) out[key] = v as number;
  }
  if (!(out.atRiskDays < out.dormantDays && out.dormantDays < out.churnedDays)) Object.assign(out, { atRiskDays: DEFAULT_ANALYTICS_SETTINGS.atRiskDays, dormantDays: DEFAULT_ANALYTICS_SETTINGS.dormantDays, churnedDays: DEFAULT_ANALYTICS_SETTINGS.churnedDays });
  return out;
}

/** Checks a patch; messages by field. */
export function checkAnalyticsSettings(patch: Partial<Record<keyof AnalyticsSettings, number | null>>, current: AnalyticsSettings): { field: string; message: string }[] {
  const errors: { field: string; message: string }[] = [];
  const next = { ...current };
  for (const key of Object.keys(BOUNDS) as (keyof AnalyticsSettings)[]) {
    const v = patch[key];
    if (v === undefined) continue;
    if (v === null) next[key] = DEFAULT_ANALYTICS_SETTINGS[key];
    else if (!Number.isInteger(v) || v < BOUNDS[key][0] || v > BOUNDS[key][1]) errors.push({ field: key, message: `Between ${BOUNDS[key][0]} and ${BOUNDS[key][1]}` });
    else next[key] = v;
  }
  if (!errors.length && !(next.atRiskDays < next.dormantDays && next.dormantDays < next.churnedDays)) {
    errors.push({ field: "dormantDays", message: "atRiskDays < dormantDays < churnedDays" });
  }
  return errors;
}

@ObjectType({ description: "Recency, frequency and monetary value scored 1–5 by quintile among the tenant's customers with orders in the RFM window." })
export class CustomerRfm {
  @Field(() => Int, { description: "5: ordered most recently." }) recency: number;
  @Field(() => Int, { description: "5: most orders in the window." }) frequency: number;
  @Field(() => Int, { description: "5: spent most in the window." }) monetary: number;
  @Field(() => Int, { description: "The three scores as one number, e.g. 545." }) score: number;
  @Field(() => RfmSegment) segment: RfmSegment;
  @Field(() => Date, { description: "When the scores were computed (daily, or refreshCustomerAnalytics)." }) computedAt: Date;
}

@ObjectType()
export class BgNbdParameters {
  @Field(() => Float) r: number;
  @Field(() => Float, { description: "In days." }) alpha: number;
  @Field(() => Float) a: number;
  @Field(() => Float) b: number;
}

@ObjectType()
export class GammaGammaParameters {
  @Field(() => Float) p: number;
  @Field(() => Float) q: number;
  @Field(() => Float, { description: "In minor units of the tenant currency." }) v: number;
}

@ObjectType({ description: "The tenant's fitted customer-value model: BG/NBD for repeat purchasing, Gamma-Gamma for spend per purchase (docs/analytics.md)." })
export class CustomerValueModel {
  @Field(() => Date) fittedAt: Date;
  @Field(() => Int, { description: "Customers with at least one paid order (in the tenant currency)." }) customers: number;
  @Field(() => Int, { description: "Of them, customers with at least one repeat purchase day." }) repeatCustomers: number;
  @Field(() => BgNbdParameters) bgnbd: BgNbdParameters;
  @Field(() => GammaGammaParameters) gammaGamma: GammaGammaParameters;
}

@ObjectType({ description: "What the tenant's customer-value model predicts for this customer, now." })
export class CustomerPredictions {
  @Field(() => Float, { description: "Probability (0–1) that the customer is still active (BG/NBD P(alive))." }) probabilityAlive: number;
  /** Per horizon, through field resolvers. */
  expectedOrdersIn: (days: number) => number;
  @Field(() => GraphQLSafeInt, { description: "Expected value of a future purchase (Gamma-Gamma), in minor units of the tenant currency." }) expectedOrderValue: number;
}

@ObjectType({ description: "Per tenant: how RFM and lifecycle stages are computed." })
export class CustomerAnalyticsSettings {
  @Field(() => Int) rfmWindowDays: number;
  @Field(() => Int) atRiskDays: number;
  @Field(() => Int) dormantDays: number;
  @Field(() => Int) churnedDays: number;
  @Field(() => Int) loyalOrders: number;
}

/**
 * The value tiers Youzan merchants use (客户分级), as built-in rule segments over the RFM cells, created
 * for a tenant at its first analytics refresh; the merchant may edit or delete them.
 */
export const VALUE_TIERS = [
  { systemKey: "HIGH_VALUE", name: "高价值客户 High value", description: "Recent, frequent and big spenders (RFM champions and loyal customers).", query: 'rfm_segment IN ("CHAMPIONS", "LOYAL")' },
  { systemKey: "POTENTIAL", name: "潜力客户 Potential", description: "Recent buyers who could become loyal (potential loyalists, new, promising).", query: 'rfm_segment IN ("POTENTIAL_LOYALISTS", "NEW", "PROMISING")' },
  { systemKey: "ORDINARY", name: "一般客户 Ordinary", description: "Customers slipping or needing attention (need attention, at risk, can't lose).", query: 'rfm_segment IN ("NEED_ATTENTION", "AT_RISK", "CANT_LOSE")' },
  { systemKey: "DORMANT", name: "沉睡客户 Dormant", description: "Customers who stopped buying (hibernating, lost).", query: 'rfm_segment IN ("HIBERNATING", "LOST")' },
] as const;
