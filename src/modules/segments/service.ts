import type { App } from "../../app";
import { tenantOf, type Ctx, type TxCtx } from "../../core/context";
import { inTransaction, inTransactionOrRollback, Rollback } from "../../core/transaction";
import { localId, toGlobalId } from "../../core/global-id";
import { paginate, pageOf, pageSize, decodeCursor, SortDirection, type Connection, type ConnectionArgs } from "../../core/pagination";
import { badUserInput } from "../../core/errors";
import { fail, ok, userError, UserErrorCode, type Result, type UserError } from "../../core/user-error";
import { existingCustomerIds, type Customer } from "../customers";
import type { Condition } from "./condition";
import { Segment, SegmentKind } from "./entity";
import { segmentRefId, segmentRefs, SegmentCycle, SegmentQuery, UnknownSegment, type SegmentRef } from "./compile";
import { emitChanges, evaluateMembership, type MembershipChange, type RuleSegment } from "./membership";
import { SegmentConditions } from "./registry";
import { registerBuiltinConditions } from "./builtin-conditions";
import { checkCondition, parseSegmentQuery, printSegmentQuery, type QueryError } from "./query-language";

export const LIMITS = { name: 100, description: 1000, members: 1000, segments: 500 } as const;

export interface SegmentInput {
  name?: string | null;
  description?: string | null;
  kind?: SegmentKind | null;
  query?: string | null;
  condition?: Record<string, unknown> | null;
  customerIds?: string[] | null;
}

/** What SegmentsService uses of the app. */
export type SegmentsDeps = Pick<App, "db" | "log" | "clock">;

/**
 * Segments: rule segments (a condition tree, compiled to one SQL statement) and static ones, with
 * materialized members kept current — incrementally for the customers a change touched (the ingestion
 * hook, profile changes through the outbox) and in full on demand and on a schedule for rules that time
 * alone changes.
 */
export class SegmentsService {
  /** The condition registry: built-ins here; other modules register theirs in their setup (loyalty's `tier`). */
  readonly conditions = new SegmentConditions();

  constructor(private readonly app: SegmentsDeps) {
    registerBuiltinConditions(this.conditions);
  }

  // ---- the language ---------------------------------------------------------------------------

  private readonly spec = (name: string) => this.conditions.spec(name);

  /** Parses and checks a query: errors with positions, or the tree and its canonical text. */
  validateQuery(text: string): { errors: QueryError[]; condition: Condition | null; query: string | null } {
    const r = parseSegmentQuery(text, this.spec, this.conditions.names());
    return { errors: r.errors, condition: r.condition, query: r.condition ? printSegmentQuery(r.condition) : null };
  }

  /** The rule of an input: from `query` or `condition` (exactly one), checked; userErrors name the field. */
  private rule(input: { query?: string | null; condition?: Record<string, unknown> | null }): Result<{ condition: Condition; query: string }> {
    const hasQuery = input.query != null;
    const hasCondition = input.condition != null;
    if (hasQuery === hasCondition) return fail(userError(["query"], UserErrorCode.REQUIRED, "Give the rule as either `query` or `condition`"));
    if (hasQuery) {
      const r = this.validateQuery(input.query!);
      if (!r.condition) return fail(...r.errors.map((e) => userError(["query"], UserErrorCode.INVALID, `${e.message} (line ${e.line}, column ${e.column})`)));
      return ok({ condition: r.condition, query: r.query! });
    }
    const r = checkCondition(input.condition, this.spec, this.conditions.names());
    if (!r.condition) return fail(...r.errors.map((e) => userError(e.path.split(".").filter(Boolean), UserErrorCode.INVALID, e.message)));
    return ok({ condition: r.condition, query: printSegmentQuery(r.condition) });
  }

  // ---- reads -----------------------------------------------------------------------------------

  byId(ctx: Ctx, id: string): Promise<Segment | null> {
    return this.app.db.dataSource.manager.findOne(Segment, { where: { id, tenantId: tenantOf(ctx) } });
  }

  async byIds(ctx: Ctx, ids: readonly string[]): Promise<Map<string, Segment>> {
    if (!ids.length) return new Map();
    const rows = await this.app.db.dataSource.manager
      .createQueryBuilder(Segment, "s")
      .where("s.tenantId = :t AND s.id = ANY(:ids)", { t: tenantOf(ctx), ids: [...ids] })
      .getMany();
    return new Map(rows.map((s) => [s.id, s]));
  }

  list(ctx: Ctx, args: ConnectionArgs): Promise<Connection<Segment>> {
    const qb = this.app.db.dataSource.manager.createQueryBuilder(Segment, "s").where("s.tenantId = :t", { t: tenantOf(ctx) });
    return paginate(qb, { args, sortColumn: "s.createdAt", idColumn: "s.id", direction: SortDirection.ASC, sortValue: (s) => s.createdAt.toISOString(), id: (s) => s.id });
  }

  /** Current member counts of these segments (one statement). */
  async sizes(ctx: Ctx, ids: readonly string[]): Promise<Map<string, number>> {
    const rows: { segment_id: string; n: number }[] = await this.app.db.dataSource.query(
      `SELECT segment_id::text, count(*)::int AS n FROM segment_members WHERE tenant_id = $1 AND segment_id = ANY($2::uuid[]) AND until IS NULL GROUP BY segment_id`,
      [tenantOf(ctx), ids],
    );
    return new Map(rows.map((r) => [r.segment_id, r.n]));
  }

  /** Current segments of these customers (one statement): customer id → segment ids, oldest membership first. */
  async segmentIdsOf(ctx: Ctx, customerIds: readonly string[]): Promise<Map<string, string[]>> {
    const rows: { customer_id: string; segment_id: string }[] = await this.app.db.dataSource.query(
      `SELECT customer_id::text, segment_id::text FROM segment_members WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND until IS NULL ORDER BY since, segment_id`,
      [tenantOf(ctx), customerIds],
    );
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.customer_id, [...(out.get(r.customer_id) ?? []), r.segment_id]);
    return out;
  }

  /**
   * A page of a segment's current members, in the order they joined: the ids from segment_members (one
   * statement), the customers through `load` (the customers module's loader), the count only when asked.
   */
  async members(ctx: Ctx, segmentId: string, args: ConnectionArgs, load: (ids: string[]) => Promise<(Customer | null)[]>): Promise<Connection<Customer>> {
    const { size, backward } = pageSize(args);
    if (backward) throw badUserInput("Members page forward only: use first and after", "last");
    const values: unknown[] = [tenantOf(ctx), segmentId, size + 1];
    let after = "";
    if (args.after) {
      const [since, id] = decodeCursor(args.after, "after");
      values.push(since, id);
      after = ` AND (since, customer_id) > ($4::timestamptz, $5::uuid)`;
    }
    const rows: { customer_id: string; since: Date }[] = size === 0 ? [] : await this.app.db.dataSource.query(
      `SELECT customer_id::text, since FROM segment_members WHERE tenant_id = $1 AND segment_id = $2 AND until IS NULL${after}
        ORDER BY since, customer_id LIMIT $3`,
      values,
    );
    const since = new Map(rows.map((r) => [r.customer_id, new Date(r.since).toISOString()]));
    const customers = (await load(rows.map((r) => r.customer_id))).filter((c): c is Customer => c != null);
    return pageOf(customers, { args, sortValue: (c) => since.get(c.id)!, id: (c) => c.id }, async () => (await this.sizes(ctx, [segmentId])).get(segmentId) ?? 0);
  }

  // ---- writes ----------------------------------------------------------------------------------

  private checkText(input: { name?: string | null; description?: string | null }, creating: boolean): UserError[] {
    const errors: UserError[] = [];
    if (input.name != null || creating) {
      const name = (input.name ?? "").trim();
      if (!name) errors.push(userError(["name"], UserErrorCode.REQUIRED, "A segment needs a name"));
      else if (name.length > LIMITS.name) errors.push(userError(["name"], UserErrorCode.TOO_LONG, `At most ${LIMITS.name} characters`));
    }
    if (input.description != null && input.description.length > LIMITS.description) errors.push(userError(["description"], UserErrorCode.TOO_LONG, `At most ${LIMITS.description} characters`));
    return errors;
  }

  /** Customer ids of the input that name customers of the tenant; userErrors for the rest. */
  private async customerIdsOf(tx: TxCtx, ids: readonly string[], field: string): Promise<Result<string[]>> {
    if (ids.length > LIMITS.members) return fail(userError([field], UserErrorCode.TOO_MANY, `At most ${LIMITS.members} customers per call`));
    const local = ids.map((g) => localId(g, "Customer"));
    const errors = local.flatMap((id, i) => (id ? [] : [userError([field, i], UserErrorCode.INVALID, `"${ids[i]}" is not a Customer id`)]));
    if (errors.length) return fail(...errors);
    const unique = [...new Set(local as string[])];
    const found = await existingCustomerIds(tx.manager, tenantOf(tx), unique);
    const missing = (local as string[]).flatMap((id, i) => (found.has(id) ? [] : [userError([field, i], UserErrorCode.NOT_FOUND, `No customer ${ids[i]}`)]));
    return missing.length ? fail(...missing) : ok(unique);
  }

  /** Every segment a condition needs, transitively (one statement per level of in_segment). */
  private async refsFor(tx: TxCtx | Ctx, condition: Condition, self?: { id: string; condition: Condition }): Promise<Result<Map<string, SegmentRef>>> {
    const manager = "manager" in tx ? tx.manager : this.app.db.dataSource.manager;
    const refs = new Map<string, SegmentRef>();
    if (self) refs.set(self.id, { id: self.id, kind: "RULE", condition: self.condition });
    let todo = segmentRefs(condition);
    const errors: UserError[] = [];
    for (let depth = 0; todo.length && depth < 20; depth++) {
      const ids = [...new Set(todo.map((r) => segmentRefId(r)))];
      for (const [i, id] of ids.entries()) if (!id) errors.push(userError(["condition"], UserErrorCode.INVALID, `in_segment: "${todo[i]}" is not a Segment id`));
      const wanted = ids.filter((id): id is string => !!id && !refs.has(id));
      if (!wanted.length) break;
      const rows: { id: string; kind: "RULE" | "STATIC"; condition: Condition | null }[] = await manager.query(
        `SELECT id::text, kind, condition FROM segments WHERE tenant_id = $1 AND id = ANY($2::uuid[])`,
        [tenantOf(tx), wanted],
      );
      for (const r of rows) refs.set(r.id, r);
      todo = rows.flatMap((r) => (r.condition ? segmentRefs(r.condition) : []));
    }
    for (const ref of segmentRefs(condition)) {
      const id = segmentRefId(ref);
      if (id && !refs.has(id)) errors.push(userError(["condition"], UserErrorCode.NOT_FOUND, `in_segment: no segment ${ref}`));
    }
    if (errors.length) return fail(...errors);
    // Compile once to find cycles (a rule naming itself, directly or through others).
    try {
      new SegmentQuery(this.conditions, refs, tenantOf(tx), this.app.clock.now()).where(condition);
    } catch (err) {
      if (err instanceof SegmentCycle || err instanceof UnknownSegment) return fail(userError(["condition"], UserErrorCode.INVALID, err.message));
      throw err;
    }
    return ok(refs);
  }

  private timeBased(condition: Condition, refs: ReadonlyMap<string, SegmentRef>, tenantId: string): boolean {
    const q = new SegmentQuery(this.conditions, refs, tenantId, this.app.clock.now());
    q.where(condition);
    return q.timeBased;
  }

  async create(ctx: Ctx, input: SegmentInput): Promise<Result<Segment>> {
    const kind = input.kind ?? (input.query != null || input.condition != null ? SegmentKind.RULE : SegmentKind.STATIC);
    const errors = this.checkText(input, true);
    let rule: { condition: Condition; query: string } | null = null;
    if (kind === SegmentKind.RULE) {
      if (input.customerIds?.length) errors.push(userError(["customerIds"], UserErrorCode.INVALID, "A rule segment's members come from its rule; give customerIds to a STATIC segment"));
      const r = this.rule(input);
      if (r.ok) rule = r.value;
      else errors.push(...r.errors);
    } else if (input.query != null || input.condition != null) {
      errors.push(userError([input.query != null ? "query" : "condition"], UserErrorCode.INVALID, "A STATIC segment has no rule"));
    }
    if (errors.length) return fail(...errors);
    return inTransactionOrRollback(ctx, async (tx) => {
      const tenantId = tenantOf(tx);
      const [{ n }]: { n: number }[] = await tx.manager.query(`SELECT count(*)::int AS n FROM segments WHERE tenant_id = $1`, [tenantId]);
      if (n >= LIMITS.segments) return fail(userError(null, UserErrorCode.TOO_MANY, `A tenant has at most ${LIMITS.segments} segments`));
      if (await this.nameTaken(tx, input.name!.trim())) return fail(userError(["name"], UserErrorCode.TAKEN, `A segment is already named "${input.name!.trim()}"`));
      let refs = new Map<string, SegmentRef>();
      if (rule) {
        const r = await this.refsFor(tx, rule.condition);
        if (!r.ok) return r;
        refs = r.value;
      }
      const now = this.app.clock.now();
      const segment = await tx.manager.save(
        Object.assign(new Segment(), {
          tenantId,
          name: input.name!.trim(),
          description: input.description?.trim() ?? "",
          kind,
          query: rule?.query ?? null,
          condition: rule?.condition ?? null,
          timeBased: rule ? this.timeBased(rule.condition, refs, tenantId) : false,
          refreshedAt: rule ? now : null,
          createdAt: now,
          updatedAt: now,
        }),
      );
      // Members are there when the mutation answers; nobody can be subscribed to a segment that did not
      // exist, so the first members are not announced one by one.
      if (rule) await evaluateMembership(tx, this.conditions, refs, [{ id: segment.id, condition: rule.condition }], now);
      else if (input.customerIds?.length) {
        const ids = await this.customerIdsOf(tx, input.customerIds, "customerIds");
        if (!ids.ok) throw new Rollback(ids);
        await this.insertMembers(tx, segment.id, ids.value, now);
      }
      tx.emit({ type: "segment.changed", tenantId, segmentId: segment.id, change: "created" });
      return ok(segment);
    });
  }

  private async nameTaken(tx: TxCtx, name: string, except?: string): Promise<boolean> {
    const rows = await tx.manager.query(`SELECT 1 FROM segments WHERE tenant_id = $1 AND lower(name) = lower($2) AND id <> coalesce($3::uuid, '00000000-0000-0000-0000-000000000000')`, [
      tenantOf(tx),
      name,
      except ?? null,
    ]);
    return rows.length > 0;
  }

  private async insertMembers(tx: TxCtx, segmentId: string, customerIds: readonly string[], now: Date): Promise<MembershipChange[]> {
    const rows: { customer_id: string }[] = await tx.manager.query(
      `INSERT INTO segment_members (tenant_id, segment_id, customer_id, since) SELECT $1, $2, id, $4 FROM unnest($3::uuid[]) AS id
       ON CONFLICT (segment_id, customer_id) WHERE until IS NULL DO NOTHING RETURNING customer_id::text`,
      [tenantOf(tx), segmentId, customerIds, now],
    );
    return rows.map((r) => ({ segmentId, customerId: r.customer_id, change: "added" as const }));
  }

  /** Locks a segment of the caller's tenant for a change, or says why not. */
  private async locked(tx: TxCtx, globalId: string, field = "id"): Promise<Result<Segment>> {
    const id = localId(globalId, "Segment");
    const segment = id ? await tx.manager.findOne(Segment, { where: { id, tenantId: tenantOf(tx) }, lock: { mode: "pessimistic_write" } }) : null;
    return segment ? ok(segment) : fail(userError([field], UserErrorCode.NOT_FOUND, `No segment ${globalId}`));
  }

  async update(ctx: Ctx, input: SegmentInput & { id: string }): Promise<Result<Segment>> {
    const errors = this.checkText(input, false);
    const ruleGiven = input.query != null || input.condition != null;
    const rule = ruleGiven ? this.rule(input) : null;
    if (rule && !rule.ok) errors.push(...rule.errors);
    if (errors.length) return fail(...errors);
    return inTransactionOrRollback(ctx, async (tx) => {
      const found = await this.locked(tx, input.id);
      if (!found.ok) return found;
      const segment = found.value;
      if (input.name != null && (await this.nameTaken(tx, input.name.trim(), segment.id))) return fail(userError(["name"], UserErrorCode.TAKEN, `A segment is already named "${input.name.trim()}"`));
      const now = this.app.clock.now();
      if (rule?.ok) {
        if (segment.kind !== SegmentKind.RULE) return fail(userError([input.query != null ? "query" : "condition"], UserErrorCode.INVALID, "A STATIC segment has no rule"));
        const refs = await this.refsFor(tx, rule.value.condition, undefined);
        if (!refs.ok) return refs;
        if (refs.value.has(segment.id) || this.refersTo(rule.value.condition, refs.value, segment.id)) {
          return fail(userError([input.query != null ? "query" : "condition"], UserErrorCode.INVALID, "A segment cannot be defined through itself (in_segment)"));
        }
        Object.assign(segment, { query: rule.value.query, condition: rule.value.condition, timeBased: this.timeBased(rule.value.condition, refs.value, segment.tenantId), refreshedAt: now });
      }
      if (input.name != null) segment.name = input.name.trim();
      if (input.description != null) segment.description = input.description.trim();
      segment.updatedAt = now;
      await tx.manager.save(segment);
      if (rule?.ok) {
        // Its members, and those of every rule segment that names it, follow the new rule now.
        const changes = await this.refreshInTx(tx, [segment.id], now);
        emitChanges(tx, changes);
      }
      tx.emit({ type: "segment.changed", tenantId: segment.tenantId, segmentId: segment.id, change: "updated" });
      return ok(segment);
    });
  }

  private refersTo(condition: Condition, refs: ReadonlyMap<string, SegmentRef>, id: string, seen = new Set<string>()): boolean {
    for (const ref of segmentRefs(condition)) {
      const rid = segmentRefId(ref);
      if (!rid || seen.has(rid)) continue;
      if (rid === id) return true;
      seen.add(rid);
      const r = refs.get(rid);
      if (r?.condition && this.refersTo(r.condition, refs, id, seen)) return true;
    }
    return false;
  }

  async delete(ctx: Ctx, globalId: string): Promise<Result<string>> {
    return inTransactionOrRollback(ctx, async (tx) => {
      const found = await this.locked(tx, globalId);
      if (!found.ok) return found;
      const segment = found.value;
      const users: { name: string }[] = await tx.manager.query(
        `SELECT name FROM segments WHERE tenant_id = $1 AND id <> $2 AND condition IS NOT NULL AND (strpos(condition::text, $2::text) > 0 OR strpos(condition::text, $3) > 0) ORDER BY name`,
        [segment.tenantId, segment.id, segment.globalId],
      );
      if (users.length) return fail(userError(["id"], UserErrorCode.CONFLICT, `Segments ${users.map((u) => `"${u.name}"`).join(", ")} use this one (in_segment); change them first`));
      await tx.manager.query(`DELETE FROM segments WHERE id = $1 AND tenant_id = $2`, [segment.id, segment.tenantId]);
      tx.emit({ type: "segment.changed", tenantId: segment.tenantId, segmentId: segment.id, change: "deleted" });
      return ok(segment.globalId);
    });
  }

  async changeMembers(ctx: Ctx, input: { segmentId: string; customerIds: string[] }, change: "add" | "remove"): Promise<Result<Segment>> {
    return inTransactionOrRollback(ctx, async (tx) => {
      const found = await this.locked(tx, input.segmentId, "segmentId");
      if (!found.ok) return found;
      const segment = found.value;
      if (segment.kind !== SegmentKind.STATIC) return fail(userError(["segmentId"], UserErrorCode.INVALID, "Members of a RULE segment come from its rule; only STATIC segments take members by hand"));
      const ids = await this.customerIdsOf(tx, input.customerIds, "customerIds");
      if (!ids.ok) return ids;
      const now = this.app.clock.now();
      let changes: MembershipChange[];
      if (change === "add") changes = await this.insertMembers(tx, segment.id, ids.value, now);
      else {
        const rows: { customer_id: string }[] = await tx.manager.query(
          `UPDATE segment_members SET until = $4 WHERE tenant_id = $1 AND segment_id = $2 AND customer_id = ANY($3::uuid[]) AND until IS NULL RETURNING customer_id::text`,
          [segment.tenantId, segment.id, ids.value, now],
        );
        changes = rows.map((r) => ({ segmentId: segment.id, customerId: r.customer_id, change: "removed" as const }));
      }
      // Rule segments that name this one (in_segment) follow at once for these customers.
      const dependent = await this.evaluateFor(tx, changes.map((c) => c.customerId), now);
      emitChanges(tx, [...changes, ...dependent]);
      return ok(segment);
    });
  }

  // ---- keeping members current -------------------------------------------------------------------

  /** The tenant's rule segments and everything their conditions name (one statement). */
  private async ruleSegments(tx: TxCtx, only?: readonly string[]): Promise<{ refs: Map<string, SegmentRef>; rules: RuleSegment[] }> {
    const rows: { id: string; kind: "RULE" | "STATIC"; condition: Condition | null }[] = await tx.manager.query(
      `SELECT id::text, kind, condition FROM segments WHERE tenant_id = $1 ORDER BY created_at, id`,
      [tenantOf(tx)],
    );
    const refs = new Map(rows.map((r) => [r.id, r]));
    const wanted = only ? new Set(only) : null;
    const rules = rows.filter((r) => r.kind === "RULE" && r.condition && (!wanted || wanted.has(r.id))).map((r) => ({ id: r.id, condition: r.condition! }));
    return { refs, rules };
  }

  /**
   * Re-evaluates every rule segment of the tenant for these customers only, in the caller's transaction
   * (the ingestion hook's, a profile change's handler): one statement for all segments.
   */
  async evaluateFor(tx: TxCtx, customerIds: readonly string[], now = this.app.clock.now()): Promise<MembershipChange[]> {
    const ids = [...new Set(customerIds)];
    if (!ids.length) return [];
    const { refs, rules } = await this.ruleSegments(tx);
    return evaluateMembership(tx, this.conditions, refs, rules, now, ids);
  }

  /** Full refresh of these rule segments and of the rule segments that name them, transitively. */
  private async refreshInTx(tx: TxCtx, segmentIds: readonly string[], now: Date): Promise<MembershipChange[]> {
    const { refs, rules } = await this.ruleSegments(tx);
    const wanted = new Set(segmentIds);
    for (let grew = true; grew; ) {
      grew = false;
      for (const r of rules) {
        if (!wanted.has(r.id) && this.refersToAny(r.condition, wanted)) {
          wanted.add(r.id);
          grew = true;
        }
      }
    }
    const chosen = rules.filter((r) => wanted.has(r.id));
    await tx.manager.query(`UPDATE segments SET refreshed_at = $3 WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, [tenantOf(tx), chosen.map((r) => r.id), now]);
    return evaluateMembership(tx, this.conditions, refs, chosen, now);
  }

  private refersToAny(condition: Condition, ids: ReadonlySet<string>): boolean {
    return segmentRefs(condition).some((r) => {
      const id = segmentRefId(r);
      return id !== null && ids.has(id);
    });
  }

  /** `refreshSegment`: recomputes a rule segment's members in full now (and those naming it). */
  async refresh(ctx: Ctx, globalId: string): Promise<Result<Segment>> {
    return inTransactionOrRollback(ctx, async (tx) => {
      const found = await this.locked(tx, globalId);
      if (!found.ok) return found;
      if (found.value.kind !== SegmentKind.RULE) return fail(userError(["id"], UserErrorCode.INVALID, "Only RULE segments are computed; a STATIC segment's members are as given"));
      const now = this.app.clock.now();
      emitChanges(tx, await this.refreshInTx(tx, [found.value.id], now));
      found.value.refreshedAt = now;
      return ok(found.value);
    });
  }

  /**
   * The scheduled refresh of one tenant: its time-based rule segments (hourly), or all of them (daily, a
   * safety net under the incremental path). One transaction and one statement per tenant.
   */
  async refreshTenant(ctx: Ctx, which: "time-based" | "all"): Promise<number> {
    return inTransaction(ctx, async (tx) => {
      const rows: { id: string }[] = await tx.manager.query(
        `SELECT id::text FROM segments WHERE tenant_id = $1 AND kind = 'RULE'${which === "time-based" ? " AND time_based" : ""}`,
        [tenantOf(tx)],
      );
      if (!rows.length) return 0;
      const changes = await this.refreshInTx(tx, rows.map((r) => r.id), this.app.clock.now());
      emitChanges(tx, changes);
      return changes.length;
    });
  }

  /** Tenants that have rule segments (for the scheduled refresh). */
  async tenantsWithRules(which: "time-based" | "all"): Promise<string[]> {
    const rows: { tenant_id: string }[] = await this.app.db.dataSource.query(
      `SELECT DISTINCT tenant_id::text FROM segments WHERE kind = 'RULE'${which === "time-based" ? " AND time_based" : ""} ORDER BY 1`,
    );
    return rows.map((r) => r.tenant_id);
  }

  /**
   * The members of a segment (by id: its current members) or of a rule not saved (query or condition:
   * who matches now), as a statement under construction — `SELECT … id` with `$1` the tenant — for
   * other modules' set-based reads (insights). userErrors name what is wrong with the input.
   */
  async memberQuery(ctx: Ctx, input: { segmentId?: string | null; query?: string | null; condition?: Record<string, unknown> | null }): Promise<Result<{ q: SegmentQuery; sql: string }>> {
    const tenantId = tenantOf(ctx);
    if (input.segmentId != null) {
      if (input.query != null || input.condition != null) return fail(userError(["segmentId"], UserErrorCode.INVALID, "Give a segment id, or a rule (query or condition), not both"));
      const id = localId(input.segmentId, "Segment");
      const segment = id ? await this.byId(ctx, id) : null;
      if (!segment) return fail(userError(["segmentId"], UserErrorCode.NOT_FOUND, `No segment ${input.segmentId}`));
      const q = new SegmentQuery(this.conditions, new Map(), tenantId, this.app.clock.now());
      return ok({ q, sql: `SELECT m.customer_id AS id FROM segment_members m WHERE m.tenant_id = $1 AND m.segment_id = ${q.param(segment.id, "uuid")} AND m.until IS NULL` });
    }
    const rule = this.rule(input);
    if (!rule.ok) return rule;
    const refs = await this.refsFor(ctx, rule.value.condition);
    if (!refs.ok) return refs;
    const q = new SegmentQuery(this.conditions, refs.value, tenantId, this.app.clock.now());
    return ok({ q, sql: q.select(rule.value.condition) });
  }

  /** Customers currently in both segments (0 when either is not the tenant's). */
  async overlap(ctx: Ctx, a: string, b: string): Promise<number> {
    const [ia, ib] = [localId(a, "Segment"), localId(b, "Segment")];
    if (!ia || !ib) return 0;
    const [{ n }]: { n: number }[] = await this.app.db.dataSource.query(
      `SELECT count(*)::int AS n FROM segment_members x JOIN segment_members y ON y.customer_id = x.customer_id AND y.segment_id = $3 AND y.until IS NULL
        WHERE x.tenant_id = $1 AND x.segment_id = $2 AND x.until IS NULL`,
      [tenantOf(ctx), ia, ib],
    );
    return n;
  }

  /**
   * Creates the built-in rule segments a module defines (by `systemKey`) that the tenant does not have
   * yet, members computed. Those the merchant renamed or changed stay as they are; one deleted is not
   * brought back unless `recreate`.
   */
  async ensureSystemSegments(ctx: Ctx, defs: readonly { systemKey: string; name: string; description: string; query: string }[]): Promise<number> {
    let created = 0;
    for (const def of defs) {
      const [exists] = await this.app.db.dataSource.query(`SELECT 1 FROM segments WHERE tenant_id = $1 AND system_key = $2`, [tenantOf(ctx), def.systemKey]);
      if (exists) continue;
      const r = await this.create(ctx, { name: def.name, description: def.description, query: def.query });
      if (!r.ok) {
        this.app.log.warn({ systemKey: def.systemKey, errors: r.errors.map((e) => e.message) }, "built-in segment not created");
        continue;
      }
      await this.app.db.dataSource.query(`UPDATE segments SET system_key = $3 WHERE tenant_id = $1 AND id = $2`, [tenantOf(ctx), r.value.id, def.systemKey]);
      created++;
    }
    return created;
  }

  /** Who a rule would select now: its size and a sample, without saving anything. */
  async preview(ctx: Ctx, input: { query?: string | null; condition?: Record<string, unknown> | null }): Promise<Result<{ size: number; sample: (first: number) => Promise<string[]> }>> {
    const rule = this.rule(input);
    if (!rule.ok) return rule;
    const refs = await this.refsFor(ctx, rule.value.condition);
    if (!refs.ok) return refs;
    const tenantId = tenantOf(ctx);
    const now = this.app.clock.now();
    const build = () => new SegmentQuery(this.conditions, refs.value, tenantId, now);
    const q = build();
    const [{ n }]: { n: number }[] = await this.app.db.dataSource.query(`SELECT count(*)::int AS n FROM (${q.select(rule.value.condition)}) x`, q.values);
    return ok({
      size: n,
      sample: async (first) => {
        const s = build();
        const sql = `${s.select(rule.value.condition)} ORDER BY c.created_at, c.id LIMIT ${s.param(first, "int")}`;
        const rows: { id: string }[] = await this.app.db.dataSource.query(sql, s.values);
        return rows.map((r) => r.id);
      },
    });
  }

  // ---- hooks ---------------------------------------------------------------------------------------

  /** Static memberships follow a merge to the target (rule ones are re-evaluated); put back on unmerge. */
  readonly mergeHook = {
    name: "segments",
    move: async (tx: TxCtx, sourceId: string, targetId: string): Promise<string[]> => {
      const now = this.app.clock.now();
      const rows: { segment_id: string; added: boolean }[] = await tx.manager.query(
        `WITH closed AS (
           UPDATE segment_members m SET until = $4 FROM segments s
            WHERE s.id = m.segment_id AND s.kind = 'STATIC' AND m.tenant_id = $1 AND m.customer_id = $2 AND m.until IS NULL
           RETURNING m.segment_id
         ), added AS (
           INSERT INTO segment_members (tenant_id, segment_id, customer_id, since) SELECT $1, segment_id, $3, $4 FROM closed
           ON CONFLICT (segment_id, customer_id) WHERE until IS NULL DO NOTHING RETURNING segment_id
         )
         SELECT c.segment_id::text, EXISTS (SELECT 1 FROM added a WHERE a.segment_id = c.segment_id) AS added FROM closed c`,
        [tenantOf(tx), sourceId, targetId, now],
      );
      // The source is about to be deleted: its rule memberships end too (the target's are re-evaluated in `after`).
      const left: { segment_id: string }[] = await tx.manager.query(
        `UPDATE segment_members SET until = $3 WHERE tenant_id = $1 AND customer_id = $2 AND until IS NULL RETURNING segment_id::text`,
        [tenantOf(tx), sourceId, now],
      );
      const changes: MembershipChange[] = [
        ...rows.flatMap((r) => [
          { segmentId: r.segment_id, customerId: sourceId, change: "removed" as const },
          ...(r.added ? [{ segmentId: r.segment_id, customerId: targetId, change: "added" as const }] : []),
        ]),
        ...left.map((r) => ({ segmentId: r.segment_id, customerId: sourceId, change: "removed" as const })),
      ];
      emitChanges(tx, changes);
      return rows.map((r) => `${r.segment_id}:${r.added ? targetId : ""}`);
    },
    restore: async (tx: TxCtx, ids: string[], sourceId: string): Promise<void> => {
      if (!ids.length) return;
      const now = this.app.clock.now();
      const moved = ids.map((i) => {
        const [segmentId, targetId] = i.split(":");
        return { segmentId, targetId: targetId || null };
      });
      await tx.manager.query(
        `INSERT INTO segment_members (tenant_id, segment_id, customer_id, since) SELECT $1, s, $2, $4 FROM unnest($3::uuid[]) AS s
         ON CONFLICT (segment_id, customer_id) WHERE until IS NULL DO NOTHING`,
        [tenantOf(tx), sourceId, moved.map((m) => m.segmentId), now],
      );
      // What the merge gave the target (it was not a member before) goes back with the source.
      const given = moved.filter((m) => m.targetId);
      const closed: { segment_id: string; customer_id: string }[] = given.length
        ? await tx.manager.query(
            `UPDATE segment_members m SET until = $3 FROM unnest($2::uuid[], $4::uuid[]) AS g(segment_id, customer_id)
              WHERE m.tenant_id = $1 AND m.segment_id = g.segment_id AND m.customer_id = g.customer_id AND m.until IS NULL
             RETURNING m.segment_id::text, m.customer_id::text`,
            [tenantOf(tx), given.map((m) => m.segmentId), now, given.map((m) => m.targetId)],
          )
        : [];
      emitChanges(tx, [
        ...moved.map((m) => ({ segmentId: m.segmentId, customerId: sourceId, change: "added" as const })),
        ...closed.map((r) => ({ segmentId: r.segment_id, customerId: r.customer_id, change: "removed" as const })),
      ]);
    },
    after: async (tx: TxCtx, customerIds: string[]): Promise<void> => {
      emitChanges(tx, await this.evaluateFor(tx, customerIds));
    },
  };

  /** A person's memberships, for a copy of their data; gone with them on erasure. */
  async exportOf(tx: TxCtx, customerIds: readonly string[]): Promise<Map<string, unknown>> {
    const rows: { customer_id: string; segment_id: string; name: string; since: Date; until: Date | null }[] = await tx.manager.query(
      `SELECT m.customer_id::text, m.segment_id::text, s.name, m.since, m.until FROM segment_members m JOIN segments s ON s.id = m.segment_id
        WHERE m.tenant_id = $1 AND m.customer_id = ANY($2::uuid[]) ORDER BY m.since, m.id`,
      [tenantOf(tx), customerIds],
    );
    const out = new Map<string, unknown[]>();
    for (const r of rows) {
      out.set(r.customer_id, [...(out.get(r.customer_id) ?? []), { segmentId: toGlobalId("Segment", r.segment_id), name: r.name, since: new Date(r.since).toISOString(), until: r.until ? new Date(r.until).toISOString() : null }]);
    }
    return out;
  }

  async eraseOf(tx: TxCtx, customerIds: readonly string[]): Promise<void> {
    await tx.manager.query(`DELETE FROM segment_members WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`, [tenantOf(tx), customerIds]);
  }
}
