import type { MigrationInterface, QueryRunner } from "typeorm";

/** Outbox rows are leased while their handlers run outside any transaction (handlers may use the database). */
export class OutboxLease1764350000000 implements MigrationInterface {
  name = "OutboxLease1764350000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox ADD COLUMN lease_until timestamptz(3)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox DROP COLUMN lease_until`);
  }
}
