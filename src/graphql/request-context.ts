import type { Logger } from "pino";
import type { App } from "../app";
import type { Principal, RequestCtx } from "../core/context";
import { PLUGIN_REQUEST } from "../plugins/graphql";
import { createLoaders } from "./loaders";

/**
 * The context of one GraphQL operation, over HTTP or graphql-ws alike: the caller, per-request
 * DataLoaders, and the door plugin resolvers open with `pluginRequest`.
 */
export function createRequestContext(app: App, principal: Principal, requestId: string, log: Logger): RequestCtx {
  const ctx = { requestId, principal, app, log } as RequestCtx;
  ctx.loaders = createLoaders(ctx);
  (ctx as unknown as Record<symbol, unknown>)[PLUGIN_REQUEST] = (name: string) => app.plugins.request(ctx, name);
  return ctx;
}
