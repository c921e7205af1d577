import { tenantOf, type Ctx } from "../../core/context";
import { toGlobalId, UUID_ANY_CASE } from "../../core/global-id";
import { fail, ok, userError, UserErrorCode, type Result } from "../../core/user-error";
import type { App } from "../../app";
import { IdentityConflict } from "./inputs";

const CONFLICT_COLUMNS = "id, channel, external_id, identities, customer_ids, reason, created_at, resolved_at, resolution_note";
type ConflictRow = {
  id: string;
  channel: string;
  external_id: string;
  identities: { type: string; value: string }[];
  customer_ids: string[];
  reason: string;
  created_at: Date;
  resolved_at: Date | null;
  resolution_note: string | null;
};

function conflictOf(r: ConflictRow): IdentityConflict {
  return Object.assign(new IdentityConflict(), {
    id: r.id,
    channel: r.channel,
    externalId: r.external_id,
    identities: r.identities.map((i) => `${i.type}:${i.value}`),
    customerIds: r.customer_ids.map((c) => toGlobalId("Customer", c)),
    reason: r.reason,
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
    resolutionNote: r.resolution_note,
  });
}

/** Identity conflicts recorded by the pipeline, for review: the open ones, and closing one. */
export class IdentityConflicts {
  constructor(private readonly app: App) {}

  /** Open conflicts of the caller's tenant, newest first. */
  async open(ctx: Ctx, first: number): Promise<IdentityConflict[]> {
    const rows: ConflictRow[] = await this.app.db.dataSource.query(
      `SELECT ${CONFLICT_COLUMNS} FROM identity_conflicts
        WHERE tenant_id = $1 AND resolved_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $2`,
      [tenantOf(ctx), first],
    );
    return rows.map(conflictOf);
  }

  /** Closes an open conflict of the caller's tenant, once, with an optional note and who closed it. */
  async resolve(ctx: Ctx, id: string, noteIn: string | null): Promise<Result<IdentityConflict>> {
    const note = noteIn?.trim() || null;
    if (note && note.length > 500) return fail(userError(["note"], UserErrorCode.TOO_LONG, "At most 500 characters"));
    if (!UUID_ANY_CASE.test(id)) return fail(userError(["id"], UserErrorCode.NOT_FOUND, "No such identity conflict"));
    const actor = ctx.principal.kind === "api_key" ? `api_key:${ctx.principal.keyId}` : ctx.principal.kind;
    const [rows]: [ConflictRow[]] = await this.app.db.dataSource.query(
      `UPDATE identity_conflicts SET resolved_at = now(), resolution_note = $3, resolved_by = $4
        WHERE id = $1 AND tenant_id = $2 AND resolved_at IS NULL RETURNING ${CONFLICT_COLUMNS}`,
      [id, tenantOf(ctx), note, actor],
    );
    if (rows.length) return ok(conflictOf(rows[0]));
    const [{ n }]: { n: number }[] = await this.app.db.dataSource.query(`SELECT count(*)::int AS n FROM identity_conflicts WHERE id = $1 AND tenant_id = $2`, [id, tenantOf(ctx)]);
    return fail(n ? userError(["id"], UserErrorCode.CONFLICT, "The conflict is already resolved") : userError(["id"], UserErrorCode.NOT_FOUND, "No such identity conflict"));
  }
}
