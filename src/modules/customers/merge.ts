import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ID, ObjectType } from "type-graphql";
import type { App } from "../../app";
import { tenantOf, type Ctx, type TxCtx } from "../../core/context";
import { paginate, SortDirection, type Connection, type ConnectionArgs } from "../../core/pagination";
import { toGlobalId } from "../../core/global-id";
import { fail, ok, userError, UserErrorCode, type Result } from "../../core/user-error";
import { Node } from "../../core/node";
import { encryptedJson } from "../../db/encrypted-columns";
import { Customer, CustomerIdentity } from "./entity";
import { foldProfile } from "./profile";
import { indexContacts } from "./blind";

/**
 * What another module owns of a customer, moved on merge and moved back on unmerge.
 * Modules register one (orders, ingested events…) so merging never reaches into their tables.
 */
export interface MergeHook {
  name: string;
  /** Re-point the source customer's rows to the target; return ids that identify exactly the rows moved. */
  move(tx: TxCtx, sourceId: string, targetId: string): Promise<string[]>;
  /** Put exactly those rows back on the source. */
  restore(tx: TxCtx, ids: string[], sourceId: string): Promise<void>;
  /** After a merge or unmerge changed what these customers own (recompute derived data). */
  after?(tx: TxCtx, customerIds: string[]): Promise<void>;
}

export interface MergeReason {
  reason: "identity" | "manual";
  channel?: string | null;
  externalId?: string | null;
}

@Entity({ name: "customer_merges" })
@ObjectType("CustomerMerge", { implements: Node, description: "Two customers found to be one person, and what the merge changed." })
export class CustomerMerge implements Node {
  @PrimaryGeneratedColumn("uuid") id: string;
  @Column({ type: "uuid" }) tenantId: string;
  @Column({ type: "uuid" }) targetId: string;
  @Column({ type: "uuid" }) sourceId: string;
  @Field(() => String, { description: "identity (an event's identifiers matched both) or manual." })
  @Column({ type: "text" })
  reason: string;
  @Field(() => String, { nullable: true, description: "Channel of the event that caused it." })
  @Column({ type: "text", nullable: true })
  channel: string | null;
  @Field(() => String, { nullable: true, description: "externalId of the event that caused it." })
  @Column({ type: "text", nullable: true })
  externalId: string | null;
  // What the merge recorded of the person is personal data: encrypted at rest.
  @Column({ type: "jsonb", transformer: encryptedJson }) changes: Record<string, { before: unknown; after: unknown }>;
  @Column({ type: "jsonb", transformer: encryptedJson }) snapshot: { source: Record<string, unknown> };
  @Column({ type: "jsonb" }) moved: Record<string, string[]>;
  @Field(() => Date) @Column({ type: "timestamptz", precision: 3 }) mergedAt: Date;
  @Field(() => Date, { nullable: true }) @Column({ type: "timestamptz", precision: 3, nullable: true }) unmergedAt: Date | null;
  @Field(() => Date, { nullable: true, description: "When a customer it involved was erased: what it recorded of them is gone, and it can no longer be undone." })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  erasedAt: Date | null;

  get globalId(): string {
    return toGlobalId("CustomerMerge", this.id);
  }
  @Field(() => ID, { description: "The customer that remained." })
  get targetCustomerId(): string {
    return toGlobalId("Customer", this.targetId);
  }
  @Field(() => ID, { description: "The customer merged away (restored by unmergeCustomer)." })
  get sourceCustomerId(): string {
    return toGlobalId("Customer", this.sourceId);
  }
  @Field(() => [String], { description: "Customer fields (as in the Customer type) the merge changed on the target, sorted." })
  get changedFields(): string[] {
    return customerFields(Object.keys(this.changes));
  }
}

/** Types a customer may hold at most N values of, by default; tenants can change them (settings.identity.limits). */
export const DEFAULT_IDENTITY_LIMITS: Record<string, number> = { wechat_unionid: 1 };

const PROFILE_COLUMNS = [
  "displayName", "gender", "birthday", "locale", "country", "province", "city", "phone", "email", "tags", "attributes",
  "consent", "fieldTimes", "createdAt", "updatedAt", "firstSeenAt", "lastSeenAt",
] as const;

type Plain = Record<string, unknown>;
const toPlain = (c: Customer): Plain => JSON.parse(JSON.stringify(Object.fromEntries(["id", "tenantId", ...PROFILE_COLUMNS].map((k) => [k, (c as unknown as Plain)[k]]))));

/** What MergeService uses of the app, and nothing more. */
export type MergeDeps = Pick<App, "db" | "dataKeys">;

/** Merging and unmerging customers, with an audit trail that makes every merge reversible. */
export class MergeService {
  readonly hooks: MergeHook[] = [];

  constructor(private readonly app: MergeDeps) {}

  /** Merges into `targetId` (a local id; null lists nothing), newest first, one page. */
  list(ctx: Ctx, targetId: string | null, args: ConnectionArgs): Promise<Connection<CustomerMerge>> {
    const qb = this.app.db.dataSource.manager.createQueryBuilder(CustomerMerge, "m").where("m.tenantId = :tenantId", { tenantId: tenantOf(ctx) });
    if (targetId) qb.andWhere("m.targetId = :targetId", { targetId });
    else qb.andWhere("false");
    return paginate(qb, { args, sortColumn: "m.merged_at", idColumn: "m.id", direction: SortDirection.DESC, sortValue: (m) => m.mergedAt.toISOString(), id: (m) => m.id });
  }

  /** Identity types over their per-customer limit if customers holding `identities` were one, e.g. two unionids. */
  limitViolations(identities: { type: string; value: string }[], limits: Record<string, number>): string[] {
    const out: string[] = [];
    for (const [type, max] of Object.entries(limits)) {
      const values = new Set(identities.filter((i) => i.type === type).map((i) => i.value));
      if (values.size > max) out.push(type);
    }
    return out;
  }

  /** Folds `sourceId` into `targetId` inside `tx`. Returns the merge record, or a userError when limits forbid it. */
  async merge(tx: TxCtx, targetId: string, sourceId: string, why: MergeReason, limits: Record<string, number>): Promise<Result<CustomerMerge>> {
    const tenantId = tenantOf(tx);
    if (targetId === sourceId) return fail(userError(["sourceId"], UserErrorCode.INVALID, "A customer cannot be merged into itself"));
    const [first, second] = [targetId, sourceId].sort();
    const locked = await tx.manager.find(Customer, { where: [{ id: first, tenantId }, { id: second, tenantId }], lock: { mode: "pessimistic_write" } });
    const target = locked.find((c) => c.id === targetId);
    const source = locked.find((c) => c.id === sourceId);
    if (!target) return fail(userError(["targetId"], UserErrorCode.NOT_FOUND, "No such customer"));
    if (!source) return fail(userError(["sourceId"], UserErrorCode.NOT_FOUND, "No such customer"));
    const identities = await tx.manager.find(CustomerIdentity, { where: [{ tenantId, customerId: targetId }, { tenantId, customerId: sourceId }] });
    const si = identities.filter((i) => i.customerId === sourceId);
    const violations = this.limitViolations(identities, limits);
    if (violations.length) {
      return fail(userError(["sourceId"], UserErrorCode.CONFLICT, `Merging would give one customer several ${violations.join(", ")} identities`));
    }
    const before = toPlain(target);
    const snapshot = { source: toPlain(source) };
    foldProfile(target, source);
    const now = new Date();
    target.updatedAt = now;
    const after = toPlain(target);
    const changes: CustomerMerge["changes"] = {};
    for (const k of PROFILE_COLUMNS) {
      if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) changes[k] = { before: before[k], after: after[k] };
    }
    const moved: Record<string, string[]> = { identities: si.map((i) => i.id) };
    if (si.length) {
      await tx.manager.query(`UPDATE customer_identities SET customer_id = $1 WHERE tenant_id = $2 AND customer_id = $3`, [targetId, tenantId, sourceId]);
    }
    for (const hook of this.hooks) moved[hook.name] = await hook.move(tx, sourceId, targetId);
    await tx.manager.query(`DELETE FROM customers WHERE id = $1 AND tenant_id = $2`, [sourceId, tenantId]);
    await tx.manager.save(Customer, indexContacts(this.app.dataKeys, target));
    for (const hook of this.hooks) await hook.after?.(tx, [targetId]);
    const merge = await tx.manager.save(
      tx.manager.create(CustomerMerge, { tenantId, targetId, sourceId, reason: why.reason, channel: why.channel ?? null, externalId: why.externalId ?? null, changes, snapshot, moved, mergedAt: now, unmergedAt: null, erasedAt: null }),
    );
    tx.emit({ type: "customer.merged", tenantId, customerId: targetId, sourceId, mergeId: merge.id });
    tx.emit({ type: "customer.updated", tenantId, customerId: targetId, changed: customerFields(["identities", ...Object.keys(changes)]) });
    return ok(merge);
  }

  /** Restores the source customer and what it owned, and the target's fields the merge changed (where unchanged since). */
  async unmerge(tx: TxCtx, mergeId: string): Promise<Result<{ target: Customer; source: Customer }>> {
    const tenantId = tenantOf(tx);
    const merge = await tx.manager.findOne(CustomerMerge, { where: { id: mergeId, tenantId }, lock: { mode: "pessimistic_write" } });
    if (!merge) return fail(userError(["mergeId"], UserErrorCode.NOT_FOUND, "No such merge"));
    if (merge.unmergedAt) return fail(userError(["mergeId"], UserErrorCode.CONFLICT, "This merge was undone already"));
    if (merge.erasedAt) {
      return fail(userError(["mergeId"], UserErrorCode.CONFLICT, `This merge can no longer be undone: a customer it involved was erased at ${merge.erasedAt.toISOString()}, and with them what the merge recorded`));
    }
    const target = await tx.manager.findOne(Customer, { where: { id: merge.targetId, tenantId }, lock: { mode: "pessimistic_write" } });
    if (!target) return fail(userError(["mergeId"], UserErrorCode.CONFLICT, "The merged customer was merged again or deleted since; undo that first"));
    const later = await tx.manager.query(
      `SELECT 1 FROM customer_merges WHERE tenant_id = $1 AND target_id = $2 AND merged_at > $3 AND unmerged_at IS NULL LIMIT 1`,
      [tenantId, merge.targetId, merge.mergedAt],
    );
    if (later.length) return fail(userError(["mergeId"], UserErrorCode.CONFLICT, "Later merges into this customer must be undone first"));
    const s = merge.snapshot.source;
    const source = tx.manager.create(Customer, {
      ...(s as Partial<Customer>),
      createdAt: new Date(s.createdAt as string),
      updatedAt: new Date(s.updatedAt as string),
      firstSeenAt: new Date(s.firstSeenAt as string),
      lastSeenAt: new Date(s.lastSeenAt as string),
    });
    await tx.manager.save(Customer, indexContacts(this.app.dataKeys, source));
    const ids = merge.moved.identities ?? [];
    if (ids.length) {
      await tx.manager.query(`UPDATE customer_identities SET customer_id = $1 WHERE tenant_id = $2 AND customer_id = $3 AND id = ANY($4::uuid[])`, [
        merge.sourceId,
        tenantId,
        merge.targetId,
        ids,
      ]);
    }
    for (const hook of this.hooks) await hook.restore(tx, merge.moved[hook.name] ?? [], merge.sourceId);
    const current = toPlain(target);
    for (const [k, change] of Object.entries(merge.changes)) {
      (target as unknown as Plain)[k] = restoreField(k, current[k], change.before, change.after);
    }
    await tx.manager.save(Customer, indexContacts(this.app.dataKeys, target));
    for (const hook of this.hooks) await hook.after?.(tx, [merge.targetId, merge.sourceId]);
    merge.unmergedAt = new Date();
    await tx.manager.update(CustomerMerge, { id: merge.id }, { unmergedAt: merge.unmergedAt });
    tx.emit({ type: "customer.unmerged", tenantId, customerId: merge.targetId, sourceId: merge.sourceId, mergeId: merge.id });
    tx.emit({ type: "customer.updated", tenantId, customerId: merge.targetId, changed: ["identities"] });
    tx.emit({ type: "customer.created", tenantId, customerId: merge.sourceId });
    return ok({ target, source });
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Column names as the Customer GraphQL type calls them; bookkeeping columns are not fields. */
const FIELD_OF: Record<string, string[]> = { country: ["region"], province: ["region"], city: ["region"], consent: ["consents", "marketingConsent"], fieldTimes: [] };
function customerFields(columns: string[]): string[] {
  return [...new Set(columns.flatMap((c) => FIELD_OF[c] ?? [c]))].sort();
}

/**
 * What a field goes back to on unmerge: what the merge brought is taken away, what happened since
 * stays. Sets (tags) lose the elements the merge added; maps (attributes, field times) lose the keys
 * it added and get back the values it changed, where unchanged since; other fields return to their
 * value before the merge unless they changed again.
 */
function restoreField(k: string, current: unknown, before: unknown, after: unknown): unknown {
  if (k === "tags") {
    const added = new Set((after as string[]).filter((t) => !(before as string[]).includes(t)));
    return (current as string[]).filter((t) => !added.has(t));
  }
  if (k === "attributes" || k === "fieldTimes") {
    const out = { ...(current as Plain) };
    const b = before as Plain;
    for (const [key, v] of Object.entries(after as Plain)) {
      if (!same(out[key], v)) continue;
      if (key in b) out[key] = b[key];
      else delete out[key];
    }
    return out;
  }
  if (!same(current, after)) return current;
  return ["createdAt", "updatedAt", "firstSeenAt", "lastSeenAt"].includes(k) ? new Date(before as string) : before;
}
