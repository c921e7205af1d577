import type { EntityManager } from "typeorm";

/**
 * Lock buckets per namespace and tenant. PostgreSQL keeps every advisory lock in one shared table
 * (`max_locks_per_transaction × max_connections` entries, 6,400 by default): a lock per key let a few
 * concurrent batches of 1,000 events run it out ("out of shared memory"). Keys are hashed into this
 * many buckets instead, so a transaction holds at most this many locks per namespace; two keys in one
 * bucket merely wait for each other.
 */
export const LOCK_BUCKETS = 64;

/**
 * Takes transaction-scoped advisory locks covering `keys` in namespace `namespace` of tenant `tenantId`,
 * in bucket order, so transactions locking in the same namespaces in the same order cannot deadlock.
 * Namespaces in use, always taken in this order: `identity` (ingestion), `order` (order keys), `customer_stats` (orders).
 */
export async function lockKeys(m: EntityManager, namespace: string, tenantId: string, keys: readonly string[]): Promise<number> {
  if (!keys.length) return 0;
  const [row]: { locked: number }[] = await m.query(
    `SELECT count(pg_advisory_xact_lock(hashtext($1), b))::int AS locked
       FROM (SELECT DISTINCT (hashtextextended(k, 0) & ${LOCK_BUCKETS - 1})::int AS b FROM unnest($2::text[]) AS k ORDER BY b) AS buckets`,
    [`crm.${namespace}:${tenantId}`, keys],
  );
  return row.locked;
}
