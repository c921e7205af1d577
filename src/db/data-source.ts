import path from "node:path";
import { DataSource, type DataSourceOptions } from "typeorm";
import pg from "pg";
import { PGlite, types as pgliteTypes, type Extension } from "@electric-sql/pglite";
import type { Logger } from "pino";
import { entitiesOf, migrationsOf } from "./entities";
import type { ModuleManifest } from "../core/module";
import { pgliteDriverModule } from "./pglite-driver";
import { SqlLogger } from "./sql-logger";
import { lockDataDir } from "./data-dir-lock";
import { SnakeNamingStrategy } from "./naming";
import { timestamptzParser } from "./timestamps";

// Both drivers return the same JS values: int8 and numeric as strings (no precision loss),
// `date` as the 'YYYY-MM-DD' text PostgreSQL sent (no time-zone shift).
// The contrib entry points ship CommonJS builds but only ESM typings, hence require + a cast.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pgcrypto } = require("@electric-sql/pglite/contrib/pgcrypto") as { pgcrypto: Extension };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pg_trgm } = require("@electric-sql/pglite/contrib/pg_trgm") as { pg_trgm: Extension };

pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, timestamptzParser(pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)));
const identity = (v: string) => v;

export interface DatabaseOptions {
  /** postgres:// URL; unset means embedded PGlite. */
  databaseUrl?: string;
  /** Where PGlite keeps its files; unset (with no databaseUrl) means an in-memory database. */
  dataDir?: string;
  poolSize?: number;
  log: Logger;
  /** Whose entities and migrations: the built-in modules unless given (tests add a module of their own). */
  modules?: readonly ModuleManifest[];
}

export interface Database {
  dataSource: DataSource;
  /** The driver's pool (pg's, or the exclusive PGlite one), for clients that bring their own SQL (the job queue). */
  pool: { query(text: string, values?: unknown[]): Promise<{ rows: any[] }> };
  sql: SqlLogger;
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

const common = {
  type: "postgres" as const,
  migrationsTableName: "typeorm_migrations",
  synchronize: false,
  uuidExtension: "pgcrypto" as const,
  namingStrategy: new SnakeNamingStrategy(),
};

/** TypeORM options for the CLI and the server; PGlite options are built in `openDatabase`. */
export function postgresOptions(databaseUrl: string, poolSize = 10, modules?: readonly ModuleManifest[]): DataSourceOptions {
  return { ...common, entities: entitiesOf(modules), migrations: migrationsOf(modules), url: databaseUrl, poolSize, applicationName: "omnichannel-crm" };
}

function driverPool(dataSource: DataSource): Database["pool"] {
  return (dataSource.driver as unknown as { master: Database["pool"] }).master;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  const sql = new SqlLogger(opts.log);
  if (opts.databaseUrl) {
    const dataSource = new DataSource({ ...postgresOptions(opts.databaseUrl, opts.poolSize, opts.modules), logger: sql });
    await dataSource.initialize();
    return { dataSource, pool: driverPool(dataSource), sql, kind: "postgres", close: () => dataSource.destroy() };
  }
  const unlock = opts.dataDir ? lockDataDir(path.resolve(opts.dataDir)) : () => undefined;
  try {
    const db = await PGlite.create({
      dataDir: opts.dataDir ? path.resolve(opts.dataDir, "pglite") : undefined,
      extensions: { pgcrypto, pg_trgm },
      parsers: { [pgliteTypes.INT8]: identity, [pgliteTypes.NUMERIC]: identity, [pgliteTypes.DATE]: identity },
    });
    const dataSource = new DataSource({ ...common, entities: entitiesOf(opts.modules), migrations: migrationsOf(opts.modules), driver: pgliteDriverModule(db), logger: sql });
    await dataSource.initialize();
    return {
      dataSource,
      pool: driverPool(dataSource),
      sql,
      kind: "pglite",
      close: async () => {
        try {
          await dataSource.destroy();
        } finally {
          unlock();
        }
      },
    };
  } catch (err) {
    unlock();
    throw err;
  }
}
