import "reflect-metadata";
import http from "node:http";
import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import { ApolloServer } from "@apollo/server";
import { expressMiddleware } from "@as-integrations/express5";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginCacheControlDisabled } from "@apollo/server/plugin/disabled";
import {
  ApolloServerPluginLandingPageLocalDefault,
  ApolloServerPluginLandingPageProductionDefault,
} from "@apollo/server/plugin/landingPage/default";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import { costLimitPlugin } from "./graphql/cost";
import type { Logger } from "pino";
import { createApp, type App, type CreateAppOptions } from "./app";
import type { Config } from "./config";
import type { RequestCtx } from "./core/context";
import { formatError, unauthenticated } from "./core/errors";
import { createSchema } from "./graphql/schema";
import { createRequestContext } from "./graphql/request-context";
import { bearerToken } from "./graphql/http-auth";
import { attachWebSocketServer } from "./graphql/ws";
import { requestErrorStatus } from "./graphql/http-status";

export interface RunningServer {
  app: App;
  /** http://host:port (no trailing slash). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface StartOptions extends CreateAppOptions {
  log: Logger;
  /** Where the one-time admin key line goes (stdout by default). */
  print?: (line: string) => void;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/**
 * body-parser would decode bad bytes as U+FFFD and store the corrupted text; the channel endpoints
 * refuse such bodies (plugins/body.ts), and so does /graphql: 400 in the GraphQL-over-HTTP error shape.
 */
function refuseInvalidUtf8(_req: unknown, _res: unknown, buf: Buffer): void {
  if (!isUtf8(buf)) throw Object.assign(new Error("Request body is not valid UTF-8"), { status: 400, type: "encoding.invalid" });
}

/** Composition root: database → migrations → bootstrap → schema → HTTP + WebSocket → outbox. */
export async function startServer(config: Config, opts: StartOptions): Promise<RunningServer> {
  const { log } = opts;
  const app = await createApp(config, log, opts);
  let closed = false;
  try {
    await app.tenancy.bootstrap(log, opts.print ?? ((line) => process.stdout.write(`${line}\n`)));
    await app.jobs.start();
    for (const m of app.modules) for (const job of m.jobs?.(app) ?? []) await app.jobs.define(job);
    for (const m of app.modules) await m.start?.(app);
    const schema = await createSchema(app.plugins.resolvers(), app.modules);
    const armor = new ApolloArmor({
      maxDepth: { n: config.graphql.maxDepth },
      maxAliases: { n: config.graphql.maxAliases },
      // Cost is ours (graphql/cost.ts): pages multiply by their `first`, variables included.
      costLimit: { enabled: false },
      // graphql-js enforces the token limit while parsing (parseOptions below): a 400 parse failure,
      // where armor's plugin would re-parse and turn syntax errors into 500s.
      maxTokens: { enabled: false },
      maxDirectives: { n: 50 },
      blockFieldSuggestion: { enabled: config.env === "production" },
    }).protect();

    const expressApp = express();
    expressApp.disable("x-powered-by");
    const httpServer = http.createServer(expressApp);
    // POST /import/customers reads its upload to the end inside the request, for as long as the file takes:
    // no whole-request deadline (that route has an idle timeout; headers must still arrive within headersTimeout).
    httpServer.requestTimeout = 0;
    // …but a connection that goes quiet for two minutes is closed, whatever the route.
    httpServer.timeout = 120_000;
    const ws = attachWebSocketServer(httpServer, app, schema, armor.validationRules);

    const apollo = new ApolloServer<RequestCtx>({
      schema,
      introspection: config.graphql.introspection,
      includeStacktraceInErrorResponses: false,
      // main.ts owns the signals and closes everything in order; Apollo's own handler would race it.
      stopOnTerminationSignals: false,
      // Auth is a bearer header, never a cookie, so cross-site request forgery has nothing to ride on;
      // with CSRF prevention on, plain `curl` GET queries would need an extra header.
      csrfPrevention: false,
      allowBatchedHttpRequests: false,
      validationRules: armor.validationRules,
      parseOptions: { maxTokens: config.graphql.maxTokens },
      formatError: (formatted, error) => formatError(formatted, error, log),
      plugins: [
        ...armor.plugins,
        costLimitPlugin(config.graphql.maxCost),
        requestErrorStatus,
        ApolloServerPluginDrainHttpServer({ httpServer }),
        // We send no cache hints; the default cache-control plugin wraps every field resolver to compute them
        // (11–16 % of a list page's CPU in the outside profile).
        ApolloServerPluginCacheControlDisabled(),
        ...app.modules.flatMap((m) => m.graphqlPlugins?.(app) ?? []),
        config.env === "production"
          ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
          : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false }),
      ],
    });
    await apollo.start();

    expressApp.use((req: Request, res: Response, next: NextFunction) => {
      const given = req.header("x-request-id");
      const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
      res.locals.requestId = requestId;
      res.setHeader("x-request-id", requestId);
      const started = process.hrtime.bigint();
      res.on("finish", () => {
        log.info(
          { requestId, method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 },
          "request",
        );
      });
      next();
    });

    expressApp.get("/healthz", (_req, res) => {
      res.json({ status: "ok" });
    });
    // Prometheus text format; counters only, no personal data.
    expressApp.get("/metrics", async (_req, res) => {
      const { contentType, body } = await app.metrics.render();
      res.type(contentType).send(body);
    });
    expressApp.get("/readyz", async (_req, res) => {
      try {
        await app.db.dataSource.query("SELECT 1");
      } catch {
        res.status(503).json({ status: "unavailable", reason: "database unreachable" });
        return;
      }
      // With REDIS_URL, subscribers on other instances depend on Redis: not ready without it.
      if (!(await app.pubsub.reachable())) {
        res.status(503).json({ status: "unavailable", reason: "redis unreachable" });
        return;
      }
      res.json({ status: "ready", database: app.db.kind, pubsub: app.pubsub.kind });
    });

    // Channel webhooks read their raw body themselves (signatures are computed over the exact bytes).
    expressApp.use("/channels", app.plugins.router());
    // Customer files: POST /import/customers (streamed body) and GET /exports/:jobId.
    for (const m of app.modules) if (m.routes) expressApp.use(m.routes(app));

    expressApp.use(
      "/graphql",
      express.json({ limit: "1mb", verify: refuseInvalidUtf8 }),
      expressMiddleware(apollo, {
        context: async ({ req, res }) => {
          const principal = await app.tenancy.authenticate(bearerToken(req.header("authorization")));
          if (!principal) throw unauthenticated();
          const requestId = res.locals.requestId as string;
          const ctx = createRequestContext(app, principal, requestId, log.child({ requestId }));
          ctx.ip = req.ip;
          return ctx;
        },
      }),
    );

    expressApp.use((_req: Request, res: Response) => {
      res.status(404).json({ error: "not_found", message: "No such endpoint" });
    });
    // Body-parser and other middleware errors: a 4xx with a reason, never a stack trace.
    expressApp.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
      const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
      if (status === 500) log.error({ err: err.message }, "unhandled HTTP error");
      const message =
        err.type === "entity.parse.failed" ? "Request body is not valid JSON" : status === 500 ? "Internal server error" : err.message;
      res.status(status).json({ errors: [{ message, extensions: { code: status === 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST" } }] });
    });

    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.port, () => resolve());
    });
    const port = (httpServer.address() as AddressInfo).port;
    await app.plugins.start();
    await app.jobs.define({
      name: "crm.outbox.prune",
      cron: { expression: "17 * * * *" },
      retryLimit: 2,
      run: async () => {
        const deleted = await app.outbox.prune(config.outboxRetentionDays);
        if (deleted) log.info({ deleted, retentionDays: config.outboxRetentionDays }, "outbox pruned");
      },
    });
    app.outbox.start(config.outboxPollMs);

    return {
      app,
      port,
      url: `http://localhost:${port}`,
      async close() {
        if (closed) return;
        closed = true;
        await ws.close();
        await apollo.stop();
        for (const m of [...app.modules].reverse()) await m.stop?.(app);
        // The outbox first: once plugins are destroyed, no event may reach their handlers.
        await app.outbox.stop();
        await app.plugins.stop();
        await app.jobs.stop();
        await app.db.close();
        await app.pubsub.close();
      },
    };
  } catch (err) {
    if (!closed) {
      await app.jobs.stop().catch(() => undefined);
      await app.db.close().catch(() => undefined);
    }
    throw err;
  }
}
