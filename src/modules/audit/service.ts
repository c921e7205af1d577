import type { App } from "../../app";
import { tenantOf, type Ctx } from "../../core/context";
import { toGlobalId } from "../../core/global-id";
import { paginate, SortDirection, type ConnectionArgs } from "../../core/pagination";
import { apiKeyNameSql } from "../tenancy";
import { AuditRecord, type AuditKind, type AuditLogFilter, type AuditResult } from "./entity";

export interface AuditEntry {
  ctx: Ctx;
  kind: AuditKind;
  operation: string;
  targetIds: string[];
  result: AuditResult;
}

/** Most ids one record keeps (a page of 250 customers with their orders stays whole). */
export const MAX_TARGETS = 2_000;

/** What AuditService uses of the app. */
export type AuditDeps = Pick<App, "db" | "config">;

/** Writes audit records (one statement per request) and reads them for admins. */
export class AuditService {
  constructor(private readonly app: AuditDeps) {}

  /** Appends one record; the key's name is read in the same statement. */
  async record(e: AuditEntry): Promise<void> {
    const p = e.ctx.principal;
    const tenantId = p.kind === "platform" ? null : p.tenantId;
    const actor = p.kind === "api_key" ? { kind: "api_key", keyId: p.keyId, id: toGlobalId("ApiKey", p.keyId) } : p.kind === "system" ? { kind: "system", keyId: null, id: p.actor } : { kind: "platform", keyId: null, id: null };
    await this.app.db.dataSource.query(
      `INSERT INTO audit_log (tenant_id, actor_kind, actor_id, actor_name, kind, operation, target_ids, ip, result)
       SELECT $1, $2, $3, ${apiKeyNameSql("x.key_id")}, $5, $6, $7::text[], $8, $9 FROM (SELECT $4::text AS key_id) x`,
      [tenantId, actor.kind, actor.id, actor.keyId, e.kind, e.operation.slice(0, 200), e.targetIds.slice(0, MAX_TARGETS), e.ctx.ip ?? null, e.result],
    );
  }

  byId(ctx: Ctx, id: string): Promise<AuditRecord | null> {
    return this.app.db.dataSource.manager.findOne(AuditRecord, { where: { id, tenantId: tenantOf(ctx) } });
  }

  /** The tenant's records, newest first. */
  list(ctx: Ctx, filter: AuditLogFilter | null | undefined, args: ConnectionArgs) {
    const qb = this.app.db.dataSource.manager.createQueryBuilder(AuditRecord, "a").where("a.tenantId = :tenantId", { tenantId: tenantOf(ctx) });
    if (filter?.actor) qb.andWhere("(a.actorId = :actor OR a.actorName = :actor)", { actor: filter.actor });
    if (filter?.targetId) qb.andWhere("a.targetIds @> ARRAY[:targetId]::text[]", { targetId: filter.targetId });
    if (filter?.operation) qb.andWhere("a.operation = :operation", { operation: filter.operation });
    if (filter?.after) qb.andWhere("a.at >= :after", { after: filter.after });
    if (filter?.before) qb.andWhere("a.at < :before", { before: filter.before });
    return paginate(qb, { args, sortColumn: "a.at", idColumn: "a.id", direction: SortDirection.DESC, sortValue: (a) => a.at.toISOString(), id: (a) => a.id });
  }

  /** Deletes records older than the retention, in chunks; returns how many. */
  async prune(days = this.app.config.auditRetentionDays): Promise<number> {
    let total = 0;
    for (;;) {
      const [, n]: [unknown, number] = await this.app.db.dataSource.query(
        `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < now() - make_interval(days => $1::int) LIMIT 5000)`,
        [days],
      );
      total += n;
      if (n < 5000) return total;
    }
  }
}
