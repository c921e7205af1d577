import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Personal values of the profile encrypted at rest, found by blind indexes (customers/blind.ts): identity values
 * by `value_index` (unique per tenant: it covers the type), the primary phone and e-mail by `phone_index` and
 * `email_index`, and the phone's last four digits by `phone_last4_index`. The birthday becomes text (its
 * ciphertext). Substring indexes on phone and e-mail go: ciphertext has no substrings worth indexing. Rows
 * written before are encrypted and indexed by the server at start (customers/reencrypt.ts), before it listens —
 * the key is the server's, not the database's. Part of the customers module's manifest.
 */
export class BlindIndexes1764480000000 implements MigrationInterface {
  name = "BlindIndexes1764480000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customer_identities ADD COLUMN value_index bytea`);
    await q.query(`ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_tenant_type_value_key`);
    await q.query(`CREATE UNIQUE INDEX customer_identities_value_index_key ON customer_identities (tenant_id, value_index)`);
    await q.query(`DROP INDEX customers_email_trgm_idx`);
    await q.query(`DROP INDEX customers_phone_trgm_idx`);
    await q.query(`ALTER TABLE customers ALTER COLUMN birthday TYPE text USING birthday::text`);
    await q.query(`ALTER TABLE customers ADD COLUMN phone_index bytea, ADD COLUMN email_index bytea, ADD COLUMN phone_last4_index bytea`);
    await q.query(`CREATE INDEX customers_phone_index_idx ON customers (tenant_id, phone_index) WHERE phone_index IS NOT NULL`);
    await q.query(`CREATE INDEX customers_email_index_idx ON customers (tenant_id, email_index) WHERE email_index IS NOT NULL`);
    await q.query(`CREATE INDEX customers_phone_last4_index_idx ON customers (tenant_id, phone_last4_index) WHERE phone_last4_index IS NOT NULL`);
    // Rows from before (no blind index yet): found at start without a scan, re-encrypted before the server listens.
    await q.query(`CREATE INDEX customer_identities_unindexed_idx ON customer_identities (id) WHERE value_index IS NULL`);
    await q.query(`CREATE INDEX customers_unindexed_idx ON customers (id) WHERE (phone IS NOT NULL AND phone_index IS NULL) OR (email IS NOT NULL AND email_index IS NULL)`);
    // Which data key every personal value has been brought under (the re-encryption job's record).
    await q.query(`CREATE TABLE data_key_state (key_id text PRIMARY KEY, completed_at timestamptz(3) NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Values encrypted since cannot be decrypted by SQL: going back needs a database restored from before.
    await q.query(`DROP TABLE data_key_state`);
    await q.query(`DROP INDEX customers_unindexed_idx`);
    await q.query(`DROP INDEX customer_identities_unindexed_idx`);
    await q.query(`DROP INDEX customers_phone_last4_index_idx`);
    await q.query(`DROP INDEX customers_email_index_idx`);
    await q.query(`DROP INDEX customers_phone_index_idx`);
    await q.query(`ALTER TABLE customers DROP COLUMN phone_index, DROP COLUMN email_index, DROP COLUMN phone_last4_index`);
    await q.query(`CREATE INDEX customers_phone_trgm_idx ON customers USING gin (phone gin_trgm_ops)`);
    await q.query(`CREATE INDEX customers_email_trgm_idx ON customers USING gin (email gin_trgm_ops)`);
    await q.query(`DROP INDEX customer_identities_value_index_key`);
    await q.query(`ALTER TABLE customer_identities ADD CONSTRAINT customer_identities_tenant_type_value_key UNIQUE (tenant_id, type, value)`);
    await q.query(`ALTER TABLE customer_identities DROP COLUMN value_index`);
  }
}
