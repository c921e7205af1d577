import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ID, ObjectType } from "type-graphql";
import { tenantOf, type Principal, type TxCtx } from "../../core/context";
import { toGlobalId } from "../../core/global-id";
import { lockKeys } from "../../core/locks";
import type { PersonalDataHooks } from "./personal-data";

/**
 * That a customer was erased: the former id, why, by whom, when — and nothing about the person. Kept so that
 * erasing again is answered as such, and merges that involved the person can say why they cannot be undone.
 */
@Entity({ name: "customer_erasures" })
@ObjectType("CustomerErasure", { description: "An erasure of a customer's personal data (irreversible). Holds no personal value." })
export class CustomerErasure {
  @PrimaryGeneratedColumn("uuid", { name: "id" }) localId: string;
  @Column({ type: "uuid" }) tenantId: string;
  @Column({ type: "uuid", name: "customer_id" }) customerLocalId: string;
  /** Customers merged into the erased one earlier (their data was the same person's, erased with it). */
  @Column({ type: "uuid", array: true, name: "merged_ids" }) mergedIds: string[];
  @Field(() => String, { description: "Why: the reason given, `retention` for the inactive-customer job, `deleteCustomer` for a deletion." })
  @Column({ type: "text" })
  reason: string;
  /** Who: `api_key:<id>`, or `system:<actor>` for a job. */
  @Column({ type: "text" }) actor: string;
  @Field(() => Date) @Column({ type: "timestamptz", precision: 3 }) erasedAt: Date;

  @Field(() => ID, { name: "id" })
  get id(): string {
    return toGlobalId("CustomerErasure", this.localId);
  }
  @Field(() => ID, { description: "The erased customer's former id (it names no one any more)." })
  get customerId(): string {
    return toGlobalId("Customer", this.customerLocalId);
  }
}

/**
 * Takes the identity keys the customers hold, as an ingestion batch does (`identityLockKey`), before the
 * caller locks their rows: a batch attaching to one of them then waits for the erasure, or the erasure for it.
 */
export async function lockIdentitiesOf(tx: TxCtx, ids: readonly string[]): Promise<void> {
  const tenantId = tenantOf(tx);
  const rows: { type: string; value: string }[] = await tx.manager.query(`SELECT type, value FROM customer_identities WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`, [tenantId, ids]);
  await lockKeys(tx.manager, "identity", tenantId, rows.map((r) => identityLockKey(r.type, tx.app.dataKeys.decrypt(r.value))));
}

/** The advisory-lock key of an identity: what an ingestion batch and an erasure both lock (`lockKeys(…, "identity", …)`). */
export function identityLockKey(type: string, value: string): string {
  return `${type}:${value}`;
}

export function actorOf(principal: Principal): string {
  if (principal.kind === "api_key") return `api_key:${principal.keyId}`;
  if (principal.kind === "system") return `system:${principal.actor}`;
  return "platform";
}

/**
 * Erases these customers (local ids of `tx`'s tenant, locked by the caller, all existing) for good, in the
 * caller's transaction, set-based: whatever many there are, a fixed number of statements plus one per module hook.
 *
 * 1. The person is each customer together with those merged into it earlier (and not unmerged): their
 *    events, merge snapshots and conflicts are the same person's data.
 * 2. Every module's erase hook removes or anonymizes its own copies (orders are unlinked and stay for the
 *    revenue; ingested events keep only a digest of their keys; conflicts go).
 * 3. Merge records that involved them lose what they recorded of the person and are marked erased (they can
 *    no longer be undone); the profile and its identities are deleted, so that the identities are free.
 * 4. One `customer_erasures` row per customer; `customer.erased` (and `customer.deleted`) announced.
 */
export async function eraseCustomers(tx: TxCtx, hooks: PersonalDataHooks, ids: readonly string[], reason: string): Promise<CustomerErasure[]> {
  if (!ids.length) return [];
  const tenantId = tenantOf(tx);
  const m = tx.manager;
  const person: { root: string; id: string }[] = await m.query(
    `WITH RECURSIVE person(root, id) AS (
       SELECT x, x FROM unnest($2::uuid[]) AS x
       UNION
       SELECT p.root, mg.source_id FROM customer_merges mg JOIN person p ON mg.target_id = p.id
        WHERE mg.tenant_id = $1 AND mg.unmerged_at IS NULL
     ) SELECT root, id FROM person`,
    [tenantId, ids],
  );
  const all = [...new Set(person.map((p) => p.id))];
  await hooks.erase(tx, all);
  await m.query(
    `UPDATE customer_merges SET changes = '{}', snapshot = '{"source": {}}', moved = '{}', external_id = NULL, erased_at = now()
      WHERE tenant_id = $1 AND (target_id = ANY($2::uuid[]) OR source_id = ANY($2::uuid[]))`,
    [tenantId, all],
  );
  // Identities go with their customer (ON DELETE CASCADE), orders are unlinked (ON DELETE SET NULL).
  await m.query(`DELETE FROM customers WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, [tenantId, ids]);
  const merged = new Map<string, string[]>();
  for (const p of person) if (p.id !== p.root) merged.set(p.root, [...(merged.get(p.root) ?? []), p.id]);
  const rows: { id: string; customer_id: string; erased_at: Date }[] = await m.query(
    `INSERT INTO customer_erasures (tenant_id, customer_id, merged_ids, reason, actor)
     SELECT $1, x.customer_id, ARRAY(SELECT jsonb_array_elements_text(x.merged_ids)::uuid), $3, $4
       FROM jsonb_to_recordset($2::jsonb) AS x(customer_id uuid, merged_ids jsonb)
     RETURNING id, customer_id, erased_at`,
    [tenantId, JSON.stringify(ids.map((id) => ({ customer_id: id, merged_ids: merged.get(id) ?? [] }))), reason, actorOf(tx.principal)],
  );
  return rows.map((r) => {
    tx.emit({ type: "customer.erased", tenantId, customerId: r.customer_id, erasureId: r.id, reason });
    tx.emit({ type: "customer.deleted", tenantId, customerId: r.customer_id });
    return Object.assign(new CustomerErasure(), {
      localId: r.id,
      tenantId,
      customerLocalId: r.customer_id,
      mergedIds: merged.get(r.customer_id) ?? [],
      reason,
      actor: actorOf(tx.principal),
      erasedAt: r.erased_at,
    });
  });
}
