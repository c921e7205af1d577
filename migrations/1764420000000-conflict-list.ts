import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * identityConflicts became a connection with a filter: keyset order (created_at, id) over all of a
 * tenant's conflicts (resolved ones too, not only the open ones the partial index covers), and the
 * customers a conflict involves (`customer_ids @> ARRAY[…]`).
 */
export class ConflictList1764420000000 implements MigrationInterface {
  name = "ConflictList1764420000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX identity_conflicts_open_idx`);
    await q.query(`CREATE INDEX identity_conflicts_open_idx ON identity_conflicts (tenant_id, created_at, id) WHERE resolved_at IS NULL`);
    await q.query(`CREATE INDEX identity_conflicts_tenant_created_idx ON identity_conflicts (tenant_id, created_at, id)`);
    await q.query(`CREATE INDEX identity_conflicts_customers_idx ON identity_conflicts USING gin (customer_ids)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX identity_conflicts_customers_idx`);
    await q.query(`DROP INDEX identity_conflicts_tenant_created_idx`);
    await q.query(`DROP INDEX identity_conflicts_open_idx`);
    await q.query(`CREATE INDEX identity_conflicts_open_idx ON identity_conflicts (tenant_id, created_at) WHERE resolved_at IS NULL`);
  }
}
