/**
 * The conformance kit's own tests: a kit that passes every adapter proves nothing, so each check
 * is run here against a plugin broken in exactly the way that check exists to catch.
 * (Here because Jest's roots are `test/` and `adapters/`; the kit lives in src/plugins/testing.)
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

import { definePlugin, NormalizationError, VerificationError, type ChannelRequest, type NormalizedEventInput, type PluginDefinition } from "../../../src/plugins";
import {
  buildConnection,
  channelRequest,
  checkAuthenticGarbage,
  checkBodyTamper,
  checkCredentialRequired,
  checkDeterminism,
  checkGarbagePayloads,
  checkGarbageRequests,
  checkInvalidFixture,
  checkPluginIdentity,
  checkValidFixture,
  InMemoryKeyValueStore,
  testPluginContext,
  type CheckLimits,
} from "../../../src/plugins/testing";

const LIMITS: Partial<CheckLimits> = { runs: 100, deadlineMs: 1000, seed: 20261128 };
const SECRET = "kit-test-secret-0123456789";

const event = (externalId: string, total: unknown = 100): unknown => ({
  type: "order.paid",
  externalId,
  occurredAt: "2026-11-20T10:21:12+08:00",
  identities: [{ type: "phone", value: "+8613912345678" }],
  payload: { orderId: "SO-1", currency: "CNY", total },
});
const BODY = JSON.stringify({ events: [event("order:SO-1:paid")], note: "张伟在杭州西湖店下单，付款后通知会员" });

const hmac = (body: Buffer) => createHmac("sha256", SECRET).update(body).digest("hex");

/** A small correct HMAC channel; each broken plugin below changes one thing of it. */
function hmacPlugin(overrides: { verify?: (req: ChannelRequest) => unknown; normalize?: (payload: unknown) => unknown; secretKeys?: string[] } = {}) {
  return definePlugin<{ secret: string }>({
    name: "kit-fixture",
    version: "0.0.1",
    configSchema: z.object({ secret: z.string().min(16) }),
    secretKeys: overrides.secretKeys ?? ["secret"],
    channel: {
      verify:
        overrides.verify ??
        ((req) => {
          const given = req.headers["x-sig"] ?? "";
          if (!/^[0-9a-f]{64}$/.test(given)) throw new VerificationError("missing or malformed x-sig");
          if (!timingSafeEqual(Buffer.from(given, "hex"), Buffer.from(hmac(req.rawBody), "hex"))) throw new VerificationError("bad signature");
          return req.rawBody;
        }),
      normalize: (overrides.normalize ??
        ((payload) => {
          try {
            const events = JSON.parse(String(payload)).events;
            if (!Array.isArray(events)) throw new Error("no events");
            return events;
          } catch (err) {
            throw new NormalizationError((err as Error).message);
          }
        })) as (payload: unknown) => NormalizedEventInput[],
    },
  });
}

const signedFixture = { name: "order paid", request: () => channelRequest({ body: BODY, headers: { "x-sig": hmac(Buffer.from(BODY)) } }) };
const connectionOf = (plugin: PluginDefinition<{ secret: string }>) => buildConnection(plugin, { config: { secret: SECRET } });

describe("conformance kit", () => {
  it("passes the correct reference plugin through every check", async () => {
    const plugin = hmacPlugin();
    const c = await connectionOf(plugin);
    checkPluginIdentity(plugin as PluginDefinition<unknown>);
    await checkValidFixture(plugin, c, signedFixture, LIMITS);
    await checkDeterminism(plugin, c, signedFixture, LIMITS);
    await checkBodyTamper(plugin, c, signedFixture, LIMITS);
    await checkGarbageRequests(plugin, c, signedFixture, LIMITS);
    await checkGarbagePayloads(plugin, c, [signedFixture], LIMITS);
    await checkAuthenticGarbage(plugin, c, [signedFixture], (body) => channelRequest({ body, headers: { "x-sig": hmac(body) } }), LIMITS);
  });

  it("catches a signature that covers only part of the body", async () => {
    const plugin = hmacPlugin({
      verify: (req) => {
        const half = req.rawBody.subarray(0, req.rawBody.length >> 1);
        if (req.headers["x-sig"] !== hmac(half)) throw new VerificationError("bad signature");
        return req.rawBody;
      },
    });
    const fixture = { name: "half", request: () => channelRequest({ body: BODY, headers: { "x-sig": hmac(Buffer.from(BODY).subarray(0, Buffer.byteLength(BODY) >> 1)) } }) };
    await expect(checkBodyTamper(plugin, await connectionOf(plugin), fixture, LIMITS)).rejects.toThrow(/verify accepted the body with its last byte cut off/);
  });

  it("catches a signature check blind to a single byte in the middle of the body", async () => {
    const middle = Buffer.byteLength(BODY) >> 1;
    const blind = (body: Buffer) => hmac(Buffer.concat([body.subarray(0, middle), body.subarray(middle + 1)]));
    const plugin = hmacPlugin({
      verify: (req) => {
        if (req.rawBody.length !== Buffer.byteLength(BODY) || req.headers["x-sig"] !== blind(req.rawBody)) throw new VerificationError("bad signature");
        return req.rawBody;
      },
    });
    const fixture = { name: "blind", request: () => channelRequest({ body: BODY, headers: { "x-sig": blind(Buffer.from(BODY)) } }) };
    await expect(checkBodyTamper(plugin, await connectionOf(plugin), fixture, LIMITS)).rejects.toThrow(new RegExp(`verify accepted the body with byte ${middle} xor`));
  });

  it("catches timingSafeEqual called on a signature of the wrong length (RangeError, a 500)", async () => {
    const plugin = hmacPlugin({
      verify: (req) => {
        const given = req.headers["x-sig"];
        if (!given) throw new VerificationError("missing x-sig");
        if (!timingSafeEqual(Buffer.from(given, "hex"), Buffer.from(hmac(req.rawBody), "hex"))) throw new VerificationError("bad signature");
        return req.rawBody;
      },
    });
    await expect(checkGarbageRequests(plugin, await connectionOf(plugin), signedFixture, LIMITS)).rejects.toThrow(/threw RangeError/);
  });

  it("catches normalize trusting the payload's shape (TypeError on random payloads)", async () => {
    const plugin = hmacPlugin({ normalize: (payload) => JSON.parse(String(payload)).events.map((e: unknown) => e) });
    await expect(checkGarbagePayloads(plugin, await connectionOf(plugin), [signedFixture], LIMITS)).rejects.toThrow(/normalize \(random payload\) threw (SyntaxError|TypeError)/);
  });

  it("catches the same bug through authentic requests with mutated bodies", async () => {
    const plugin = hmacPlugin({
      normalize: (payload) => {
        const body = JSON.parse(String(payload)) as { events: { externalId: string }[] };
        return body.events.map((e) => ({ ...e, externalId: e.externalId.trim() }));
      },
    });
    const authentic = (body: Buffer) => channelRequest({ body, headers: { "x-sig": hmac(body) } });
    await expect(checkAuthenticGarbage(plugin, await connectionOf(plugin), [signedFixture], authentic, LIMITS)).rejects.toThrow(/threw (TypeError|SyntaxError)/);
  });

  it("catches externalIds that change between deliveries", async () => {
    let n = 0;
    const plugin = hmacPlugin({ normalize: () => [event(`order:SO-1:${++n}`)] });
    await expect(checkDeterminism(plugin, await connectionOf(plugin), signedFixture, LIMITS)).rejects.toThrow(/externalIds differ when the payload is normalized again/);
  });

  it("catches events that fail the normalized event schema, naming the field", async () => {
    const plugin = hmacPlugin({ normalize: () => [event("order:SO-1:paid", 99.5)] });
    await expect(checkValidFixture(plugin, await connectionOf(plugin), signedFixture, LIMITS)).rejects.toThrow(
      'fixture "order paid": event 0 is not a valid normalized event: payload.total: must be an integer amount in minor units',
    );
  });

  it("catches two events with one externalId in a request, and unexpected event types", async () => {
    const twice = hmacPlugin({ normalize: () => [event("dup"), event("dup")] });
    await expect(checkValidFixture(twice, await connectionOf(twice), signedFixture, LIMITS)).rejects.toThrow(/"dup" appears twice/);
    const plugin = hmacPlugin();
    await expect(checkValidFixture(plugin, await connectionOf(plugin), { ...signedFixture, types: ["order.placed"] }, LIMITS)).rejects.toThrow(/expected event types \["order.placed"\], got \["order.paid"\]/);
  });

  it("catches a secretKeys typo that would expose the secret", async () => {
    await expect(connectionOf(hmacPlugin({ secretKeys: ["secert"] }))).rejects.toThrow(/secretKeys names "secert"/);
  });

  it("catches a fixture config the schema refuses, without echoing the config", async () => {
    await expect(buildConnection(hmacPlugin(), { config: { secret: "short" } })).rejects.toThrow(/configSchema rejects the fixture connection config at secret/);
  });

  it("catches a normalize that never settles", async () => {
    const plugin = hmacPlugin({ normalize: () => new Promise(() => undefined) });
    await expect(checkDeterminism(plugin, await connectionOf(plugin), signedFixture, { ...LIMITS, deadlineMs: 50 })).rejects.toThrow(/normalize did not settle within 50 ms/);
  });

  it("catches a credential channel that lets requests without credentials through", async () => {
    const plugin = hmacPlugin({ verify: (req) => req.rawBody });
    await expect(checkCredentialRequired(plugin, await connectionOf(plugin), signedFixture, LIMITS)).rejects.toThrow(/verify accepted the request without any header/);
  });

  it("holds invalid fixtures to their declared status", async () => {
    const plugin = hmacPlugin();
    const c = await connectionOf(plugin);
    const unsigned = () => channelRequest({ body: BODY });
    await checkInvalidFixture(plugin, c, { name: "unsigned", request: unsigned, expect: 401, reason: "missing" }, LIMITS);
    await expect(checkInvalidFixture(plugin, c, { name: "unsigned", request: unsigned, expect: 400 }, LIMITS)).rejects.toThrow(/expected 400 .* verify rejected it/);
    await expect(checkInvalidFixture(plugin, c, { ...signedFixture, expect: 401 }, LIMITS)).rejects.toThrow(/expected 401 but verify accepted/);
    await expect(checkInvalidFixture(plugin, c, { name: "unsigned", request: unsigned, expect: 401, reason: /stale/ }, LIMITS)).rejects.toThrow(/does not match \/stale\//);
  });

  it("refuses a plugin name that cannot be a URL path segment", () => {
    expect(() => checkPluginIdentity({ ...hmacPlugin(), name: "Acme Shop" } as PluginDefinition<unknown>)).toThrow(/plugin name "Acme Shop"/);
    expect(() => checkPluginIdentity({ ...hmacPlugin(), version: "1" } as PluginDefinition<unknown>)).toThrow(/semantic version/);
  });
});

describe("testPluginContext", () => {
  it("keeps one store per connection id and isolates connections", async () => {
    const ctx = testPluginContext();
    await ctx.state("conn-a").set("cursor", { page: 2 });
    expect(ctx.state("conn-a")).toBe(ctx.state("conn-a"));
    await expect(ctx.state("conn-a").get("cursor")).resolves.toEqual({ page: 2 });
    await expect(ctx.state("conn-b").get("cursor")).resolves.toBeUndefined();
  });

  it("expires keys after their TTL, and setIfAbsent treats an expired key as absent", async () => {
    let now = 1_764_300_000_000;
    const store = testPluginContext({ now: () => now }).state("conn-a");
    await expect(store.setIfAbsent("nonce:abc", 1, 300)).resolves.toBe(true);
    await expect(store.setIfAbsent("nonce:abc", 1, 300)).resolves.toBe(false);
    now += 299_999;
    await expect(store.get("nonce:abc")).resolves.toBe(1);
    now += 1;
    await expect(store.get("nonce:abc")).resolves.toBeUndefined();
    await expect(store.setIfAbsent("nonce:abc", 2, 300)).resolves.toBe(true);
    expect(store.keys()).toEqual(["nonce:abc"]);
    await store.delete("nonce:abc");
    expect(store.keys()).toEqual([]);
  });

  it("stores JSON copies and refuses values that are not JSON", async () => {
    const store = new InMemoryKeyValueStore();
    const token = { accessToken: "t1", scopes: ["read"] };
    await store.set("token", token);
    token.scopes.push("write");
    await expect(store.get("token")).resolves.toEqual({ accessToken: "t1", scopes: ["read"] });
    await expect(store.set("bad", undefined)).rejects.toThrow(TypeError);
    await expect(store.set("bad", 1, 0)).rejects.toThrow(RangeError);
  });

  it("says plainly that ingest, customers and connections need the server", async () => {
    const ctx = testPluginContext();
    await expect(ctx.ingest("conn-a", [])).rejects.toThrow("ctx.ingest is not available in the conformance kit");
    await expect(ctx.customers.findByIdentity("t", "phone", "+8613800138000")).rejects.toThrow("not available in the conformance kit");
    await expect(ctx.connections()).rejects.toThrow("ctx.connections is not available in the conformance kit");
  });
});
