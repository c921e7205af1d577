import type { ApolloServerPlugin } from "@apollo/server";
import { getArgumentValues, getOperationAST, isObjectType, type ExecutionArgs, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import type { WsOperationHook } from "../../core/module";
import { seesPii } from "../customers";
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
 * The audit record of one finished operation, over HTTP or graphql-ws: one when it was a mutation (exports
 * included) or a read that served personal values unmasked — operation, the ids its arguments and its answer
 * name (and the customers whose personal values it served), the result. One INSERT per operation; a failure to
 * write it is logged and the response goes out (a committed mutation cannot be taken back).
 */
async function auditResult(app: App, ctx: RequestCtx, schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Record<string, unknown>, body: { data?: unknown; errors?: readonly unknown[] }): Promise<void> {
  const served = personalDataServed(ctx);
  const isMutation = operation.operation === "mutation";
  if (!isMutation && !served.length) return;
  const data = (body.data ?? {}) as Record<string, unknown>;
  const targets = new Set<string>();
  if (isMutation) {
    collectIds(mutationArguments(schema, operation, variables), targets);
    collectIds(data, targets);
  }
  for (const id of served) targets.add(id);
  const userErrors = Object.values(data).some((v) => Array.isArray((v as { userErrors?: unknown[] } | null)?.userErrors) && (v as { userErrors: unknown[] }).userErrors.length > 0);
  const result = body.errors?.length ? AuditResult.ERROR : userErrors ? AuditResult.USER_ERROR : AuditResult.OK;
  await write(app, ctx, isMutation ? AuditKind.MUTATION : AuditKind.PII_READ, operationName(operation), [...targets], result);
}

const operationName = (operation: OperationDefinitionNode) =>
  operation.name?.value ?? (operation.selectionSet.selections.flatMap((s) => (s.kind === "Field" ? [s.name.value] : [])).join(",") || operation.operation);

async function write(app: App, ctx: RequestCtx, kind: AuditKind, operation: string, targetIds: string[], result: AuditResult): Promise<void> {
  try {
    await app.audit.record({ ctx, kind, operation, targetIds, result });
  } catch (err) {
    ctx.log.error({ err: (err as Error).message }, "audit record not written");
  }
}

/** After each HTTP operation, before the response leaves: `auditResult`. */
export function auditPlugin(app: App): ApolloServerPlugin<RequestCtx> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue: ctx, operation, response, schema, request }) {
          if (!operation || response.body.kind !== "single") return;
          await auditResult(app, ctx, schema, operation, request.variables ?? {}, response.body.singleResult);
        },
      };
    },
  };
}

/**
 * The same over graphql-ws: a query or mutation sent on a socket is audited as over HTTP, when its result is sent;
 * a subscription by a key that sees personal values unmasked (`customers:pii`, `admin`) is audited once, when it
 * starts (`SUBSCRIPTION`, with the ids its variables name) — not per delivery, which would be a record per event
 * and subscriber.
 */
export function auditWsHook(app: App): WsOperationHook {
  const operationOf = (args: ExecutionArgs) => getOperationAST(args.document, args.operationName ?? undefined);
  return {
    async started(ctx, args) {
      const operation = operationOf(args);
      if (operation?.operation !== "subscription" || !seesPii(ctx.principal)) return;
      const targets = new Set<string>();
      collectIds(args.variableValues ?? {}, targets);
      for (const v of Object.values(args.variableValues ?? {})) if (typeof v === "string" && isGlobalId(v)) targets.add(v);
      await write(app, ctx, AuditKind.SUBSCRIPTION, operationName(operation), [...targets], AuditResult.OK);
    },
    async result(ctx, args, result) {
      const operation = operationOf(args);
      if (!operation || operation.operation === "subscription") return;
      await auditResult(app, ctx, args.schema, operation, (args.variableValues ?? {}) as Record<string, unknown>, result);
    },
  };
}
