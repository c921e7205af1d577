import type { MigrationInterface, QueryRunner } from "typeorm";

/** The list order of `orders`: when it was placed, or when we first heard of it if no order.placed came. */
const SORT_KEY = "(coalesce(placed_at, created_at))";

/** Orders, their refunds and per-customer order statistics. Runs on PGlite and PostgreSQL 15+. */
export class Orders1764330000000 implements MigrationInterface {
  name = "Orders1764330000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE orders (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        channel text NOT NULL,
        external_order_id text NOT NULL,
        -- Erasing a customer keeps the merchant's sales records, without the person.
        customer_id uuid REFERENCES customers(id) ON DELETE SET NULL,
        store_id text,
        currency text,
        subtotal bigint,
        discount bigint,
        shipping bigint,
        total bigint NOT NULL DEFAULT 0,
        refunded bigint NOT NULL DEFAULT 0,
        items jsonb NOT NULL DEFAULT '[]',
        -- Which event the amounts above come from: the greatest (amounts_at, amounts_rank, amounts_event_id) wins.
        -- "C" collation so the database orders event ids byte-wise, as the service does when it folds a batch.
        amounts_at timestamptz(3),
        amounts_rank smallint,
        amounts_event_id text COLLATE "C",
        placed_at timestamptz(3),
        paid_at timestamptz(3),
        cancelled_at timestamptz(3),
        completed_at timestamptz(3),
        -- Derived in one place, so filters, indexes and the API cannot disagree about it.
        status text NOT NULL GENERATED ALWAYS AS (
          CASE
            WHEN (paid_at IS NOT NULL OR completed_at IS NOT NULL) AND total > 0 AND refunded >= total THEN 'REFUNDED'
            WHEN completed_at IS NOT NULL THEN 'COMPLETED'
            WHEN cancelled_at IS NOT NULL THEN 'CANCELLED'
            WHEN paid_at IS NOT NULL THEN 'PAID'
            WHEN placed_at IS NOT NULL THEN 'PLACED'
            ELSE 'PENDING'
          END
        ) STORED,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CONSTRAINT orders_tenant_channel_external_key UNIQUE (tenant_id, channel, external_order_id)
      )`);
    // Keyset pagination reads these in order: one per filter, each ending in the list's sort.
    await q.query(`CREATE INDEX orders_tenant_sort_idx ON orders (tenant_id, ${SORT_KEY}, id)`);
    await q.query(`CREATE INDEX orders_tenant_status_sort_idx ON orders (tenant_id, status, ${SORT_KEY}, id)`);
    await q.query(`CREATE INDEX orders_tenant_channel_sort_idx ON orders (tenant_id, channel, ${SORT_KEY}, id)`);
    // Customer first rather than tenant: customer ids are unique across tenants, and deleting or merging away a
    // customer (ON DELETE SET NULL) looks orders up by customer_id alone.
    await q.query(`CREATE INDEX orders_customer_sort_idx ON orders (customer_id, ${SORT_KEY}, id)`);
    await q.query(`
      CREATE TABLE order_refunds (
        tenant_id uuid NOT NULL,
        channel text NOT NULL,
        external_order_id text NOT NULL,
        refund_id text NOT NULL,
        amount bigint NOT NULL,
        items jsonb NOT NULL DEFAULT '[]',
        occurred_at timestamptz(3) NOT NULL,
        PRIMARY KEY (tenant_id, channel, external_order_id, refund_id),
        CONSTRAINT order_refunds_order_fkey FOREIGN KEY (tenant_id, channel, external_order_id)
          REFERENCES orders (tenant_id, channel, external_order_id) ON DELETE CASCADE
      )`);
    // Key order (customer_id, tenant_id) serves both the tenant-scoped reads and the cascade from customers.
    await q.query(`
      CREATE TABLE customer_stats (
        customer_id uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        orders_count int NOT NULL,
        total_spent bigint NOT NULL,
        first_order_at timestamptz(3),
        last_order_at timestamptz(3),
        currency text NOT NULL,
        PRIMARY KEY (customer_id, tenant_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE customer_stats`);
    await q.query(`DROP TABLE order_refunds`);
    await q.query(`DROP TABLE orders`);
  }
}
