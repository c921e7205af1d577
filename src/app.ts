import type { Logger } from "pino";
import type { Config } from "./config";
import { openDatabase, type Database } from "./db/data-source";
import { Metrics } from "./core/metrics";
import { SecretBox } from "./core/secrets";
import { DataKeyring, resolveDataKeys } from "./core/data-keys";
import { installDataKeyring } from "./db/encrypted-columns";
import { JobQueue } from "./core/jobs";
import { Outbox } from "./events/outbox";
import { PubSub } from "./events/pubsub";
import { registerScopes } from "./core/context";
import { checkModules, type ModuleManifest } from "./core/module";
import { systemClock, type Clock } from "./core/calendar";
import { builtinModules } from "./modules";
import { PluginHost } from "./plugins/host";
import type { PluginDefinition } from "./plugins/types";
import { builtinPlugins } from "../adapters";

/**
 * The composed application: configuration, database, event plumbing, the modules it was built from —
 * and every module's service, which each module adds to this interface itself (`declare module`).
 */
export interface App {
  config: Config;
  log: Logger;
  db: Database;
  metrics: Metrics;
  secrets: SecretBox;
  /** Encrypts personal values at rest and computes their blind indexes (CRM_DATA_KEY). */
  dataKeys: DataKeyring;
  pubsub: PubSub;
  outbox: Outbox;
  /** The modules' manifests, in setup order. */
  modules: readonly ModuleManifest[];
  plugins: PluginHost;
  /** The job queue (pg-boss): started by the server, not by `createApp`. */
  jobs: JobQueue;
  /** "Now" for everything date-based (relative dates, days since, windows); fixed in tests. */
  clock: Clock;
}

export interface CreateAppOptions {
  /** Use this database instead of opening one from `config` (tests share a prepared one). */
  database?: Database;
  /** Plugins besides the built-in adapters and CRM_PLUGINS (tests register theirs here). */
  plugins?: PluginDefinition<any>[];
  /** The modules to build the app from (default: the built-in ones; tests add one of their own). */
  modules?: readonly ModuleManifest[];
  /** Where "now" comes from (default: the system clock). */
  clock?: Clock;
}

/** Opens the database, runs pending migrations and wires the services. Does not listen. */
export async function createApp(config: Config, log: Logger, opts: CreateAppOptions = {}): Promise<App> {
  const modules = opts.modules ?? builtinModules;
  checkModules(modules);
  for (const m of modules) registerScopes(m.scopes ?? []);
  // Before the database opens: production without CRM_DATA_KEY on an outside PostgreSQL is refused outright.
  const resolvedKeys = resolveDataKeys({ configured: config.dataKeys, dataDir: config.dataDir, production: config.env === "production", externalDatabase: Boolean(config.databaseUrl) });
  if (resolvedKeys.generated) {
    log.warn({ file: resolvedKeys.file }, "CRM_DATA_KEY is not set: generated the key personal data is encrypted under; back this file up with the database (without it the data cannot be read)");
  }
  const dataKeys = new DataKeyring(resolvedKeys.keys);
  installDataKeyring(dataKeys);
  const db =
    opts.database ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.dbPoolSize,
      log: log.child({ component: "db" }),
      modules,
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
  const app = { config, log, db, metrics, secrets, dataKeys, pubsub, outbox, jobs, modules, clock: opts.clock ?? systemClock } as App;
  for (const m of modules) m.setup?.(app);
  app.plugins = PluginHost.load(app, [...builtinPlugins, ...(opts.plugins ?? [])], config.plugins);
  return app;
}
