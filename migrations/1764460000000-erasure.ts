import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Erasure (PIPL art. 47, GDPR art. 17): `customer_erasures` records that a customer was erased — the
 * former id, why, by whom, when; no personal value — so that erasing twice is answered as such and a
 * merge record that involved the person can say why it can no longer be undone (`customer_merges.erased_at`).
 * `erased_event_keys` keeps the ingested events of an erased person as digests of their keys only: the
 * keys of some channels name the person (a WeChat login's key holds the openid), yet a replay of such an
 * event must still be recognised and not bring the person back. Part of the customers and ingestion
 * modules' manifests.
 */
export class Erasure1764460000000 implements MigrationInterface {
  name = "Erasure1764460000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE customer_erasures (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        customer_id uuid NOT NULL,
        merged_ids uuid[] NOT NULL DEFAULT '{}',
        reason text NOT NULL,
        actor text NOT NULL,
        erased_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, customer_id)
      )`);
    await q.query(`ALTER TABLE customer_merges ADD COLUMN erased_at timestamptz(3)`);
    await q.query(`
      CREATE TABLE erased_event_keys (
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        channel text NOT NULL,
        key_digest bytea NOT NULL,
        erased_at timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, channel, key_digest)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE erased_event_keys`);
    await q.query(`ALTER TABLE customer_merges DROP COLUMN erased_at`);
    await q.query(`DROP TABLE customer_erasures`);
  }
}
