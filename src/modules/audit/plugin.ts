import type { ApolloServerPlugin } from "@apollo/server";
import { getArgumentValues, isObjectType, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import type { App } from "../../app";
import { personalDataServed } from "../../core/audit";
import { fromGlobalId } from "../../core/global-id";
import type { RequestCtx } from "../../core/context";
import { AuditKind, AuditResult } from "./entity";
import { MAX_TARGETS } from "./service";

/** Keys under which inputs and payloads name objects: `id`, `customerId`, `targetId`… */
const ID_KEY = /^(id|[a-z]+Id)$/;

/**
 * Only our global ids are targets: other values under such keys (an event's `externalId`, a channel's
 * `openid`) can be personal values, and the audit log is append-only — no erasure could reach them.
 */
const isGlobalId = (v: string) => v.length <= 200 && fromGlobalId(v) !== null;

function collectIds(value: unknown, into: Set<string>, depth = 0): void {
  if (into.size >= MAX_TARGETS || depth > 6 || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const v of value) collectIds(v, into, depth + 1);
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (ID_KEY.test(k) && typeof v === "string") {
      if (isGlobalId(v)) into.add(v);
    }
    else collectIds(v, into, depth + 1);
  }
}

/** A mutation's root fields' arguments as the resolvers saw them (variables and literals alike). */
function mutationArguments(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Record<string, unknown>): unknown[] {
  const root = schema.getMutationType();
  if (!root || !isObjectType(root)) return [];
  const out: unknown[] = [];
  for (const sel of operation.selectionSet.selections) {
    if (sel.kind !== "Field") continue;
    const def = root.getFields()[sel.name.value];
    if (!def) continue;
    try {
      out.push(getArgumentValues(def, sel, variables));
    } catch {
      /* arguments that did not coerce: the operation failed before running, nothing to name */
    }
  }
  return out;
}

/**
 * After each HTTP operation, one audit record when it was a mutation (exports included) or a read that served
 * personal values unmasked: operation, the ids its arguments and its answer name (and the customers whose personal
 * values it served), the result. One INSERT per request, written before the response leaves; a failure to write
 * it is logged and the response goes out (a committed mutation cannot be taken back).
 */
export function auditPlugin(app: App): ApolloServerPlugin<RequestCtx> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue: ctx, operation, response, schema, request }) {
          if (!operation || response.body.kind !== "single") return;
          const served = personalDataServed(ctx);
          const isMutation = operation.operation === "mutation";
          if (!isMutation && !served.length) return;
          const body = response.body.singleResult;
          const data = (body.data ?? {}) as Record<string, unknown>;
          const targets = new Set<string>();
          if (isMutation) {
            collectIds(mutationArguments(schema, operation, request.variables ?? {}), targets);
            collectIds(data, targets);
          }
          for (const id of served) targets.add(id);
          const userErrors = Object.values(data).some((v) => Array.isArray((v as { userErrors?: unknown[] } | null)?.userErrors) && (v as { userErrors: unknown[] }).userErrors.length > 0);
          const result = body.errors?.length ? AuditResult.ERROR : userErrors ? AuditResult.USER_ERROR : AuditResult.OK;
          const rootFields = operation.selectionSet.selections.flatMap((s) => (s.kind === "Field" ? [s.name.value] : []));
          try {
            await app.audit.record({
              ctx,
              kind: isMutation ? AuditKind.MUTATION : AuditKind.PII_READ,
              operation: operation.name?.value ?? (rootFields.join(",") || operation.operation),
              targetIds: [...targets],
              result,
            });
          } catch (err) {
            ctx.log.error({ err: (err as Error).message }, "audit record not written");
          }
        },
      };
    },
  };
}
