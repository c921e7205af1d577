import { OutboxRow } from "../events/outbox-entity";
import type { ModuleManifest } from "../core/module";
import { builtinModules } from "../modules";
import { migrations as platformMigrations } from "../../migrations";

/** The platform's own tables (the outbox), then every module's; migrations must create exactly these. */
export function entitiesOf(modules: readonly ModuleManifest[] = builtinModules): Function[] {
  return [OutboxRow, ...modules.flatMap((m) => m.entities ?? [])];
}

/**
 * The migrations written before modules had manifests (they span several modules' tables), then every
 * module's own. TypeORM runs them in the order of the timestamps their names end with.
 */
export function migrationsOf(modules: readonly ModuleManifest[] = builtinModules): Function[] {
  return [...platformMigrations, ...modules.flatMap((m) => m.migrations ?? [])];
}
