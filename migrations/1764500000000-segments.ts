import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Segments and their materialized membership: one row per stay of a customer in a segment (`since`,
 * `until` null while a member), so a segment's history survives its changes. Part of the segments
 * module's manifest.
 */
export class Segments1764500000000 implements MigrationInterface {
  name = "Segments1764500000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE segments (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        kind text NOT NULL CHECK (kind IN ('RULE', 'STATIC')),
        query text,
        condition jsonb,
        time_based boolean NOT NULL DEFAULT false,
        refreshed_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK ((kind = 'RULE') = (condition IS NOT NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX segments_tenant_name_idx ON segments (tenant_id, lower(name))`);
    await q.query(`CREATE INDEX segments_tenant_created_idx ON segments (tenant_id, created_at, id)`);
    await q.query(`
      CREATE TABLE segment_members (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id uuid NOT NULL,
        segment_id uuid NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
        customer_id uuid NOT NULL,
        since timestamptz(3) NOT NULL,
        until timestamptz(3)
      )`);
    // One current stay per customer and segment; members pages in (since, customer) order; a customer's segments.
    await q.query(`CREATE UNIQUE INDEX segment_members_current_idx ON segment_members (segment_id, customer_id) WHERE until IS NULL`);
    await q.query(`CREATE INDEX segment_members_page_idx ON segment_members (segment_id, since, customer_id) WHERE until IS NULL`);
    await q.query(`CREATE INDEX segment_members_customer_idx ON segment_members (tenant_id, customer_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE segment_members`);
    await q.query(`DROP TABLE segments`);
  }
}
