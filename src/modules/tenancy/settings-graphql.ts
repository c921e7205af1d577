import { Arg, Authorized, Ctx, Field, InputType, Int, Mutation, ObjectType, Query, Resolver } from "type-graphql";
import { tenantOf, type RequestCtx } from "../../core/context";
import { forbidden } from "../../core/errors";
import { toPayload } from "../../core/payload";
import { UserError } from "../../core/user-error";
import type { TenantSettings } from "./settings";

@ObjectType("TenantSettings", { description: "The tenant's general settings. Everything date-based uses `timeZone`." })
export class TenantSettingsType implements TenantSettings {
  @Field(() => String, { description: "ISO 4217 (default CNY). Customer stats count orders in this currency." }) currency: string;
  @Field(() => String, { description: "IANA time zone (default Asia/Shanghai)." }) timeZone: string;
  @Field(() => String, { description: "BCP 47 language tag (default zh-CN)." }) locale: string;
  @Field(() => String, { description: "Region for phone numbers written without a country code (default DEFAULT_PHONE_REGION, CN)." })
  defaultPhoneRegion: string;
  @Field(() => Int, { description: "Days an ingested event keeps its payload (default 90, 1–3650); then only what dedupe needs stays (channel, key, type, times)." })
  eventPayloadRetentionDays: number;
  @Field(() => Int, { nullable: true, description: "Days without a sighting after which a daily job erases a customer (reason `retention`); null (the default): customers are kept. 30–36500." })
  inactiveCustomerRetentionDays: number | null;
}

@InputType({ description: "Omitted fields stay as they are; null resets a field to its default." })
export class UpdateTenantSettingsInput {
  @Field(() => String, { nullable: true, description: "ISO 4217. A new currency re-derives every customer's stats." }) currency?: string | null;
  @Field(() => String, { nullable: true, description: "IANA time zone name, e.g. Asia/Shanghai (not an offset)." }) timeZone?: string | null;
  @Field(() => String, { nullable: true, description: "BCP 47, e.g. zh-CN." }) locale?: string | null;
  @Field(() => String, { nullable: true, description: "ISO 3166-1 alpha-2, e.g. CN." }) defaultPhoneRegion?: string | null;
  @Field(() => Int, { nullable: true, description: "1–3650 (null: 90)." }) eventPayloadRetentionDays?: number | null;
  @Field(() => Int, { nullable: true, description: "30–36500 (null: keep customers). Irreversible for those it reaches: the next daily run erases every customer not seen for that long." })
  inactiveCustomerRetentionDays?: number | null;
}

@ObjectType()
export class UpdateTenantSettingsPayload {
  @Field(() => TenantSettingsType, { nullable: true }) settings: TenantSettingsType | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

const asType = (s: TenantSettings) => Object.assign(new TenantSettingsType(), s);

@Resolver()
export class TenantSettingsResolver {
  @Query(() => TenantSettingsType, { description: "The settings of your key's tenant (any key of the tenant may read them)." })
  async tenantSettings(@Ctx() ctx: RequestCtx): Promise<TenantSettingsType> {
    if (ctx.principal.kind !== "api_key") throw forbidden("The platform key has no tenant; use a key of the tenant");
    return asType(await ctx.app.tenancy.settings.get(tenantOf(ctx)));
  }

  @Authorized("admin")
  @Mutation(() => UpdateTenantSettingsPayload)
  async updateTenantSettings(@Arg("input", () => UpdateTenantSettingsInput) input: UpdateTenantSettingsInput, @Ctx() ctx: RequestCtx): Promise<UpdateTenantSettingsPayload> {
    const result = await ctx.app.tenancy.settings.update(ctx, input);
    return toPayload(UpdateTenantSettingsPayload, result, (s) => ({ settings: asType(s) }), { settings: null });
  }
}
