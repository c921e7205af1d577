import type { EntityManager } from "typeorm";

/**
 * SQL fragments other modules' set-based reads use over customers (segments' conditions, insights):
 * the columns they may read are `id`, `tenant_id`, `display_name`, `gender`, `country`, `province`,
 * `city`, `birth_year`, `tags`, `attributes`, `marketing_consent` (consent entries), `locale` and the timestamps —
 * never the encrypted ones, which only this module opens.
 */

/** The tenant's customers as `alias` (`FROM ${customersSql("c")}`). */
export function customersSql(alias: string): string {
  return `customers ${alias}`;
}

/** Whether `customerAlias` has an identity of one of the types in `typesSql` (a text[] expression). */
export function hasIdentitySql(customerAlias: string, tenantParam: string, typesSql: string): string {
  return `EXISTS (SELECT 1 FROM customer_identities i WHERE i.customer_id = ${customerAlias}.id AND i.tenant_id = ${tenantParam} AND i.type = ANY(${typesSql}))`;
}

/** Which of these ids are customers of the tenant (one statement, in the caller's transaction). */
export async function existingCustomerIds(manager: EntityManager, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  const rows: { id: string }[] = await manager.query(`SELECT id::text FROM customers WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, [tenantId, ids]);
  return new Set(rows.map((r) => r.id));
}
