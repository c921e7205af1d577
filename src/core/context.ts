import type { EntityManager } from "typeorm";
import type { Logger } from "pino";
import type { App } from "../app";
import type { DomainEvent, EventSource } from "../events/types";
import type { Loaders } from "../graphql/loaders";

/**
 * Scopes an API key can hold: `admin` (which implies every other tenant scope) and those the modules
 * declare in their manifests, registered by the composition root.
 */
export type Scope = string;
const scopes = new Set<string>(["admin"]);

export function registerScopes(list: readonly string[]): void {
  for (const s of list) {
    if (!/^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)?$/.test(s)) throw new Error(`Scope "${s}" must look like "module:action"`);
    scopes.add(s);
  }
}

/** Every known scope, `admin` last. */
export function knownScopes(): string[] {
  return [...[...scopes].filter((s) => s !== "admin").sort(), "admin"];
}

export type Principal =
  | { kind: "api_key"; keyId: string; tenantId: string; scopes: ReadonlySet<string>; expiresAt?: Date | null }
  /** The operator's key (CRM_PLATFORM_KEY): manages tenants, reads no tenant's data. */
  | { kind: "platform" }
  /** The server acting for a tenant on its own (a verified channel webhook, a job, an import). */
  | { kind: "system"; tenantId: string; actor: string };

/** What every service call receives first: who asks, for which tenant, and the app's parts. */
export interface Ctx {
  requestId: string;
  principal: Principal;
  app: App;
  log: Logger;
  /** The client's address, for the audit log (HTTP requests; unset for jobs and pipelines). */
  ip?: string;
}

/** A request-scoped context: GraphQL resolvers get this, with per-request DataLoaders. */
export interface RequestCtx extends Ctx {
  loaders: Loaders;
}

/**
 * Inside a transaction: write through `manager`, announce changes with `emit` (outbox, same
 * transaction). An event's `source` defaults to the principal's; ingestion names the channel.
 */
export interface TxCtx extends Ctx {
  manager: EntityManager;
  emit(event: DomainEvent, source?: EventSource): void;
}

/** The server acting for `tenantId` on its own — a job, an event handler — as `actor` (named in events and the audit log). */
export function systemContext(app: App, tenantId: string, actor: string, requestId: string): Ctx {
  return { requestId, principal: { kind: "system", tenantId, actor }, app, log: app.log };
}

/** The event source a principal stands for. */
export function sourceOf(principal: Principal): EventSource {
  if (principal.kind === "api_key") return { kind: "api_key", keyId: principal.keyId };
  if (principal.kind === "platform") return { kind: "platform" };
  return { kind: "system", actor: principal.actor };
}

export function hasScope(principal: Principal, scope: string): boolean {
  if (principal.kind === "platform") return scope === "platform";
  if (principal.kind === "system") return scope !== "platform";
  // `admin` implies every tenant scope, never the operator's.
  if (scope === "platform") return false;
  return principal.scopes.has(scope) || principal.scopes.has("admin");
}

/** The caller's tenant; every repository query is scoped by it. */
export function tenantOf(ctx: Ctx): string {
  if (ctx.principal.kind === "platform") throw new Error("tenantOf called without a tenant principal (missing scope guard?)");
  return ctx.principal.tenantId;
}
