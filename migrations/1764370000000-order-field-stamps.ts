import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Optional order fields (store, subtotal, discount, shipping, lines) each keep the stamp of the event
 * they come from, so a later event that omits them no longer blanks them. Existing rows get the stamp
 * of their amounts for every field they hold (lines: when there are any), in the encoding of
 * `encodeStamp` (src/modules/orders/fold-events.ts): 16-digit ms + 1e14, rank, event id.
 */
export class OrderFieldStamps1764370000000 implements MigrationInterface {
  name = "OrderFieldStamps1764370000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE orders ADD COLUMN field_stamps jsonb NOT NULL DEFAULT '{}'`);
    await q.query(`
      UPDATE orders o SET field_stamps = jsonb_strip_nulls(jsonb_build_object(
          'store_id', CASE WHEN o.store_id IS NOT NULL THEN s.stamp END,
          'subtotal', CASE WHEN o.subtotal IS NOT NULL THEN s.stamp END,
          'discount', CASE WHEN o.discount IS NOT NULL THEN s.stamp END,
          'shipping', CASE WHEN o.shipping IS NOT NULL THEN s.stamp END,
          'items', CASE WHEN jsonb_array_length(o.items) > 0 THEN s.stamp END))
        FROM (SELECT id, lpad(((extract(epoch FROM amounts_at) * 1000)::bigint + 100000000000000)::text, 16, '0')
                         || '|' || amounts_rank || '|' || amounts_event_id AS stamp
                FROM orders WHERE amounts_at IS NOT NULL) AS s
       WHERE o.id = s.id`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE orders DROP COLUMN field_stamps`);
  }
}
