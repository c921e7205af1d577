import type { Router } from "express";
import type { ApolloServerPlugin } from "@apollo/server";
import type { ExecutionArgs, ExecutionResult } from "graphql";
import type { App } from "../app";
import type { Ctx, RequestCtx } from "./context";
import type { QueueDefinition } from "./jobs";

/**
 * What a module brings to the server, declared once — the shape of a plugin's `definePlugin`. The
 * composition root reads a list of these (`src/modules/index.ts`): adding a module adds one entry
 * there and edits no other central file.
 *
 * Types follow the same rule: a module declares its domain events by augmenting `DomainEventMap`
 * (`events/types.ts`), its service on the app by augmenting `App`, and its per-request loaders by
 * augmenting `Loaders` (`graphql/loaders.ts`).
 */
export interface ModuleManifest {
  /** Unique, lower-case; also where its loaders live on `ctx.loaders` (`ctx.loaders.<name>`). */
  name: string;
  /** TypeORM entities (tables this module owns). */
  entities?: readonly Function[];
  /** TypeORM migrations creating them; run with every other module's, in timestamp order. */
  migrations?: readonly Function[];
  /** type-graphql resolver classes. */
  resolvers?: readonly Function[];
  /** Scopes an API key may be given for this module (e.g. `loyalty:read`); `admin` implies them. */
  scopes?: readonly string[];
  /** Domain event types the module emits (declared, with their fields, through `DomainEventMap`). */
  events?: readonly string[];
  /** Apollo Server plugins around every HTTP GraphQL operation (the audit log's). */
  graphqlPlugins?(app: App): ApolloServerPlugin<RequestCtx>[];
  /** Observers of operations over graphql-ws (the audit log's), beside `graphqlPlugins` for HTTP. */
  wsHooks?(app: App): WsOperationHook[];
  /** HTTP routes beside /graphql (e.g. uploads, downloads), mounted at the root. */
  routes?(app: App): Router;
  /** Per-request DataLoaders, tenant-scoped; built fresh for each request and subscription event. */
  loaders?(ctx: Ctx): object;
  /**
   * Builds the module's service(s) on the app and joins other modules' hook registries (ingestion
   * hooks, merge hooks) through their index. Runs in list order, so a module comes after those it uses.
   */
  setup?(app: App): void;
  /** Job queues of the module (cron schedules once per cluster, or sent on demand), installed at start. */
  jobs?(app: App): QueueDefinition<any>[];
  /** After the job queue has started, before the server listens. */
  start?(app: App): Promise<void>;
  /** At shutdown, before the job queue and the database close (reverse list order). */
  stop?(app: App): Promise<void>;
}

/** What a module hears of operations over graphql-ws: each one as it starts, and each result of a query or mutation. */
export interface WsOperationHook {
  started?(ctx: RequestCtx, args: ExecutionArgs): Promise<void>;
  result?(ctx: RequestCtx, args: ExecutionArgs, result: ExecutionResult): Promise<void>;
}

export function defineModule<M extends ModuleManifest>(manifest: M): M {
  if (!/^[a-z][a-z0-9-]*$/.test(manifest.name)) throw new Error(`Module name "${manifest.name}" must be lower-case letters, digits and hyphens`);
  return manifest;
}

/** Checks a list once: unique names, scopes, event types and job names. */
export function checkModules(list: readonly ModuleManifest[]): void {
  const seen = { name: new Map<string, string>(), scope: new Map<string, string>(), event: new Map<string, string>() };
  for (const m of list) {
    const claim = (kind: keyof typeof seen, key: string) => {
      const owner = seen[kind].get(key);
      if (owner) throw new Error(`Modules "${owner}" and "${m.name}" both declare the ${kind} "${key}"`);
      seen[kind].set(key, m.name);
    };
    claim("name", m.name);
    for (const s of m.scopes ?? []) claim("scope", s);
    for (const e of m.events ?? []) claim("event", e);
  }
}
