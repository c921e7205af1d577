import type { Logger } from "pino";
import type { Config } from "./config";
import { openDatabase, type Database } from "./db/data-source";
import { Outbox } from "./events/outbox";
import { PubSub } from "./events/pubsub";
import { CustomersService } from "./modules/customers/service";
import { TenancyService } from "./modules/tenancy/service";

/** The composed application: configuration, database, event plumbing and every module's service. */
export interface App {
  config: Config;
  log: Logger;
  db: Database;
  pubsub: PubSub;
  outbox: Outbox;
  tenancy: TenancyService;
  customers: CustomersService;
}

export interface CreateAppOptions {
  /** Use this database instead of opening one from `config` (tests share a prepared one). */
  database?: Database;
}

/** Opens the database, runs pending migrations and wires the services. Does not listen. */
export async function createApp(config: Config, log: Logger, opts: CreateAppOptions = {}): Promise<App> {
  const db =
    opts.database ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.dbPoolSize,
      log: log.child({ component: "db" }),
    }));
  try {
    const ran = await db.dataSource.runMigrations({ transaction: "each" });
    if (ran.length) log.info({ migrations: ran.map((m) => m.name) }, "migrations applied");
  } catch (err) {
    await db.close();
    throw err;
  }
  const pubsub = new PubSub();
  const outbox = new Outbox(db.dataSource, pubsub, log.child({ component: "outbox" }));
  const app = { config, log, db, pubsub, outbox } as App;
  app.tenancy = new TenancyService(app);
  app.customers = new CustomersService(app);
  return app;
}
