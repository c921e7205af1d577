import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, InputType, Int, Mutation, ObjectType, Query, Resolver, Root } from "type-graphql";
import { GraphQLJSONObject } from "graphql-scalars";
import { segmentInsights, SegmentInsights } from "./insights";
import { GraphQLSafeInt } from "graphql-scalars";
import { tenantOf, type RequestCtx } from "../../core/context";
import { badUserInput } from "../../core/errors";
import { toPayload } from "../../core/payload";
import { ok } from "../../core/user-error";
import { UserError } from "../../core/user-error";
import { Customer } from "../customers";
import { CustomerAnalyticsSettings, CustomerPredictions, CustomerRfm, CustomerValueModel, LifecycleStage } from "./scores";
import { expectedAverageValue, expectedPurchases, probabilityAlive } from "./value-model";
import type { StoredModel } from "./service";

const READ = "customers:read";

@ObjectType()
class RefreshCustomerValueModelPayload {
  @Field(() => CustomerValueModel, { nullable: true }) model: CustomerValueModel | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@ObjectType()
class RefreshCustomerAnalyticsPayload {
  @Field(() => Int, { nullable: true, description: "Customers with RFM scores now (orders in the window)." }) scoredCustomers: number | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
class UpdateCustomerAnalyticsSettingsInput {
  @Field(() => Int, { nullable: true }) rfmWindowDays?: number | null;
  @Field(() => Int, { nullable: true }) atRiskDays?: number | null;
  @Field(() => Int, { nullable: true }) dormantDays?: number | null;
  @Field(() => Int, { nullable: true }) churnedDays?: number | null;
  @Field(() => Int, { nullable: true }) loyalOrders?: number | null;
}

@ObjectType()
class UpdateCustomerAnalyticsSettingsPayload {
  @Field(() => CustomerAnalyticsSettings, { nullable: true }) settings: CustomerAnalyticsSettings | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

function asModel(m: StoredModel): CustomerValueModel {
  return Object.assign(new CustomerValueModel(), m);
}

const checkDays = (days: number) => {
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw badUserInput('"days" must be between 1 and 3650', "days");
};

@Resolver()
export class AnalyticsResolver {
  @Authorized(READ)
  @Query(() => CustomerValueModel, { nullable: true, description: "The tenant's fitted customer-value model; null before one is fitted." })
  async customerValueModel(@Ctx() ctx: RequestCtx): Promise<CustomerValueModel | null> {
    const m = await ctx.loaders.analytics.model.load("");
    return m ? asModel(m) : null;
  }

  @Authorized("admin")
  @Mutation(() => RefreshCustomerValueModelPayload, { description: "Fits the customer-value model now (it is refitted daily); INSUFFICIENT_DATA under 50 repeat customers." })
  async refreshCustomerValueModel(@Ctx() ctx: RequestCtx) {
    return toPayload(RefreshCustomerValueModelPayload, await ctx.app.analytics.refit(ctx), (m) => ({ model: asModel(m) }), { model: null });
  }

  @Authorized("admin")
  @Mutation(() => RefreshCustomerAnalyticsPayload, { description: "Recomputes RFM scores and lifecycle stages of every customer now (done daily)." })
  async refreshCustomerAnalytics(@Ctx() ctx: RequestCtx) {
    const n = await ctx.app.analytics.refreshScores(ctx);
    return toPayload(RefreshCustomerAnalyticsPayload, ok(n), (scoredCustomers) => ({ scoredCustomers }), { scoredCustomers: null });
  }

  @Authorized(READ)
  @Query(() => CustomerAnalyticsSettings, { description: "How RFM and lifecycle stages are computed for your tenant." })
  async customerAnalyticsSettings(@Ctx() ctx: RequestCtx): Promise<CustomerAnalyticsSettings> {
    return Object.assign(new CustomerAnalyticsSettings(), await ctx.app.analytics.settings(tenantOf(ctx)));
  }

  @Authorized("admin")
  @Mutation(() => UpdateCustomerAnalyticsSettingsPayload, { description: "RFM window and lifecycle thresholds; null resets a field to its default. Applied at the next refresh." })
  async updateCustomerAnalyticsSettings(@Arg("input", () => UpdateCustomerAnalyticsSettingsInput) input: UpdateCustomerAnalyticsSettingsInput, @Ctx() ctx: RequestCtx) {
    const r = await ctx.app.analytics.updateSettings(ctx, { ...input });
    return toPayload(UpdateCustomerAnalyticsSettingsPayload, r, (s) => ({ settings: Object.assign(new CustomerAnalyticsSettings(), s) }), { settings: null });
  }
}

@ObjectType({ description: "Two segments side by side." })
class SegmentComparison {
  @Field(() => SegmentInsights) a: SegmentInsights;
  @Field(() => SegmentInsights) b: SegmentInsights;
  @Field(() => Int, { description: "Customers in both." }) overlap: number;
}

@Resolver()
export class InsightsResolver {
  @Authorized("segments:read")
  @Query(() => SegmentInsights, { description: "Who is in a segment (its id), or in a rule not saved (query or condition): totals and distributions for charts." })
  async segmentInsights(
    @Arg("segmentId", () => ID, { nullable: true }) segmentId: string | null,
    @Arg("query", () => String, { nullable: true }) query: string | null,
    @Arg("condition", () => GraphQLJSONObject, { nullable: true }) condition: Record<string, unknown> | null,
    @Ctx() ctx: RequestCtx,
  ): Promise<SegmentInsights> {
    if (segmentId == null && query == null && condition == null) throw badUserInput("Give segmentId, query or condition", "segmentId");
    const r = await segmentInsights(ctx.app, ctx, { segmentId, query, condition });
    if (!r.ok) throw badUserInput(r.errors.map((e) => e.message).join("; "), r.errors[0]?.field?.join(".") ?? undefined);
    return r.value;
  }

  @Authorized("segments:read")
  @Query(() => SegmentComparison, { description: "Two segments' insights side by side, and how many customers they share." })
  async compareSegments(@Arg("a", () => ID) a: string, @Arg("b", () => ID) b: string, @Ctx() ctx: RequestCtx): Promise<SegmentComparison> {
    const [ra, rb] = await Promise.all([segmentInsights(ctx.app, ctx, { segmentId: a }), segmentInsights(ctx.app, ctx, { segmentId: b })]);
    if (!ra.ok) throw badUserInput(ra.errors.map((e) => e.message).join("; "), "a");
    if (!rb.ok) throw badUserInput(rb.errors.map((e) => e.message).join("; "), "b");
    return Object.assign(new SegmentComparison(), { a: ra.value, b: rb.value, overlap: await ctx.app.segments.overlap(ctx, a, b) });
  }
}

@Resolver(() => CustomerPredictions)
export class CustomerPredictionsResolver {
  @FieldResolver(() => Float, { description: "Expected number of orders (purchase days) in the next `days` days." })
  expectedOrders(@Root() p: CustomerPredictions, @Arg("days", () => Int) days: number): number {
    checkDays(days);
    return p.expectedOrdersIn(days);
  }

  @FieldResolver(() => GraphQLSafeInt, { description: "expectedOrders(days) × expectedOrderValue, undiscounted, in minor units of the tenant currency." })
  predictedClv(@Root() p: CustomerPredictions, @Arg("days", () => Int) days: number): number {
    checkDays(days);
    return Math.round(p.expectedOrdersIn(days) * p.expectedOrderValue);
  }
}

@Resolver(() => Customer)
export class CustomerAnalyticsResolver {
  @Authorized(READ)
  @FieldResolver(() => CustomerRfm, { nullable: true, description: "RFM scores; null without counted orders in the RFM window or before the first computation." })
  async rfm(@Root() c: Customer, @Ctx() ctx: RequestCtx): Promise<CustomerRfm | null> {
    const row = await ctx.loaders.analytics.row.load(c.id);
    if (!row || row.recency === null || !row.rfmSegment) return null;
    return Object.assign(new CustomerRfm(), { recency: row.recency, frequency: row.frequency, monetary: row.monetary, score: row.recency * 100 + row.frequency! * 10 + row.monetary!, segment: row.rfmSegment, computedAt: row.rfmAt });
  }

  @Authorized(READ)
  @FieldResolver(() => LifecycleStage, { description: "Where the customer is in their lifecycle (thresholds in customerAnalyticsSettings); PROSPECT until a first counted order." })
  async lifecycleStage(@Root() c: Customer, @Ctx() ctx: RequestCtx): Promise<LifecycleStage> {
    return (await ctx.loaders.analytics.row.load(c.id))?.lifecycleStage ?? LifecycleStage.PROSPECT;
  }

  @Authorized(READ)
  @FieldResolver(() => CustomerPredictions, { nullable: true, description: "Null before the tenant's model is fitted, or for a customer without a paid order." })
  async predictions(@Root() c: Customer, @Ctx() ctx: RequestCtx): Promise<CustomerPredictions | null> {
    const [model, summary] = await Promise.all([ctx.loaders.analytics.model.load(""), ctx.loaders.analytics.summary.load(c.id)]);
    if (!model || !summary) return null;
    const value = expectedAverageValue(model.gammaGamma, summary.x, summary.m ?? 0);
    return Object.assign(new CustomerPredictions(), {
      probabilityAlive: probabilityAlive(model.bgnbd, summary.x, summary.tx, summary.T),
      expectedOrderValue: Number.isFinite(value) ? Math.round(value) : 0,
      expectedOrdersIn: (days: number) => expectedPurchases(model.bgnbd, days, summary.x, summary.tx, summary.T),
    });
  }
}
