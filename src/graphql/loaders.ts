import type { Ctx } from "../core/context";

/**
 * Every module's per-request DataLoaders, keyed by module name: a module adds its own by declaring
 * `loaders` in its manifest and augmenting this interface. Built fresh per request (and per
 * subscription event).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Loaders {}

export function createLoaders(ctx: Ctx): Loaders {
  const loaders: Record<string, object> = {};
  for (const m of ctx.app.modules) if (m.loaders) loaders[m.name] = m.loaders(ctx);
  return loaders as unknown as Loaders;
}
