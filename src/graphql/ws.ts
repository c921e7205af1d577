import type { Server as HttpServer } from "node:http";
import { randomUUID } from "node:crypto";
import { specifiedRules, validate, type GraphQLSchema, type ValidationRule } from "graphql";
import { WebSocketServer, type WebSocket } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { App } from "../app";
import { ALL_TENANTS } from "../events/pubsub";
import type { Principal, RequestCtx } from "../core/context";
import { createRequestContext } from "./request-context";
import { bearerToken } from "./http-auth";
import { forbidden, formatError } from "../core/errors";

/** graphql-ws close code for a refused or withdrawn authorization (as graphql-ws uses for onConnect → false). */
export const CLOSE_FORBIDDEN = 4403;

type Extra = {
  principal?: Principal;
  requestId?: string;
};

/**
 * graphql-ws on the HTTP server's `/graphql` path. Clients authenticate in `connection_init`
 * (`connectionParams: { authorization: "Bearer <key>" }`); a bad key is refused there. Sockets are
 * indexed by key so that revoking a key closes them at once (events also re-check the key).
 */
export function attachWebSocketServer(httpServer: HttpServer, app: App, schema: GraphQLSchema, rules: ValidationRule[]) {
  const wss = new WebSocketServer({ server: httpServer, path: "/graphql" });
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

  const disposable = useServer<Record<string, unknown> | undefined, Extra>(
    {
      schema,
      validate: (s, document) => validate(s, document, [...specifiedRules, ...rules]),
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
        }
        return true;
      },
      // An open socket outlives a key's expiry (revocation closes it; expiry sends no event), so every
      // operation re-checks the key, as every HTTP request does.
      onSubscribe: async (ctx) => {
        const p = ctx.extra.principal;
        if (!p || !(await app.tenancy.stillValid(p))) {
          ctx.extra.socket.close(CLOSE_FORBIDDEN, "Forbidden: API key no longer valid");
          return [forbidden("The API key of this connection is no longer valid")];
        }
      },
      onClose: (ctx) => {
        const p = ctx.extra.principal;
        if (p?.kind !== "api_key") return;
        const set = byKey.get(p.keyId);
        set?.delete(ctx.extra.socket);
        if (set && !set.size) byKey.delete(p.keyId);
      },
      context: (ctx): RequestCtx => {
        const requestId = ctx.extra.requestId ?? randomUUID();
        return createRequestContext(app, ctx.extra.principal!, requestId, app.log.child({ requestId, transport: "ws" }));
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors?.length) return;
        return { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e, app.log)) };
      },
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
