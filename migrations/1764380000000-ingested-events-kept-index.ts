import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * `ingested_events` by type is only looked up for the events kept for modules that thread them later
 * (messages, carts, feedback, reviews); orders and profile events are applied as they arrive. Indexing
 * those alone spares every ingested order an index entry.
 */
export class IngestedEventsKeptIndex1764380000000 implements MigrationInterface {
  name = "IngestedEventsKeptIndex1764380000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ingested_events_type_idx`);
    await q.query(`
      CREATE INDEX ingested_events_kept_idx ON ingested_events (tenant_id, type, occurred_at)
       WHERE type IN ('message.received', 'cart.updated', 'feedback.submitted', 'review.posted')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ingested_events_kept_idx`);
    await q.query(`CREATE INDEX ingested_events_type_idx ON ingested_events (tenant_id, type, occurred_at)`);
  }
}
