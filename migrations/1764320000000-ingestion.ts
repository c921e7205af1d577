import type { MigrationInterface, QueryRunner } from "typeorm";

/** Channel connections, plugin state, idempotency log of ingested events, merges and identity conflicts. */
export class Ingestion1764320000000 implements MigrationInterface {
  name = "Ingestion1764320000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenants ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'`);
    // Per-field "as of" times, so events applied out of order converge to the in-order result.
    await q.query(`ALTER TABLE customers ADD COLUMN field_times jsonb NOT NULL DEFAULT '{}'`);
    await q.query(`
      CREATE TABLE channel_connections (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        channel text NOT NULL,
        name text NOT NULL,
        config jsonb NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX channel_connections_tenant_idx ON channel_connections (tenant_id, channel)`);
    await q.query(`
      CREATE TABLE plugin_state (
        plugin text NOT NULL,
        connection_id uuid NOT NULL,
        key text NOT NULL,
        value jsonb NOT NULL,
        expires_at timestamptz(3),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (plugin, connection_id, key)
      )`);
    await q.query(`
      CREATE TABLE ingested_events (
        tenant_id uuid NOT NULL,
        channel text NOT NULL,
        external_id text NOT NULL,
        connection_id uuid,
        type text NOT NULL,
        occurred_at timestamptz(3) NOT NULL,
        received_at timestamptz(3) NOT NULL DEFAULT now(),
        customer_id uuid,
        payload jsonb NOT NULL,
        PRIMARY KEY (tenant_id, channel, external_id)
      )`);
    await q.query(`CREATE INDEX ingested_events_customer_idx ON ingested_events (tenant_id, customer_id)`);
    await q.query(`CREATE INDEX ingested_events_type_idx ON ingested_events (tenant_id, type, occurred_at)`);
    await q.query(`
      CREATE TABLE customer_merges (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        target_id uuid NOT NULL,
        source_id uuid NOT NULL,
        reason text NOT NULL,
        channel text,
        external_id text,
        changes jsonb NOT NULL,
        snapshot jsonb NOT NULL,
        moved jsonb NOT NULL,
        merged_at timestamptz(3) NOT NULL DEFAULT now(),
        unmerged_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX customer_merges_target_idx ON customer_merges (tenant_id, target_id, merged_at)`);
    await q.query(`CREATE INDEX customer_merges_source_idx ON customer_merges (tenant_id, source_id)`);
    await q.query(`
      CREATE TABLE identity_conflicts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        channel text NOT NULL,
        external_id text NOT NULL,
        identities jsonb NOT NULL,
        customer_ids uuid[] NOT NULL,
        reason text NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        resolved_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX identity_conflicts_open_idx ON identity_conflicts (tenant_id, created_at) WHERE resolved_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE identity_conflicts`);
    await q.query(`DROP TABLE customer_merges`);
    await q.query(`DROP TABLE ingested_events`);
    await q.query(`DROP TABLE plugin_state`);
    await q.query(`DROP TABLE channel_connections`);
    await q.query(`ALTER TABLE customers DROP COLUMN field_times`);
    await q.query(`ALTER TABLE tenants DROP COLUMN settings`);
  }
}
