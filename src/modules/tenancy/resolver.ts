import { Arg, Authorized, Ctx, Mutation, Query, Resolver } from "type-graphql";
import type { RequestCtx } from "../../core/context";
import { toPayload } from "../../core/payload";
import { registerNodeType } from "../../core/node";
import { ApiKey } from "./entity";
import {
  CreateApiKeyInput,
  CreateApiKeyPayload,
  CreateTenantInput,
  CreateTenantPayload,
  RevokeApiKeyInput,
  RevokeApiKeyPayload,
  Viewer,
} from "./inputs";

registerNodeType("Tenant", "customers:read", async (ctx, id) =>
  ctx.principal.kind === "api_key" && ctx.principal.tenantId === id ? ctx.app.tenancy.tenantById(id) : null,
);
registerNodeType("ApiKey", "admin", async (ctx, id) =>
  ctx.principal.kind === "api_key" ? ctx.app.db.dataSource.manager.findOne(ApiKey, { where: { id, tenantId: ctx.principal.tenantId } }) : null,
);

@Resolver()
export class TenancyResolver {
  @Query(() => Viewer)
  async viewer(@Ctx() ctx: RequestCtx): Promise<Viewer> {
    const p = ctx.principal;
    return Object.assign(new Viewer(), {
      tenant: p.kind === "api_key" ? await ctx.app.tenancy.tenantById(p.tenantId) : null,
      scopes: p.kind === "api_key" ? [...p.scopes] : ["platform"],
      isPlatform: p.kind === "platform",
    });
  }

  @Authorized("admin")
  @Query(() => [ApiKey], { description: "Your tenant's keys that are not revoked." })
  apiKeys(@Ctx() ctx: RequestCtx): Promise<ApiKey[]> {
    return ctx.app.tenancy.listApiKeys(ctx);
  }

  @Authorized("platform")
  @Mutation(() => CreateTenantPayload, { description: "Platform key only. Creates a tenant and its first admin key." })
  async createTenant(@Arg("input", () => CreateTenantInput) input: CreateTenantInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.tenancy.createTenant(ctx, input.name);
    return toPayload(CreateTenantPayload, result, (r) => ({ tenant: r.tenant, apiKey: r.apiKey }), { tenant: null, apiKey: null });
  }

  @Authorized(["platform", "admin"])
  @Mutation(() => CreateApiKeyPayload)
  async createApiKey(@Arg("input", () => CreateApiKeyInput) input: CreateApiKeyInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.tenancy.createApiKey(ctx, input);
    return toPayload(CreateApiKeyPayload, result, (r) => ({ apiKey: r.apiKey, key: r.key }), { apiKey: null, key: null });
  }

  @Authorized(["platform", "admin"])
  @Mutation(() => RevokeApiKeyPayload, { description: "Takes effect at once: open subscriptions of the key are closed." })
  async revokeApiKey(@Arg("input", () => RevokeApiKeyInput) input: RevokeApiKeyInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.tenancy.revokeApiKey(ctx, input.id);
    return toPayload(RevokeApiKeyPayload, result, (key) => ({ key }), { key: null });
  }
}
