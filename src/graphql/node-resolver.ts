import { Arg, Ctx, ID, Query, Resolver } from "type-graphql";
import { hasScope, type RequestCtx } from "../core/context";
import { fromGlobalId } from "../core/global-id";
import { Node, nodeType } from "../core/node";

@Resolver()
export class NodeResolver {
  @Query(() => Node, {
    nullable: true,
    description: "Any object by global id. Null when it does not exist, belongs to another tenant, or your key may not read it.",
  })
  async node(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx): Promise<object | null> {
    const parsed = fromGlobalId(id);
    if (!parsed) return null;
    const type = nodeType(parsed.type);
    if (!type || !hasScope(ctx.principal, type.readScope)) return null;
    return type.fetch(ctx, parsed.id);
  }
}
