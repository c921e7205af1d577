import { createApp, type App } from "../../../src/app";
import { reopenableDatabase, silentLog } from "../../helpers/database";
import { randomKey } from "../../helpers/test-server";

async function start(db: Awaited<ReturnType<typeof reopenableDatabase>>, bootstrapKey?: string): Promise<{ app: App; printed: string[] }> {
  const app = await createApp({ ...db.config, bootstrapTenantKey: bootstrapKey }, silentLog, { database: await db.open() });
  const printed: string[] = [];
  await app.tenancy.bootstrap(silentLog, (line) => printed.push(line));
  return { app, printed };
}

const count = async (app: App, sql: string) => (await app.db.dataSource.query(sql))[0].n as number;

describe("bootstrap", () => {
  let db: Awaited<ReturnType<typeof reopenableDatabase>>;
  beforeEach(async () => {
    db = await reopenableDatabase();
  });
  afterEach(() => db.dispose());

  it("with CRM_BOOTSTRAP_TENANT_KEY, installs that admin key on tenant default once across restarts", async () => {
    const key = randomKey();
    for (let i = 0; i < 2; i++) {
      const { app, printed } = await start(db, key);
      expect(printed).toEqual([]);
      expect(await count(app, `SELECT count(*)::int AS n FROM tenants`)).toBe(1);
      expect(await count(app, `SELECT count(*)::int AS n FROM api_keys`)).toBe(1);
      const principal = await app.tenancy.authenticate(key);
      expect(principal).toMatchObject({ kind: "api_key", scopes: new Set(["admin"]) });
      await app.db.close();
    }
  });

  it("re-enables the configured bootstrap key if it was revoked through the API", async () => {
    const key = randomKey();
    const first = await start(db, key);
    await first.app.db.dataSource.query(`UPDATE api_keys SET revoked_at = now()`);
    expect(await first.app.tenancy.authenticate(key)).toBeNull();
    await first.app.db.close();
    const second = await start(db, key);
    expect(await second.app.tenancy.authenticate(key)).not.toBeNull();
    await second.app.db.close();
  });

  it("without a configured key, creates tenant default on an empty database and prints its key once", async () => {
    const first = await start(db);
    expect(first.printed).toHaveLength(1);
    const m = /^Admin API key for tenant "default": (\S+)$/.exec(first.printed[0]);
    expect(m).not.toBeNull();
    expect(await first.app.tenancy.authenticate(m![1])).toMatchObject({ kind: "api_key" });
    await first.app.db.close();
    const second = await start(db);
    expect(second.printed).toEqual([]);
    expect(await count(second.app, `SELECT count(*)::int AS n FROM tenants`)).toBe(1);
    await second.app.db.close();
  });
});
