import type { MigrationInterface, QueryRunner } from "typeorm";

/** Identity conflicts can be closed after review: who closed them and why. */
export class ConflictResolution1764410000000 implements MigrationInterface {
  name = "ConflictResolution1764410000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE identity_conflicts ADD COLUMN resolution_note text, ADD COLUMN resolved_by text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE identity_conflicts DROP COLUMN resolution_note, DROP COLUMN resolved_by`);
  }
}
