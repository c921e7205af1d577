import { Arg, Args, Authorized, Ctx, Query, Resolver } from "type-graphql";
import type { RequestCtx } from "../../core/context";
import { registerNodeType } from "../../core/node";
import { ConnectionArgs, ConnectionType } from "../../core/pagination";
import { AuditLogFilter, AuditRecord } from "./entity";

export const AuditRecordConnection = ConnectionType(AuditRecord, "AuditRecord");

registerNodeType("AuditRecord", "admin", (ctx, id) => ctx.app.audit.byId(ctx, id));

@Resolver(() => AuditRecord)
export class AuditResolver {
  @Authorized("admin")
  @Query(() => AuditRecordConnection, { description: "Your tenant's audit log, newest first: every mutation (exports included) and every read that served personal values unmasked." })
  auditLog(
    @Arg("filter", () => AuditLogFilter, { nullable: true }) filter: AuditLogFilter | null,
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Ctx() ctx: RequestCtx,
  ) {
    return ctx.app.audit.list(ctx, filter, page);
  }
}
