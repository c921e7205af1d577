import type { MigrationInterface, QueryRunner } from "typeorm";

/** Audit records of a third kind: a subscription over graphql-ws started by a key that sees personal values unmasked. Part of the audit module's manifest. */
export class AuditSubscriptions1764490000000 implements MigrationInterface {
  name = "AuditSubscriptions1764490000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE audit_log DROP CONSTRAINT audit_log_kind_check`);
    await q.query(`ALTER TABLE audit_log ADD CONSTRAINT audit_log_kind_check CHECK (kind IN ('MUTATION', 'PII_READ', 'SUBSCRIPTION'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM audit_log WHERE kind = 'SUBSCRIPTION'`);
    await q.query(`ALTER TABLE audit_log DROP CONSTRAINT audit_log_kind_check`);
    await q.query(`ALTER TABLE audit_log ADD CONSTRAINT audit_log_kind_check CHECK (kind IN ('MUTATION', 'PII_READ'))`);
  }
}
