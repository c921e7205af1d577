import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Outbox rows remember what was already delivered, so a retry after a failing handler neither
 * republishes the event to subscribers nor reruns the handlers that succeeded.
 */
export class OutboxDelivery1764360000000 implements MigrationInterface {
  name = "OutboxDelivery1764360000000";

  async up(q: QueryRunner): Promise<void> {
    // Rows already dispatched were published; pending ones (dispatched_at NULL) may have been too, but
    // we cannot know, so they are published once more (at least once, as before this change).
    await q.query(`ALTER TABLE outbox ADD COLUMN published_at timestamptz(3), ADD COLUMN handlers_done text[] NOT NULL DEFAULT '{}'`);
    await q.query(`UPDATE outbox SET published_at = dispatched_at WHERE dispatched_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox DROP COLUMN handlers_done, DROP COLUMN published_at`);
  }
}
