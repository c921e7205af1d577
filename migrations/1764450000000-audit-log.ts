import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The audit log (privacy issue): who did what to whom, when, from where, with what result. Append-only — a trigger
 * refuses every UPDATE; rows leave only by the retention job's DELETE. Part of the audit module's manifest.
 */
export class AuditLog1764450000000 implements MigrationInterface {
  name = "AuditLog1764450000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_log (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid REFERENCES tenants(id) ON DELETE CASCADE,
        at timestamptz(3) NOT NULL DEFAULT now(),
        actor_kind text NOT NULL,
        actor_id text,
        actor_name text,
        kind text NOT NULL CHECK (kind IN ('MUTATION', 'PII_READ')),
        operation text NOT NULL,
        target_ids text[] NOT NULL DEFAULT '{}',
        ip text,
        result text NOT NULL CHECK (result IN ('OK', 'USER_ERROR', 'ERROR'))
      )`);
    await q.query(`CREATE INDEX audit_log_tenant_at_idx ON audit_log (tenant_id, at DESC, id DESC)`);
    await q.query(`CREATE INDEX audit_log_targets_idx ON audit_log USING gin (target_ids)`);
    await q.query(`
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
      END $$`);
    await q.query(`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_log`);
    await q.query(`DROP FUNCTION audit_log_append_only()`);
  }
}
