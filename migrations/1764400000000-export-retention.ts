import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Exports expire (EXPORT_RETENTION_HOURS): `file_deleted_at` records that the sweeper deleted an export's file —
 * an expired one's, or what a failed one left. The sweeper looks only at exports whose file is still there.
 */
export class ExportRetention1764400000000 implements MigrationInterface {
  name = "ExportRetention1764400000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE import_jobs ADD COLUMN file_deleted_at timestamptz(3)`);
    await q.query(`CREATE INDEX import_jobs_export_files_idx ON import_jobs (finished_at) WHERE kind = 'customers_export' AND file_deleted_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX import_jobs_export_files_idx`);
    await q.query(`ALTER TABLE import_jobs DROP COLUMN file_deleted_at`);
  }
}
