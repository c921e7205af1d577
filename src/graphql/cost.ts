import {
  getNamedType,
  GraphQLError,
  isCompositeType,
  isInterfaceType,
  isObjectType,
  Kind,
  valueFromASTUntyped,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "graphql";
import type { ApolloServerPlugin } from "@apollo/server";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../core/pagination";

/**
 * What an operation may cost before it runs, in the shape Shopify's Admin API charges: every field
 * that returns an object costs 1 (scalars and enums are free); a field taking `first`/`last` (a
 * connection) multiplies the cost of what is selected under it by that page size (default 50, at most
 * 250), so nested pages multiply; other lists are bounded by the data (identities, order lines) and
 * count once. `first` and `last` may be variables. Introspection is free.
 *
 * `customers(first: 250) { nodes { id displayName identities { type value } stats { ordersCount }
 * orders(first: 5) { nodes { id items { sku } } } } }` costs 1 + 250 × (1 + 1 + 1 + (1 + 5 × (1 + 1))) = 3,501
 * (customers; per customer its node, identities, stats, and the orders page: 5 × (node + items)).
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let operation: OperationDefinitionNode | undefined;
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    else if (def.kind === Kind.OPERATION_DEFINITION && (!operationName || def.name?.value === operationName)) operation ??= def;
  }
  if (!operation) return 0;
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  const vars = variables ?? {};

  const pageSizeOf = (args: readonly { name: { value: string }; value: ValueNode }[]): number | null => {
    let size: number | null = null;
    for (const arg of args) {
      if (arg.name.value !== "first" && arg.name.value !== "last") continue;
      const v = valueFromASTUntyped(arg.value, vars);
      if (typeof v === "number") size = Math.max(size ?? 0, Math.min(Math.max(v, 0), MAX_PAGE_SIZE));
    }
    return size;
  };

  // Fragments may be spread many times; a spread cycle is refused by validation before this runs.
  const costOf = (type: GraphQLCompositeType, set: SelectionSetNode, visiting: Set<string>): number => {
    let total = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.name.value.startsWith("__")) continue;
        const fields = isObjectType(type) || isInterfaceType(type) ? type.getFields() : {};
        const def = fields[sel.name.value];
        if (!def) continue;
        const named = getNamedType(def.type);
        if (!isCompositeType(named) || !sel.selectionSet) continue; // a scalar or an enum: free
        const takesPage = def.args.some((a) => a.name === "first" || a.name === "last");
        const size = takesPage ? (pageSizeOf(sel.arguments ?? []) ?? DEFAULT_PAGE_SIZE) : 1;
        total += 1 + size * costOf(named, sel.selectionSet, visiting);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const on = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : type;
        total += costOf(on && isCompositeType(on) ? on : type, sel.selectionSet, visiting);
      } else {
        const frag = fragments.get(sel.name.value);
        if (!frag || visiting.has(frag.name.value)) continue;
        const on = schema.getType(frag.typeCondition.name.value);
        visiting.add(frag.name.value);
        total += costOf(on && isCompositeType(on) ? on : type, frag.selectionSet, visiting);
        visiting.delete(frag.name.value);
      }
    }
    return total;
  };
  return costOf(root, operation.selectionSet, new Set());
}

/** The refusal: `extensions.code` QUERY_TOO_COSTLY with the cost and the limit. */
export function tooCostly(cost: number, maxCost: number): GraphQLError {
  return new GraphQLError(`The query costs ${cost.toLocaleString("en-US")}, more than the limit of ${maxCost.toLocaleString("en-US")} (GRAPHQL_MAX_COST): ask for smaller pages (first/last) or fewer nested lists`, {
    extensions: { code: "QUERY_TOO_COSTLY", cost, maxCost, http: { status: 400 } },
  });
}

/** Apollo plugin: refuses an operation over the limit once its variables are known, before it runs. */
export function costLimitPlugin(maxCost: number): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, schema }) {
          const cost = operationCost(schema, document, request.operationName, request.variables);
          if (cost > maxCost) throw tooCostly(cost, maxCost);
        },
      };
    },
  };
}
