import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The year of a customer's birthday, in plain text beside the encrypted birthday: what segments (`age`) and
 * insights (age bands) need, without opening the birthday. A year alone is a coarse value (an age band).
 * Rows written before it are filled in at start (customers module), the birthday being encrypted.
 */
export class BirthYear1764540000000 implements MigrationInterface {
  name = "BirthYear1764540000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customers ADD COLUMN birth_year smallint`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customers DROP COLUMN birth_year`);
  }
}
