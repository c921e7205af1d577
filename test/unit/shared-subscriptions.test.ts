import { GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from "graphql";
import { SharedSubscriptions } from "../../src/graphql/shared-subscriptions";
import type { RequestCtx } from "../../src/core/context";

/** A real graphql-js schema whose one subscription yields what the test pushes. */
function tickSchema() {
  const waiting: ((v: string) => void)[] = [];
  let started = 0;
  let ended = 0;
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString, resolve: () => "ok" } } }),
    subscription: new GraphQLObjectType({
      name: "Subscription",
      fields: {
        tick: {
          type: GraphQLString,
          resolve: (v: string, _args, ctx: RequestCtx) => `${v} for ${ctx.principal.kind === "api_key" ? [...ctx.principal.scopes].join("+") : "?"}`,
          subscribe: async function* () {
            started++;
            try {
              for (;;) yield await new Promise<string>((r) => waiting.push(r));
            } finally {
              ended++;
            }
          },
        },
      },
    }),
  });
  const push = (v: string) => waiting.splice(0).forEach((r) => r(v));
  return { schema, push, counts: () => ({ started, ended }) };
}

const ctxOf = (keyId: string, scopes: string[], tenantId = "t1") => ({ requestId: keyId, principal: { kind: "api_key", keyId, tenantId, scopes: new Set(scopes) } }) as unknown as RequestCtx;
const tick = parse(`subscription { tick }`);
const flush = () => new Promise((r) => setImmediate(r));

describe("shared subscription executions", () => {
  it("runs one execution per event for identical subscriptions, a separate one per scope set or tenant", async () => {
    const { schema, push, counts } = tickSchema();
    let executions = 0;
    const hub = new SharedSubscriptions({ onTooSlow: () => undefined, onExecution: () => executions++ });
    const sub = async (ctx: RequestCtx) => ((await hub.subscribe({ schema, document: tick, contextValue: ctx })) as AsyncIterable<any>)[Symbol.asyncIterator]();
    const a = await sub(ctxOf("k1", ["customers:read"]));
    const b = await sub(ctxOf("k2", ["customers:read"]));
    const c = await sub(ctxOf("k3", ["admin"]));
    const d = await sub(ctxOf("k4", ["customers:read"], "t2"));
    expect(hub.size).toBe(3);
    expect(counts().started).toBe(3);
    const next = [a.next(), b.next(), c.next(), d.next()];
    await flush();
    push("e1");
    const got = await Promise.all(next);
    expect(got.map((r) => r.value.data.tick)).toEqual(["e1 for customers:read", "e1 for customers:read", "e1 for admin", "e1 for customers:read"]);
    expect(executions).toBe(3);
    await a.return!();
    await b.return!();
    push("e2"); // a source waiting for its next event ends when that event comes
    await flush();
    expect(counts().ended).toBe(1); // the group's source ends with its last member
    await c.return!();
    await d.return!();
    expect(hub.size).toBe(0);
    push("e3");
    await flush();
    expect(counts().ended).toBe(3);
  });

  it("gives graphql-ws what it can end: the result itself has return(), as graphql-js's do", async () => {
    const { schema, push, counts } = tickSchema();
    const hub = new SharedSubscriptions({ onTooSlow: () => undefined, onExecution: () => undefined });
    const result = (await hub.subscribe({ schema, document: tick, contextValue: ctxOf("k1", ["customers:read"]) })) as AsyncIterableIterator<unknown>;
    expect(typeof result.return).toBe("function");
    expect(result[Symbol.asyncIterator]()).toBe(result);
    await result.return!();
    expect(hub.size).toBe(0);
    push("e1");
    await flush();
    expect(counts()).toEqual({ started: 1, ended: 1 });
  });

  it("drops a member that stays behind, without holding the others", async () => {
    const { schema, push } = tickSchema();
    const dropped: string[] = [];
    const hub = new SharedSubscriptions({ maxBehind: 3, onTooSlow: (ctx) => void dropped.push(ctx.requestId) });
    const sub = async (ctx: RequestCtx) => ((await hub.subscribe({ schema, document: tick, contextValue: ctx })) as AsyncIterable<any>)[Symbol.asyncIterator]();
    const fast = await sub(ctxOf("fast", ["customers:read"]));
    const slow = await sub(ctxOf("slow", ["customers:read"]));
    const seen: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const n = fast.next();
      await flush();
      push(`e${i}`);
      seen.push((await n).value.data.tick);
    }
    expect(seen).toEqual(["e1", "e2", "e3", "e4", "e5"].map((e) => `${e} for customers:read`));
    expect(dropped).toEqual(["slow"]);
    expect(await slow.next()).toEqual({ done: true, value: undefined }); // its queue was let go
    await fast.return!();
  });
});
