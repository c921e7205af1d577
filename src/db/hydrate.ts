import type { ObjectLiteral, SelectQueryBuilder } from "typeorm";
import { DriverUtils } from "typeorm/driver/DriverUtils";

/**
 * `qb.getMany()` for the plain case — one entity, its own columns, no joins — without TypeORM's general result
 * transformer, which groups rows by primary key and walks relations even when there are none (14 % of the server's
 * CPU on the reads bench's list page). Each column goes through the driver's `prepareHydratedValue`, transformers
 * included, exactly as `getMany` would; anything else (joins, extra selections) is left to `getMany`.
 */
export async function getManyFast<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>): Promise<T[]> {
  const map = qb.expressionMap;
  const main = map.mainAlias;
  if (!main?.hasMetadata || map.joinAttributes.length || map.relationIdAttributes.length || map.relationCountAttributes.length) return qb.getMany();
  if (map.selects.length !== 1 || map.selects[0].selection !== main.name) return qb.getMany();
  const meta = main.metadata;
  if (meta.relations.length || meta.embeddeds.length || meta.columns.some((c) => c.isVirtual || c.relationMetadata)) return qb.getMany();
  const driver = qb.connection.driver;
  const columns = meta.columns.filter((c) => c.isSelect).map((c) => ({ key: DriverUtils.buildAlias(driver, undefined, main.name, c.databaseName), column: c }));
  const raw: Record<string, unknown>[] = await qb.getRawMany();
  return raw.map((row) => {
    const entity = meta.create(undefined, { fromDeserializer: true }) as T;
    for (const { key, column } of columns) {
      const value = row[key];
      if (value !== undefined) column.setEntityValue(entity, driver.prepareHydratedValue(value, column));
    }
    return entity;
  });
}
