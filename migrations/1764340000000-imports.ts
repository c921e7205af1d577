import type { MigrationInterface, QueryRunner } from "typeorm";

/** Customer import/export jobs and the rows an import refused. Runs on PGlite and PostgreSQL 15+. */
export class Imports1764340000000 implements MigrationInterface {
  name = "Imports1764340000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE import_jobs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('customers_import', 'customers_export')),
        status text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED')),
        format text NOT NULL CHECK (format IN ('csv', 'xlsx')),
        processed int NOT NULL DEFAULT 0,
        accepted int NOT NULL DEFAULT 0,
        rejected int NOT NULL DEFAULT 0,
        error text,
        file_path text,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        heartbeat_at timestamptz(3) NOT NULL DEFAULT now(),
        finished_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX import_jobs_tenant_created_idx ON import_jobs (tenant_id, created_at)`);
    // Start-up and the export limit look for running jobs only; they are few.
    await q.query(`CREATE INDEX import_jobs_running_idx ON import_jobs (tenant_id, kind) WHERE status = 'RUNNING'`);
    await q.query(`
      CREATE TABLE import_errors (
        job_id uuid NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
        row int NOT NULL,
        message text NOT NULL,
        PRIMARY KEY (job_id, row)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE import_errors`);
    await q.query(`DROP TABLE import_jobs`);
  }
}
