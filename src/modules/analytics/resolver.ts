import { Arg, Authorized, Ctx, Field, FieldResolver, Float, InputType, Int, Mutation, ObjectType, Query, Resolver, Root } from "type-graphql";
import { GraphQLSafeInt } from "graphql-scalars";
import type { RequestCtx } from "../../core/context";
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
    return Object.assign(new CustomerAnalyticsSettings(), await ctx.app.analytics.settings((ctx.principal as { tenantId: string }).tenantId));
  }

  @Authorized("admin")
  @Mutation(() => UpdateCustomerAnalyticsSettingsPayload, { description: "RFM window and lifecycle thresholds; null resets a field to its default. Applied at the next refresh." })
  async updateCustomerAnalyticsSettings(@Arg("input", () => UpdateCustomerAnalyticsSettingsInput) input: UpdateCustomerAnalyticsSettingsInput, @Ctx() ctx: RequestCtx) {
    const r = await ctx.app.analytics.updateSettings(ctx, { ...input });
    return toPayload(UpdateCustomerAnalyticsSettingsPayload, r, (s) => ({ settings: Object.assign(new CustomerAnalyticsSettings(), s) }), { settings: null });
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
