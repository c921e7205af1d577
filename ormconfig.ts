import "reflect-metadata";
import { DataSource } from "typeorm";
import { postgresOptions } from "./src/db/data-source";

/**
 * The DataSource for the TypeORM CLI (`npm run migration:run`, `migration:generate`), compiled to
 * dist/ormconfig.js. It needs DATABASE_URL: the embedded database runs its migrations itself at start.
 */
const url = process.env.DATABASE_URL;
if (!url) {
  throw new Error("Set DATABASE_URL for the TypeORM CLI (the embedded database migrates itself when the server starts)");
}
export default new DataSource(postgresOptions(url));
