import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Customer analytics: per customer its lifecycle stage, RFM scores and cell, and the customer-value
 * model's predictions as of their last computation; per tenant the fitted model. Part of the analytics
 * module's manifest.
 */
export class Analytics1764510000000 implements MigrationInterface {
  name = "Analytics1764510000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE customer_analytics (
        customer_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        lifecycle_stage text NOT NULL,
        stage_since timestamptz(3) NOT NULL,
        recency smallint,
        frequency smallint,
        monetary smallint,
        rfm_segment text,
        rfm_at timestamptz(3),
        probability_alive double precision,
        expected_orders_365d double precision,
        predicted_clv_365d bigint,
        predicted_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX customer_analytics_tenant_idx ON customer_analytics (tenant_id, customer_id)`);
    await q.query(`
      CREATE TABLE customer_value_models (
        tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
        fitted_at timestamptz(3) NOT NULL,
        customers integer NOT NULL,
        repeat_customers integer NOT NULL,
        r double precision NOT NULL,
        alpha double precision NOT NULL,
        a double precision NOT NULL,
        b double precision NOT NULL,
        p double precision NOT NULL,
        q double precision NOT NULL,
        v double precision NOT NULL,
        bgnbd_log_likelihood double precision NOT NULL,
        gamma_gamma_log_likelihood double precision NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE customer_value_models`);
    await q.query(`DROP TABLE customer_analytics`);
  }
}
