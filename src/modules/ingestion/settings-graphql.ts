import { Arg, Authorized, Ctx, Field, InputType, Int, Mutation, ObjectType, Query, Resolver } from "type-graphql";
import { tenantOf, type RequestCtx } from "../../core/context";
import { UserError } from "../../core/user-error";
import { toPayload } from "../../core/payload";
import { IdentityType } from "../customers";
import type { IdentityTypeName } from "../../plugins/identity";
import type { IdentitySettings } from "./settings";

@ObjectType()
export class IdentityLimit {
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => Int, { description: "At most this many values of the type per customer." }) max: number;
}

@ObjectType()
export class BlockedIdentity {
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => String) value: string;
}

@ObjectType({ description: "How this tenant's channel events are matched to customers." })
export class IdentitySettingsType {
  @Field(() => [IdentityType], { description: "Strongest first: decides which customer an event goes to when its identifiers point at customers that cannot be merged." })
  precedence: IdentityTypeName[];
  @Field(() => [IdentityLimit]) limits: IdentityLimit[];
  @Field(() => [BlockedIdentity], { description: "Values that never match anyone, besides the built-in rules for shared or placeholder phones and e-mails." })
  blocked: BlockedIdentity[];
}

@InputType()
class IdentityLimitInput {
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => Int) max: number;
}

@InputType()
class BlockedIdentityInput {
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => String) value: string;
}

@InputType()
export class UpdateIdentitySettingsInput {
  @Field(() => [IdentityType], { nullable: true, description: "Replaces the order; types left out follow in the default order." })
  precedence?: IdentityTypeName[] | null;
  @Field(() => [IdentityLimitInput], { nullable: true, description: "Replaces the tenant's limits; the built-in one wechat_unionid per customer stays unless this list sets wechat_unionid itself." })
  limits?: IdentityLimitInput[] | null;
  @Field(() => [BlockedIdentityInput], { nullable: true, description: "Replaces the tenant's blocked values." }) blocked?: BlockedIdentityInput[] | null;
}

@ObjectType()
export class UpdateIdentitySettingsPayload {
  @Field(() => IdentitySettingsType, { nullable: true }) settings: IdentitySettingsType | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

function toGraphQL(s: IdentitySettings): IdentitySettingsType {
  return Object.assign(new IdentitySettingsType(), {
    precedence: s.precedence,
    limits: Object.entries(s.limits).map(([type, max]) => ({ type, max })),
    blocked: Object.entries(s.blocked).flatMap(([type, values]) => (values ?? []).map((value) => ({ type, value }))),
  });
}

@Resolver()
export class IdentitySettingsResolver {
  @Authorized("customers:read")
  @Query(() => IdentitySettingsType)
  async identitySettings(@Ctx() ctx: RequestCtx): Promise<IdentitySettingsType> {
    return toGraphQL(await ctx.app.ingestion.settings(tenantOf(ctx)));
  }

  @Authorized("admin")
  @Mutation(() => UpdateIdentitySettingsPayload)
  async updateIdentitySettings(@Arg("input", () => UpdateIdentitySettingsInput) input: UpdateIdentitySettingsInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.ingestion.updateSettings(ctx, input);
    return toPayload(UpdateIdentitySettingsPayload, result, (s) => ({ settings: toGraphQL(s) }), { settings: null });
  }
}
