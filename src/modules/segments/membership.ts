import type { TxCtx } from "../../core/context";
import { tenantOf } from "../../core/context";
import { SegmentQuery, type SegmentRef } from "./compile";
import type { SegmentConditions } from "./registry";

export interface MembershipChange {
  segmentId: string;
  customerId: string;
  change: "added" | "removed";
}

/** A rule segment to evaluate: its id and its condition. */
export interface RuleSegment {
  id: string;
  condition: NonNullable<SegmentRef["condition"]>;
}

/**
 * Brings the materialized members of `segments` in line with their conditions, in one statement for all
 * of them: for every customer of the tenant (a full refresh), or only for `customerIds` (what an
 * ingested batch or a profile change touched — customers that no longer exist, merged away or erased,
 * leave). Stays are closed (`until`) rather than deleted; a customer joining again starts a new stay.
 * Concurrent evaluations of the same customers converge: the current-stay index makes a second insert
 * a no-op, and each change is reported by the statement that made it, once.
 */
export async function evaluateMembership(
  tx: TxCtx,
  registry: SegmentConditions,
  refs: ReadonlyMap<string, SegmentRef>,
  segments: readonly RuleSegment[],
  now: Date,
  customerIds?: readonly string[],
): Promise<MembershipChange[]> {
  if (!segments.length || (customerIds && !customerIds.length)) return [];
  const q = new SegmentQuery(registry, refs, tenantOf(tx), now);
  const ids = customerIds ? q.param(customerIds, "uuid[]") : undefined;
  const target = segments.map((s) => `SELECT ${q.param(s.id, "uuid")} AS segment_id, x.id FROM (${q.select(s.condition, ids)}) x`).join("\nUNION ALL\n");
  const segIds = q.param(segments.map((s) => s.id), "uuid[]");
  const sql = `
    WITH target AS (${target}),
    removed AS (
      UPDATE segment_members m SET until = ${q.now}
       WHERE m.segment_id = ANY(${segIds}) AND m.until IS NULL${ids ? ` AND m.customer_id = ANY(${ids})` : ""}
         AND NOT EXISTS (SELECT 1 FROM target t WHERE t.segment_id = m.segment_id AND t.id = m.customer_id)
      RETURNING m.segment_id, m.customer_id
    ), added AS (
      INSERT INTO segment_members (tenant_id, segment_id, customer_id, since)
      SELECT $1::uuid, t.segment_id, t.id, ${q.now} FROM target t
       WHERE NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = t.segment_id AND m.customer_id = t.id AND m.until IS NULL)
      ON CONFLICT (segment_id, customer_id) WHERE until IS NULL DO NOTHING
      RETURNING segment_id, customer_id
    )
    SELECT 'added' AS change, segment_id::text AS segment_id, customer_id::text AS customer_id FROM added
    UNION ALL SELECT 'removed', segment_id::text, customer_id::text FROM removed`;
  // A full refresh diffs whole sets: without statistics on a new segment's members (or when they have just
  // grown) the planner takes the anti-join for a few rows and loops over the target for each member —
  // quadratic at a million. Hash and merge joins only, for this statement.
  if (!customerIds) await tx.manager.query(`SET LOCAL enable_nestloop = off`);
  const rows: { change: "added" | "removed"; segment_id: string; customer_id: string }[] = await tx.manager.query(sql, q.values);
  if (!customerIds) await tx.manager.query(`SET LOCAL enable_nestloop = on`);
  return rows.map((r) => ({ segmentId: r.segment_id, customerId: r.customer_id, change: r.change }));
}

/** Announces membership changes (outbox, same transaction): `segment.member_added` / `segment.member_removed`. */
export function emitChanges(tx: TxCtx, changes: readonly MembershipChange[]): void {
  const tenantId = tenantOf(tx);
  for (const c of changes) {
    tx.emit({ type: c.change === "added" ? "segment.member_added" : "segment.member_removed", tenantId, segmentId: c.segmentId, customerId: c.customerId });
  }
}
