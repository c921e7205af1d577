import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The proof of consent: every grant and withdrawal, per purpose (and channel, for marketing), with its source,
 * the text version agreed to, the actor and the time. The current state stays on the profile
 * (`customers.marketing_consent`, whose entries now carry a purpose; those without one are marketing). Rows go
 * only with the person (erasure). Part of the customers module's manifest.
 */
export class ConsentRecords1764470000000 implements MigrationInterface {
  name = "ConsentRecords1764470000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE consent_records (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        customer_id uuid NOT NULL,
        purpose text NOT NULL CHECK (purpose IN ('MARKETING', 'SENSITIVE_DATA', 'CROSS_BORDER_TRANSFER')),
        channel text,
        granted boolean NOT NULL,
        source text,
        text_version text,
        actor text NOT NULL,
        at timestamptz(3) NOT NULL
      )`);
    await q.query(`CREATE INDEX consent_records_customer_idx ON consent_records (tenant_id, customer_id, at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE consent_records`);
  }
}
