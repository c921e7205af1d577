import type { MigrationInterface, QueryRunner } from "typeorm";

/** `orders(orderBy: {field: TOTAL})`: keyset order (total, id) within a tenant. */
export class OrdersByTotal1764430000000 implements MigrationInterface {
  name = "OrdersByTotal1764430000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX orders_tenant_total_idx ON orders (tenant_id, total, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX orders_tenant_total_idx`);
  }
}
