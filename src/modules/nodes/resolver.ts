import { Arg, Ctx, ID, Query, Resolver } from "type-graphql";
import { hasScope, type RequestCtx } from "../../core/context";
import { fromGlobalId } from "../../core/global-id";
import { Node, nodeFetcher } from "./node";

/** Scope needed to read each node type through `node(id)`. */
const READ_SCOPE: Record<string, string> = {
  Customer: "customers:read",
  CustomerIdentity: "customers:read",
  Tenant: "customers:read",
  ApiKey: "admin",
  ChannelConnection: "admin",
  CustomerMerge: "customers:read",
  Order: "orders:read",
  ImportJob: "customers:read",
};

@Resolver()
export class NodeResolver {
  @Query(() => Node, {
    nullable: true,
    description: "Any object by global id. Null when it does not exist, belongs to another tenant, or your key may not read it.",
  })
  async node(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx): Promise<object | null> {
    const parsed = fromGlobalId(id);
    if (!parsed) return null;
    const fetch = nodeFetcher(parsed.type);
    const scope = READ_SCOPE[parsed.type] ?? "admin";
    if (!fetch || !hasScope(ctx.principal, scope)) return null;
    return fetch(ctx, parsed.id);
  }
}
