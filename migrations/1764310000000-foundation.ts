import type { MigrationInterface, QueryRunner } from "typeorm";

/** Tenants, API keys, customers with identities, and the outbox. Runs on PGlite and PostgreSQL 15+. */
export class Foundation1764310000000 implements MigrationInterface {
  name = "Foundation1764310000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
    await q.query(`
      CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        CONSTRAINT tenants_name_key UNIQUE (name)
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL,
        key_hash text NOT NULL,
        prefix text NOT NULL,
        scopes text[] NOT NULL,
        expires_at timestamptz(3),
        revoked_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
      )`);
    await q.query(`CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id)`);
    await q.query(`
      CREATE TABLE customers (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        display_name text NOT NULL DEFAULT '',
        gender text NOT NULL DEFAULT 'UNKNOWN' CHECK (gender IN ('MALE', 'FEMALE', 'UNKNOWN')),
        birthday date,
        locale text,
        country text,
        province text,
        city text,
        phone text,
        email text,
        tags text[] NOT NULL DEFAULT '{}',
        attributes jsonb NOT NULL DEFAULT '{}',
        marketing_consent jsonb NOT NULL DEFAULT '[]',
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        first_seen_at timestamptz(3) NOT NULL DEFAULT now(),
        last_seen_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    // One index per sort the API offers (keyset pagination reads them in order), plus filters.
    await q.query(`CREATE INDEX customers_tenant_created_idx ON customers (tenant_id, created_at, id)`);
    await q.query(`CREATE INDEX customers_tenant_updated_idx ON customers (tenant_id, updated_at, id)`);
    await q.query(`CREATE INDEX customers_tenant_last_seen_idx ON customers (tenant_id, last_seen_at, id)`);
    await q.query(`CREATE INDEX customers_tenant_name_idx ON customers (tenant_id, display_name, id)`);
    await q.query(`CREATE INDEX customers_tags_idx ON customers USING gin (tags)`);
    await q.query(`CREATE INDEX customers_name_trgm_idx ON customers USING gin (display_name gin_trgm_ops)`);
    await q.query(`CREATE INDEX customers_email_trgm_idx ON customers USING gin (email gin_trgm_ops)`);
    await q.query(`CREATE INDEX customers_phone_trgm_idx ON customers USING gin (phone gin_trgm_ops)`);
    await q.query(`
      CREATE TABLE customer_identities (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL,
        customer_id uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
        type text NOT NULL CHECK (type IN ('wechat_unionid', 'wechat_openid', 'phone', 'email', 'youzan_buyer',
                                           'taobao_buyer', 'pos_member', 'zoho_contact', 'external')),
        value text NOT NULL,
        source_channel text,
        first_seen_at timestamptz(3) NOT NULL DEFAULT now(),
        last_seen_at timestamptz(3) NOT NULL DEFAULT now(),
        CONSTRAINT customer_identities_tenant_type_value_key UNIQUE (tenant_id, type, value)
      )`);
    await q.query(`CREATE INDEX customer_identities_customer_idx ON customer_identities (tenant_id, customer_id)`);
    await q.query(`
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        tenant_id uuid,
        type text NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        dispatched_at timestamptz(3),
        attempts int NOT NULL DEFAULT 0
      )`);
    await q.query(`CREATE INDEX outbox_pending_idx ON outbox (id) WHERE dispatched_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP TABLE customer_identities`);
    await q.query(`DROP TABLE customers`);
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE tenants`);
  }
}
