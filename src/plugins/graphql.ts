import { localId, toGlobalId } from "../core/global-id";

/**
 * The one `UserError` type of the API (field, code, message) for plugin mutations' payloads, with its
 * code enum and builder: `userErrors: [UserError!]!` in a plugin payload reads as it does in the core's.
 */
export { UserError, UserErrorCode, userError } from "../core/user-error";
import type { ChannelConnectionInfo, PluginContext } from "./types";

/** Where the host keeps, on a GraphQL request context, the door to plugin services. */
export const PLUGIN_REQUEST = Symbol.for("omnichannel-crm.plugin-request");

/**
 * What a plugin's own GraphQL resolvers may use of the request they serve. Scopes are checked
 * with type-graphql's `@Authorized("<scope>")` as in the core (e.g. `@Authorized("ingest")`).
 */
export interface PluginRequest<C = unknown> {
  /** The caller's tenant. */
  tenantId: string;
  requestId: string;
  /** The plugin's context (state, ingest, customers, connections). */
  context: PluginContext<C>;
  /**
   * The caller's enabled connection of this plugin's channel named by a global id, or null —
   * also when the id is another tenant's or another channel's, so nothing about them is revealed.
   */
  connection(globalId: string): Promise<ChannelConnectionInfo<C> | null>;
}

/** The PluginRequest for `pluginName` from a resolver's GraphQL context (`@Ctx() ctx: unknown`). */
export function pluginRequest<C = unknown>(graphqlContext: unknown, pluginName: string): PluginRequest<C> {
  const open = (graphqlContext as Record<symbol, ((name: string) => PluginRequest<unknown>) | undefined>)?.[PLUGIN_REQUEST];
  if (!open) throw new Error("pluginRequest needs the GraphQL context of a tenant request");
  return open(pluginName) as PluginRequest<C>;
}

/** The API's global id of a customer whose local id `customers.findByIdentity` returned. */
export function customerGlobalId(customerLocalId: string): string {
  return toGlobalId("Customer", customerLocalId);
}

/** The local customer id a global id names, or null when it names no customer. */
export function customerLocalId(globalId: string): string | null {
  return localId(globalId, "Customer");
}
