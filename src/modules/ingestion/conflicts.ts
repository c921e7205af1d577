import { tenantOf, type Ctx } from "../../core/context";
import { localId } from "../../core/global-id";
import { paginate, SortDirection, type Connection, type ConnectionArgs } from "../../core/pagination";
import { fail, ok, userError, UserErrorCode, type Result } from "../../core/user-error";
import type { App } from "../../app";
import { IdentityConflict, IdentityConflictStatus, type IdentityConflictFilter } from "./conflict-entity";

/** What IdentityConflicts uses of the app, and nothing more. */
export type ConflictsDeps = Pick<App, "db">;

/** Identity conflicts recorded by the pipeline, for review: listing them, and closing one. */
export class IdentityConflicts {
  constructor(private readonly app: ConflictsDeps) {}

  /** Conflicts of the caller's tenant (open ones unless the filter says otherwise), newest first, one page. */
  list(ctx: Ctx, filter: IdentityConflictFilter | null | undefined, args: ConnectionArgs): Promise<Connection<IdentityConflict>> {
    const qb = this.app.db.dataSource.manager.createQueryBuilder(IdentityConflict, "c").where("c.tenantId = :tenantId", { tenantId: tenantOf(ctx) });
    const status = filter?.status ?? IdentityConflictStatus.OPEN;
    if (status === IdentityConflictStatus.OPEN) qb.andWhere("c.resolvedAt IS NULL");
    if (status === IdentityConflictStatus.RESOLVED) qb.andWhere("c.resolvedAt IS NOT NULL");
    if (filter?.channel != null) qb.andWhere("c.channel = :channel", { channel: filter.channel });
    if (filter?.customerId != null) {
      // An id that names no customer matches nothing, as a customer without conflicts does.
      const customerId = localId(filter.customerId, "Customer");
      if (customerId) qb.andWhere("c.customer_ids @> ARRAY[:customerId]::uuid[]", { customerId });
      else qb.andWhere("false");
    }
    return paginate(qb, { args, sortColumn: "c.created_at", idColumn: "c.id", direction: SortDirection.DESC, sortValue: (c) => c.createdAt.toISOString(), id: (c) => c.id });
  }

  byId(ctx: Ctx, id: string): Promise<IdentityConflict | null> {
    return this.app.db.dataSource.manager.findOne(IdentityConflict, { where: { id, tenantId: tenantOf(ctx) } });
  }

  /** Closes an open conflict of the caller's tenant (by global id), once, with an optional note and who closed it. */
  async resolve(ctx: Ctx, globalId: string, noteIn: string | null): Promise<Result<IdentityConflict>> {
    const note = noteIn?.trim() || null;
    if (note && note.length > 500) return fail(userError(["note"], UserErrorCode.TOO_LONG, "At most 500 characters"));
    const id = localId(globalId, "IdentityConflict");
    if (!id) return fail(userError(["id"], UserErrorCode.NOT_FOUND, "No such identity conflict"));
    const actor = ctx.principal.kind === "api_key" ? `api_key:${ctx.principal.keyId}` : ctx.principal.kind;
    const [rows]: [{ id: string }[]] = await this.app.db.dataSource.query(
      `UPDATE identity_conflicts SET resolved_at = now(), resolution_note = $3, resolved_by = $4
        WHERE id = $1 AND tenant_id = $2 AND resolved_at IS NULL RETURNING id`,
      [id, tenantOf(ctx), note, actor],
    );
    const conflict = await this.byId(ctx, id);
    if (rows.length && conflict) return ok(conflict);
    return fail(conflict ? userError(["id"], UserErrorCode.CONFLICT, "The conflict is already resolved") : userError(["id"], UserErrorCode.NOT_FOUND, "No such identity conflict"));
  }
}
