import { Field, ID, InterfaceType } from "type-graphql";
import type { RequestCtx, Scope } from "./context";

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
 * How `node(id)` finds objects: each module registers, for the type names it owns, the scope a key
 * needs to read them and a fetcher, so adding a node type never means editing a table here.
 */
export type NodeFetcher = (ctx: RequestCtx, localId: string) => Promise<object | null>;
const nodeTypes = new Map<string, { readScope: Scope; fetch: NodeFetcher }>();

export function registerNodeType(typeName: string, readScope: Scope, fetch: NodeFetcher): void {
  nodeTypes.set(typeName, { readScope, fetch });
}

export function nodeType(typeName: string): { readScope: Scope; fetch: NodeFetcher } | undefined {
  return nodeTypes.get(typeName);
}
