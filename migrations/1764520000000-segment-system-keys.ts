import type { MigrationInterface, QueryRunner } from "typeorm";

/** Built-in segments a module creates for each tenant (the value tiers) carry a key; the merchant may edit them. */
export class SegmentSystemKeys1764520000000 implements MigrationInterface {
  name = "SegmentSystemKeys1764520000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE segments ADD COLUMN system_key text`);
    await q.query(`CREATE UNIQUE INDEX segments_tenant_system_key_idx ON segments (tenant_id, system_key) WHERE system_key IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE segments DROP COLUMN system_key`);
  }
}
