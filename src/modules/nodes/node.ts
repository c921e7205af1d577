import { Field, ID, InterfaceType } from "type-graphql";
import type { RequestCtx } from "../../core/context";

/** Relay's Node: anything with a global id can be fetched with `node(id)`. */
@InterfaceType({
  description: "An object with a global id, fetchable with `node(id)`.",
  resolveType: (value: { constructor: { name: string } }) => value.constructor.name,
})
export abstract class Node {
  @Field(() => ID, { name: "id", description: "Global id (opaque)." })
  globalId: string;
}

/**
 * How `node(id)` finds objects: each module registers a fetcher for the type names it owns,
 * so adding a node type never means editing a switch here.
 */
export type NodeFetcher = (ctx: RequestCtx, localId: string) => Promise<object | null>;
const fetchers = new Map<string, NodeFetcher>();

export function registerNodeType(typeName: string, fetch: NodeFetcher): void {
  fetchers.set(typeName, fetch);
}

export function nodeFetcher(typeName: string): NodeFetcher | undefined {
  return fetchers.get(typeName);
}
