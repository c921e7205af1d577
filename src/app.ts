import type { Logger } from "pino";
import type { Config } from "./config";
import { openDatabase, type Database } from "./db/data-source";
import { Metrics } from "./core/metrics";
import { SecretBox } from "./core/secrets";
import { JobQueue } from "./core/jobs";
import { Outbox } from "./events/outbox";
import { PubSub } from "./events/pubsub";
import { CustomersService } from "./modules/customers/service";
import { TenancyService } from "./modules/tenancy/service";
import { ChannelsService } from "./modules/channels/service";
import { IngestionService } from "./modules/ingestion/service";
import { OrdersService } from "./modules/orders/service";
import { ImportsService } from "./modules/imports/service";
import { PluginHost } from "./plugins/host";
import type { PluginDefinition } from "./plugins/types";
import { builtinPlugins } from "../adapters";

/** The composed application: configuration, database, event plumbing and every module's service. */
export interface App {
  config: Config;
  log: Logger;
  db: Database;
  metrics: Metrics;
  secrets: SecretBox;
  pubsub: PubSub;
  outbox: Outbox;
  tenancy: TenancyService;
  customers: CustomersService;
  channels: ChannelsService;
  ingestion: IngestionService;
  orders: OrdersService;
  imports: ImportsService;
  plugins: PluginHost;
  /** The job queue (pg-boss): started by the server, not by `createApp`. */
  jobs: JobQueue;
}

export interface CreateAppOptions {
  /** Use this database instead of opening one from `config` (tests share a prepared one). */
  database?: Database;
  /** Plugins besides the built-in adapters and CRM_PLUGINS (tests register theirs here). */
  plugins?: PluginDefinition<any>[];
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
  let pubsub: PubSub;
  try {
    pubsub = config.redisUrl ? await PubSub.redis(config.redisUrl, log.child({ component: "pubsub" })) : PubSub.inProcess();
  } catch (err) {
    await db.close();
    throw err;
  }
  const jobs = new JobQueue(db.pool, log.child({ component: "jobs" }), { pollingSeconds: config.env === "test" ? 0.5 : 2 });
  const metrics = new Metrics(db.dataSource, jobs);
  const outbox = new Outbox(db.dataSource, pubsub, jobs, log.child({ component: "outbox" }), metrics, config.eventDelivery);
  const secrets = new SecretBox(config.secretKeys);
  if (!secrets.enabled) log.warn("CRM_SECRET_KEY is not set: channel connection secrets are stored unencrypted");
  const app = { config, log, db, metrics, secrets, pubsub, outbox, jobs } as App;
  app.tenancy = new TenancyService(app);
  app.customers = new CustomersService(app);
  app.channels = new ChannelsService(app);
  app.ingestion = new IngestionService(app);
  app.orders = new OrdersService(app);
  app.imports = new ImportsService(app);
  app.customers.merges.hooks.push(app.ingestion.mergeHook);
  app.customers.merges.hooks.push(app.orders.mergeHook);
  app.plugins = PluginHost.load(app, [...builtinPlugins, ...(opts.plugins ?? [])], config.plugins);
  return app;
}
