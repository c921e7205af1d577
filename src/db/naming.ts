import { DefaultNamingStrategy, type NamingStrategyInterface } from "typeorm";

/** Property `createdAt` ↔ column `created_at`, as the hand-written migrations name them. */
export class SnakeNamingStrategy extends DefaultNamingStrategy implements NamingStrategyInterface {
  override columnName(propertyName: string, customName: string | undefined, prefixes: string[]): string {
    const name = customName ?? propertyName.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    return prefixes.length ? `${prefixes.join("_")}_${name}` : name;
  }
}
