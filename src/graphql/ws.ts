import type { Server as HttpServer } from "node:http";
import { randomUUID } from "node:crypto";
import { getOperationAST, GraphQLError, parse, specifiedRules, validate, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLSchema, type ValidationRule } from "graphql";
import { WebSocketServer, type WebSocket } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { App } from "../app";
import { ALL_TENANTS } from "../events/pubsub";
import type { Principal, RequestCtx } from "../core/context";
import { createRequestContext } from "./request-context";
import { bearerToken } from "./http-auth";
import { forbidden, formatError } from "../core/errors";
import { operationCost, tooCostly } from "./cost";
import { SharedPayloads } from "./shared-payloads";
import { SharedSubscriptions } from "./shared-subscriptions";

/** graphql-ws close code for a refused or withdrawn authorization (as graphql-ws uses for onConnect → false). */
export const CLOSE_FORBIDDEN = 4403;
/** A subscriber that stays more than 1,000 events behind (its socket does not drain): "try again later". */
export const CLOSE_TOO_SLOW = 1013;

/**
 * Largest WebSocket message accepted, authenticated or not: the HTTP body limit. A bigger frame is
 * refused from its header, before it is buffered, and the socket closed with 1009 (Message Too Big).
 */
export const MAX_WS_MESSAGE_BYTES = 1024 * 1024;

type Extra = {
  principal?: Principal;
  requestId?: string;
  /** Closes the socket when its key expires. */
  expiry?: NodeJS.Timeout;
};

/**
 * A socket's messages of one turn of the event loop leave in one write, without delaying the first: the first
 * message of a turn goes out at once (one event for 10,000 sockets must not wait for the 10,000th), and a second one
 * in the same turn corks the TCP socket until the turn's I/O is done — an event for several of a socket's
 * subscriptions, or a burst of events, is then one syscall, not one each. Shared payloads are expanded here
 * (shared-payloads.ts). Back-pressure stays ws's: a message's callback fires once it is written, and graphql-ws waits
 * for it before that subscription's next.
 */
function batchWrites(socket: WebSocket, payloads: SharedPayloads): void {
  const send = socket.send.bind(socket) as (data: unknown, ...rest: unknown[]) => void;
  const tcp = (socket as unknown as { _socket?: { cork(): void; uncork(): void; destroyed?: boolean } })._socket;
  let turn: "idle" | "sent" | "corked" = "idle";
  socket.send = ((data: unknown, ...rest: unknown[]) => {
    if (tcp && !tcp.destroyed) {
      if (turn === "idle") {
        turn = "sent";
        setImmediate(() => {
          if (turn === "corked") tcp.uncork();
          turn = "idle";
        });
      } else if (turn === "sent") {
        turn = "corked";
        tcp.cork();
      }
    }
    return send(typeof data === "string" ? payloads.expand(data) : data, ...rest);
  }) as typeof socket.send;
}

/** Longest a timer may wait (about 24.8 days); a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Closes `socket` with 4403 at `at` (its key's expiry). */
function closeAt(socket: WebSocket, at: Date): NodeJS.Timeout {
  const wait = at.getTime() - Date.now();
  const timer = setTimeout(() => {
    if (at.getTime() - Date.now() > 0) return void closeAt(socket, at);
    socket.close(CLOSE_FORBIDDEN, "Forbidden: API key expired");
  }, Math.max(0, Math.min(wait, MAX_TIMER_MS)));
  timer.unref();
  return timer;
}

/**
 * graphql-ws on the HTTP server's `/graphql` path. Clients authenticate in `connection_init`
 * (`connectionParams: { authorization: "Bearer <key>" }`); a bad key is refused there. Sockets are
 * indexed by key so that revoking a key closes them at once, and each closes itself when its key
 * expires: no event pays a query to re-check the key.
 */
export function attachWebSocketServer(httpServer: HttpServer, app: App, schema: GraphQLSchema, rules: ValidationRule[]) {
  const wss = new WebSocketServer({ server: httpServer, path: "/graphql", maxPayload: MAX_WS_MESSAGE_BYTES });
  const payloads = new SharedPayloads({
    formatError: (e) => formatError(e.toJSON(), e, app.log),
    onSerialized: () => app.metrics.subscriptionPayloads.inc(),
  });
  const validationRules = [...specifiedRules, ...rules];
  // A client's protocol violation (a frame over maxPayload, a bad opcode…) is closed by ws itself with
  // the matching code (1009, 1002) before it emits 'error'; graphql-ws would print that error to the
  // console as an internal one. It is the client's, so it is logged as such and goes no further.
  // Registered before useServer's own listener, so it sees each socket first.
  wss.on("connection", (socket) => {
    batchWrites(socket, payloads);
    const emit = socket.emit.bind(socket);
    socket.emit = ((event: string | symbol, ...args: unknown[]) => {
      const code = (args[0] as { code?: unknown } | undefined)?.code;
      if (event === "error" && typeof code === "string" && code.startsWith("WS_ERR_")) {
        app.log.warn({ code, transport: "ws" }, "WebSocket protocol violation; socket closed");
        return true;
      }
      return emit(event, ...args);
    }) as typeof socket.emit;
  });
  const byKey = new Map<string, Set<WebSocket>>();

  // Through the PubSub, not an outbox handler: with REDIS_URL every instance hears a revocation, not
  // only the one that dispatched it, and closes its own sockets of that key.
  const revocations = app.pubsub.subscribe("api_key.revoked", ALL_TENANTS)[Symbol.asyncIterator]();
  const listening = (async () => {
    for (;;) {
      const next = await revocations.next();
      if (next.done) return;
      for (const socket of byKey.get(next.value.keyId) ?? []) socket.close(CLOSE_FORBIDDEN, "Forbidden: API key revoked");
      byKey.delete(next.value.keyId);
    }
  })().catch((err) => app.log.error({ err: (err as Error).message }, "revocation listener stopped"));

  const socketOf = new WeakMap<RequestCtx, WebSocket>();
  const shared = new SharedSubscriptions({
    onExecution: () => app.metrics.subscriptionExecutions.inc(),
    onTooSlow: (ctx) => {
      app.metrics.slowSubscribers.inc();
      app.log.warn({ requestId: ctx.requestId }, "subscriber too far behind; socket closed");
      socketOf.get(ctx)?.close(CLOSE_TOO_SLOW, "Too far behind: resubscribe");
    },
  });

  // Modules' observers of socket operations (the audit log): each operation as it starts, each query's or mutation's result.
  const hooks = app.modules.flatMap((m) => m.wsHooks?.(app) ?? []);
  const ctxOf = (args: ExecutionArgs) => args.contextValue as RequestCtx;
  /** Operations whose results the hooks hear: queries and mutations (a subscription's deliveries stay on the fast path). */
  const observed = new WeakSet<ExecutionArgs>();

  const disposable = useServer<Record<string, unknown> | undefined, Extra>(
    {
      schema,
      // Identical subscriptions (same operation, variables, tenant and scopes) share one execution per event.
      subscribe: (args) => shared.subscribe(args),
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const raw = params.authorization ?? params.Authorization;
        const principal = await app.tenancy.authenticate(bearerToken(typeof raw === "string" ? raw : undefined));
        if (!principal) return false;
        ctx.extra.principal = principal;
        ctx.extra.requestId = randomUUID();
        if (principal.kind === "api_key") {
          const set = byKey.get(principal.keyId) ?? new Set();
          set.add(ctx.extra.socket);
          byKey.set(principal.keyId, set);
          // Validity is pushed, never polled per event: revocation arrives as an event (above), expiry is this timer.
          if (principal.expiresAt) ctx.extra.expiry = closeAt(ctx.extra.socket, principal.expiresAt);
        }
        return true;
      },
      // An open socket outlives a key's expiry (revocation closes it; expiry sends no event), so every
      // operation re-checks the key, as every HTTP request does. Then the document gets HTTP's limits:
      // the token limit while parsing (a huge document stops at the limit instead of being parsed whole),
      // and the same depth, alias and cost rules.
      onSubscribe: async (ctx, _id, payload) => {
        const p = ctx.extra.principal;
        if (!p || !(await app.tenancy.stillValid(p))) {
          ctx.extra.socket.close(CLOSE_FORBIDDEN, "Forbidden: API key no longer valid");
          return [forbidden("The API key of this connection is no longer valid")];
        }
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: app.config.graphql.maxTokens });
        } catch (err) {
          return [err instanceof GraphQLError ? err : new GraphQLError("Syntax Error: the document could not be parsed")];
        }
        const errors = validate(schema, document, validationRules);
        if (errors.length) return errors;
        const cost = operationCost(schema, document, payload.operationName, payload.variables);
        if (cost > app.config.graphql.maxCost) return [tooCostly(cost, app.config.graphql.maxCost)];
        return { schema, document, operationName: payload.operationName, variableValues: payload.variables };
      },
      onClose: (ctx) => {
        if (ctx.extra.expiry) clearTimeout(ctx.extra.expiry);
        const p = ctx.extra.principal;
        if (p?.kind !== "api_key") return;
        const set = byKey.get(p.keyId);
        set?.delete(ctx.extra.socket);
        if (set && !set.size) byKey.delete(p.keyId);
      },
      context: (ctx): RequestCtx => {
        const requestId = ctx.extra.requestId ?? randomUUID();
        const requestCtx = createRequestContext(app, ctx.extra.principal!, requestId, app.log.child({ requestId, transport: "ws" }));
        // Where from, for the audit log: the socket's peer (as req.ip is over HTTP without a trusted proxy).
        requestCtx.ip = ctx.extra.request.socket.remoteAddress;
        socketOf.set(requestCtx, ctx.extra.socket);
        return requestCtx;
      },
      onOperation: async (_ctx, _id, _payload, args) => {
        if (!hooks.length) return;
        if (getOperationAST(args.document, args.operationName ?? undefined)?.operation !== "subscription") observed.add(args);
        for (const h of hooks) await h.started?.(ctxOf(args), args);
      },
      // One payload object per result, serialized once for all the sockets it goes to.
      onNext: (_ctx, _id, _payload, args, result) => {
        if (!observed.has(args)) return payloads.payloadOf(result);
        return (async () => {
          for (const h of hooks) await h.result?.(ctxOf(args), args, result as ExecutionResult);
          return payloads.payloadOf(result);
        })();
      },
      jsonMessageReplacer: payloads.messageReplacer(),
    },
    wss,
  );

  return {
    async close() {
      await revocations.return?.();
      await listening;
      for (const client of wss.clients) client.close(1001, "Server shutting down");
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
