import { Arg, Authorized, Ctx, Field, InputType, Int, Mutation, ObjectType, Query, Resolver } from "type-graphql";
import { tenantOf, type RequestCtx } from "../../core/context";
import { fail, ok, userError, UserError, UserErrorCode, type Result } from "../../core/user-error";
import { toPayload } from "../../core/payload";
import { IdentityType } from "../customers";
import { normalizeIdentity } from "../customers";
import type { IdentityTypeName } from "../../plugins/identity";
import { identitySettings, type IdentitySettings } from "./settings";

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
    const errors: UserError[] = [];
    const stored: Record<string, unknown> = {};
    if (input.precedence) {
      if (new Set(input.precedence).size !== input.precedence.length) errors.push(userError(["precedence"], UserErrorCode.INVALID, "A type is listed twice"));
      stored.precedence = input.precedence;
    }
    if (input.limits) {
      input.limits.forEach((l, i) => {
        if (l.max < 1 || l.max > 100) errors.push(userError(["limits", String(i), "max"], UserErrorCode.INVALID, "Must be from 1 to 100"));
      });
      stored.limits = Object.fromEntries(input.limits.map((l) => [l.type, l.max]));
    }
    if (input.blocked) {
      if (input.blocked.length > 1000) errors.push(userError(["blocked"], UserErrorCode.TOO_MANY, "At most 1000 blocked values"));
      const blocked: Record<string, string[]> = {};
      const phoneRegion = (await ctx.app.tenancy.settings.get(tenantOf(ctx))).defaultPhoneRegion;
      input.blocked.forEach((b, i) => {
        const v = normalizeIdentity(b.type, b.value, phoneRegion);
        if (!v) errors.push(userError(["blocked", String(i), "value"], UserErrorCode.INVALID, `Not a valid ${b.type}`));
        else (blocked[b.type] ??= []).includes(v) || blocked[b.type].push(v);
      });
      stored.blocked = blocked;
    }
    const result: Result<IdentitySettings> = errors.length ? fail(...errors) : ok(await this.save(ctx, stored));
    return toPayload(UpdateIdentitySettingsPayload, result, (s) => ({ settings: toGraphQL(s) }), { settings: null });
  }

  private async save(ctx: RequestCtx, patch: Record<string, unknown>): Promise<IdentitySettings> {
    const tenantId = tenantOf(ctx);
    // One statement: merge into settings.identity without a read-modify-write race.
    // TypeORM answers UPDATE … RETURNING with [rows, affectedCount].
    const [rows]: [{ settings: Record<string, unknown> }[], number] = await ctx.app.db.dataSource.query(
      `UPDATE tenants SET settings = jsonb_set(settings, '{identity}', coalesce(settings->'identity', '{}') || $2::jsonb) WHERE id = $1 RETURNING settings`,
      [tenantId, JSON.stringify(patch)],
    );
    return identitySettings(rows[0]?.settings);
  }
}
