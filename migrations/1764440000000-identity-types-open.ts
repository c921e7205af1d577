import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Identity types are no longer a fixed list: plugins declare their channels' own (`identityTypes` in
 * `definePlugin`), and the application refuses unknown ones. The column keeps a check on the form of a name.
 * Part of the customers module's manifest.
 */
export class IdentityTypesOpen1764440000000 implements MigrationInterface {
  name = "IdentityTypesOpen1764440000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_type_check`);
    await q.query(`ALTER TABLE customer_identities ADD CONSTRAINT customer_identities_type_check CHECK (type ~ '^[a-z][a-z0-9_]{0,39}$')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_type_check`);
    await q.query(
      `ALTER TABLE customer_identities ADD CONSTRAINT customer_identities_type_check CHECK (type IN ('wechat_unionid', 'wechat_openid', 'phone', 'email', 'youzan_buyer', 'taobao_buyer', 'pos_member', 'zoho_contact', 'external'))`,
    );
  }
}
