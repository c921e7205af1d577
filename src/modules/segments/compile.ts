import { localId } from "../../core/global-id";
import { tenantTimeZoneSql } from "../tenancy";
import { customersSql } from "../customers";
import { joinCustomerStatsSql } from "../orders";
import { isAll, isAny, isNot, type Comparison, type Condition } from "./condition";
import { list, type CompileScope, type SegmentConditions } from "./registry";

/** What the compiler needs to know of a segment another one names with `in_segment`. */
export interface SegmentRef {
  id: string;
  kind: "RULE" | "STATIC";
  condition: Condition | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A segment named in a condition: by its global id (as the API returns it) or its local uuid. */
export function segmentRefId(ref: string): string | null {
  const id = localId(ref, "Segment") ?? (UUID.test(ref) ? ref.toLowerCase() : null);
  return id;
}

/** Every segment a condition names, directly. */
export function segmentRefs(condition: Condition): string[] {
  const out: string[] = [];
  const walk = (c: Condition) => {
    if (isAll(c)) c.all.forEach(walk);
    else if (isAny(c)) c.any.forEach(walk);
    else if (isNot(c)) walk(c.not);
    else if ((c as Comparison).field === "in_segment") for (const v of list((c as Comparison).value)) out.push(String(v));
  };
  walk(condition);
  return out;
}

export class SegmentCycle extends Error {}
export class UnknownSegment extends Error {
  constructor(readonly ref: string) {
    super(`No segment ${ref}`);
  }
}

/**
 * One statement's SQL under construction: `$1` the tenant, `now` the evaluation time; the tenant's time
 * zone is read in the statement itself. Conditions compile to an SQL boolean over `c` (customers) and
 * `s` (customer_stats, LEFT JOINed); every comparison is wrapped so that NULL reads as false, and NOT of
 * a comparison about something missing (no orders) is true.
 */
export class SegmentQuery {
  readonly values: unknown[];
  timeBased = false;
  private readonly scope: CompileScope;
  /** Joins the conditions compiled since the last `select` asked for, by alias. */
  private joins = new Map<string, string>();

  constructor(
    private readonly registry: SegmentConditions,
    private readonly segments: ReadonlyMap<string, SegmentRef>,
    tenantId: string,
    now: Date,
  ) {
    this.values = [tenantId];
    const stack: string[] = [];
    // "Now" is bound on first use: PostgreSQL refuses a parameter a statement never uses (its type is unknown).
    let nowParam: string | null = null;
    const self = this;
    this.scope = {
      param: (value, cast) => `$${this.values.push(value)}${cast ? `::${cast}` : ""}`,
      tenant: "$1",
      get now() {
        return (nowParam ??= self.param(now, "timestamptz"));
      },
      timeZone: tenantTimeZoneSql("$1"),
      inSegment: (ref) => {
        const id = segmentRefId(ref);
        const seg = id ? this.segments.get(id) : undefined;
        if (!id || !seg) throw new UnknownSegment(ref);
        if (seg.kind === "STATIC" || !seg.condition) {
          return `EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = ${this.param(id, "uuid")} AND m.customer_id = c.id AND m.until IS NULL)`;
        }
        if (stack.includes(id)) throw new SegmentCycle(`Segment ${ref} refers to itself through in_segment`);
        stack.push(id);
        try {
          return this.where(seg.condition);
        } finally {
          stack.pop();
        }
      },
    };
  }

  param(value: unknown, cast?: string): string {
    return this.scope.param(value, cast);
  }

  /** The evaluation time's placeholder. */
  get now(): string {
    return this.scope.now;
  }

  /** The condition as an SQL boolean (never NULL). */
  where(condition: Condition): string {
    if (isAll(condition)) return `(${condition.all.map((c) => this.where(c)).join(" AND ")})`;
    if (isAny(condition)) return `(${condition.any.map((c) => this.where(c)).join(" OR ")})`;
    if (isNot(condition)) return `(NOT ${this.where(condition.not)})`;
    const c = condition as Comparison;
    const def = this.registry.get(c.field);
    if (!def) throw new Error(`unknown segment field ${c.field} (validate before compiling)`);
    if (def.timeBased?.(c)) this.timeBased = true;
    if (def.join) this.joins.set(def.join.alias, def.join.sql("$1"));
    return `coalesce((${def.compile(c, this.scope)}), false)`;
  }

  /** The customers of the tenant matching `condition`, as `SELECT c.id …` (restricted to `ids` when given). */
  select(condition: Condition, ids?: string): string {
    this.joins = new Map();
    const where = this.where(condition);
    const joins = [...this.joins.values()].join(" ");
    return `SELECT c.id FROM ${customersSql("c")} ${joinCustomerStatsSql("c", "s", "$1")} ${joins}
      WHERE c.tenant_id = $1::uuid${ids ? ` AND c.id = ANY(${ids})` : ""} AND ${where}`;
  }
}
