/**
 * The conformance kit's own tests: a kit that passes every adapter proves nothing, so each check
 * is run here against a plugin broken in exactly the way that check exists to catch.
 * (Here because Jest's roots are `test/` and `adapters/`; the kit lives in src/plugins/testing.)
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

import { definePlugin, NormalizationError, VerificationError, type ChannelRequest, type NormalizedEventInput, type PluginDefinition } from "../../../src/plugins";
import {
  adapterConformance,
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
  checkSignedPartTamper,
  checkValidFixture,
  InMemoryKeyValueStore,
  partBetween,
  testPluginContext,
  type CheckLimits,
  type SignedPartIntegrity,
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

// An envelope channel like Youzan's classic push: `sig` is the HMAC of `msg` as sent (URL-encoded
// JSON); the envelope's other fields are not signed.
const MSG = encodeURIComponent(JSON.stringify({ events: [event("order:SO-1:paid")], note: "张伟在杭州西湖店下单" }));
const envelope = (msg: string, sig: string) => JSON.stringify({ to: "shop-1", send_count: 0, msg, sig, note: "unsigned" });
const envelopeFixture = { name: "envelope", request: () => channelRequest({ body: envelope(MSG, hmac(Buffer.from(MSG))) }) };
const msgAndSig: SignedPartIntegrity = { signedPart: (body) => [partBetween(body, '"msg":"', '"'), partBetween(body, '"sig":"', '"')] };
const hmacMatches = (content: string, sig: string) =>
  /^[0-9a-f]{64}$/.test(sig) && timingSafeEqual(Buffer.from(sig, "hex"), Buffer.from(hmac(Buffer.from(content)), "hex"));

/** Verifies with `check(msg, sig)` and hands on the envelope with msg decoded; normalize reads msg.events. */
function envelopePlugin(check: (msg: string, sig: string) => boolean = hmacMatches, onEnvelope: (e: Record<string, unknown>) => void = () => undefined) {
  const decoded = (msg: string): unknown => {
    try {
      return JSON.parse(decodeURIComponent(msg));
    } catch {
      return msg;
    }
  };
  return hmacPlugin({
    verify: (req) => {
      let e: unknown;
      try {
        e = JSON.parse(req.rawBody.toString("utf8"));
      } catch {
        throw new VerificationError("body is not JSON");
      }
      if (typeof e !== "object" || e === null) throw new VerificationError("body is not a JSON object");
      const { msg, sig } = e as { msg?: unknown; sig?: unknown };
      if (typeof msg !== "string" || typeof sig !== "string") throw new VerificationError("msg or sig missing");
      if (!check(msg, sig)) throw new VerificationError("sig does not match msg");
      onEnvelope(e as Record<string, unknown>);
      return { ...e, msg: decoded(msg) };
    },
    normalize: (payload) => {
      const events = (payload as { msg?: { events?: unknown } } | null)?.msg?.events;
      if (!Array.isArray(events)) throw new NormalizationError("msg.events: required");
      return events;
    },
  });
}

describe("conformance kit: channels that sign part of the body", () => {
  it("passes an envelope channel that checks the signature over its signed part, which the whole-body check refuses", async () => {
    const plugin = envelopePlugin();
    const c = await connectionOf(plugin);
    await checkSignedPartTamper(plugin, c, envelopeFixture, msgAndSig, LIMITS);
    // Why the mode exists: the envelope's unsigned bytes may change, so "every byte" cannot hold.
    await expect(checkBodyTamper(plugin, c, envelopeFixture, LIMITS)).rejects.toThrow(/verify accepted the body with/);
  });

  it("catches an envelope channel that does not check its signature", async () => {
    const plugin = envelopePlugin(() => true);
    await expect(checkSignedPartTamper(plugin, await connectionOf(plugin), envelopeFixture, msgAndSig, LIMITS)).rejects.toThrow(
      /verify accepted the body with .*signed part 1.*, and handed on a different payload/,
    );
  });

  it("catches a signature check blind to a single byte in the middle of the signed part", async () => {
    const middle = MSG.length >> 1;
    const blind = (msg: string) => msg.slice(0, middle) + msg.slice(middle + 1);
    const plugin = envelopePlugin((msg, sig) => msg.length === MSG.length && hmacMatches(blind(msg), sig));
    const fixture = { name: "blind", request: () => channelRequest({ body: envelope(MSG, hmac(Buffer.from(blind(MSG)))) }) };
    const at = Buffer.from(envelope(MSG, "")).indexOf(MSG) + middle;
    // One random run: the deterministic positions alone must find the byte.
    await expect(checkSignedPartTamper(plugin, await connectionOf(plugin), fixture, msgAndSig, { ...LIMITS, runs: 1 })).rejects.toThrow(
      new RegExp(`verify accepted the body with byte ${at} \\(signed part 1 of 2, .*\\) xor 0x[0-9a-f]+, and handed on a different payload`),
    );
  });

  it("catches a signature compared only over the length sent, which a cut signature passes", async () => {
    const plugin = envelopePlugin((msg, sig) => sig.length > 0 && hmac(Buffer.from(msg)).startsWith(sig));
    await expect(checkSignedPartTamper(plugin, await connectionOf(plugin), envelopeFixture, msgAndSig, LIMITS)).rejects.toThrow(
      /verify accepted the body with the last byte of signed part 2 \(bytes \d+–\d+\) cut out, and handed on a different payload/,
    );
  });

  it("catches a signature over a fixed length of msg, which an extended msg passes", async () => {
    const plugin = envelopePlugin((msg, sig) => msg.length >= MSG.length && hmacMatches(msg.slice(0, MSG.length), sig));
    await expect(checkSignedPartTamper(plugin, await connectionOf(plugin), envelopeFixture, msgAndSig, LIMITS)).rejects.toThrow(
      /verify accepted the body with the last byte of signed part 1 \(bytes \d+–\d+\) repeated, and handed on a different payload/,
    );
  });

  it("flips the first and last byte of every signed part, however few positions it samples", async () => {
    // Blind to the first hex digit of sig: with 64 positions spread over msg and sig, only the
    // edges of each part are sure to be flipped.
    const plugin = envelopePlugin((msg, sig) => sig.length === 64 && sig.slice(1) === hmac(Buffer.from(msg)).slice(1));
    const at = Buffer.from(envelopeFixture.request().rawBody).indexOf('"sig":"') + 7;
    await expect(checkSignedPartTamper(plugin, await connectionOf(plugin), envelopeFixture, msgAndSig, { ...LIMITS, tamperPositions: 64, runs: 1 })).rejects.toThrow(
      new RegExp(`verify accepted the body with byte ${at} \\(signed part 2 of 2, `),
    );
  });

  it("catches a declared signed part that verify ignores and that never reaches the payload", async () => {
    // sig alone is declared, not checked, and dropped from the payload: every change passes unseen.
    const plugin = hmacPlugin({
      verify: (req) => {
        try {
          const { sig: _sig, ...rest } = JSON.parse(req.rawBody.toString("utf8")) as Record<string, unknown>;
          return rest;
        } catch {
          throw new VerificationError("body is not JSON");
        }
      },
    });
    const sigOnly: SignedPartIntegrity = { signedPart: (body) => partBetween(body, '"sig":"', '"') };
    await expect(checkSignedPartTamper(plugin, await connectionOf(plugin), envelopeFixture, sigOnly, LIMITS)).rejects.toThrow(
      /verify accepted \d+ of 66 single-byte changes inside the signed part \(with an unchanged payload\)/,
    );
  });

  it("tolerates a change that leaves the signed value as verify reads it, and the payload, unchanged", async () => {
    // verify trims msg before checking it (as WeChat's adapter trims Encrypt), and JSON.parse ignores
    // the trailing space of the fixture's msg: cutting that space changes nothing that matters.
    const sent = `${MSG} `;
    const accepted: string[] = [];
    const plugin = envelopePlugin(
      (msg, sig) => hmacMatches(msg.trim(), sig),
      (e) => accepted.push(String(e.msg)),
    );
    const fixture = { name: "trailing space", request: () => channelRequest({ body: envelope(sent, hmac(Buffer.from(MSG))) }) };
    await checkSignedPartTamper(plugin, await connectionOf(plugin), fixture, msgAndSig, LIMITS);
    expect(accepted.filter((m) => m !== sent).length).toBeGreaterThan(0);
  });

  it("catches verify throwing something other than VerificationError when an unsigned byte changes", async () => {
    const plugin = envelopePlugin(hmacMatches, (e) => {
      if (e.to !== "shop-1") throw new Error("unknown shop");
    });
    await expect(checkSignedPartTamper(plugin, await connectionOf(plugin), envelopeFixture, msgAndSig, LIMITS)).rejects.toThrow(
      /verify \(body with unsigned byte \d+ changed\) threw Error: unknown shop; it may only throw VerificationError/,
    );
  });

  it("says which fixture's signedPart is wrong, and how", async () => {
    const plugin = envelopePlugin();
    const c = await connectionOf(plugin);
    await expect(checkSignedPartTamper(plugin, c, envelopeFixture, { signedPart: (body) => ({ start: 10, end: body.length + 1 }) }, LIMITS)).rejects.toThrow(
      /fixture "envelope": signedPart returned \{"start":10,"end":\d+\}; expected \{ start, end \} with 0 <= start < end <= \d+/,
    );
    await expect(checkSignedPartTamper(plugin, c, envelopeFixture, { signedPart: () => [] }, LIMITS)).rejects.toThrow(/signedPart returned no range/);
    await expect(checkSignedPartTamper(plugin, c, envelopeFixture, { signedPart: (body) => partBetween(body, '"payload":"', '"') }, LIMITS)).rejects.toThrow(
      /fixture "envelope": signedPart threw: partBetween: "\\"payload\\":\\"" is not in the body/,
    );
    expect(() =>
      adapterConformance(plugin, { connection: { config: { secret: SECRET } }, valid: [{ ...envelopeFixture, integrity: "partial" as never }] }),
    ).toThrow('adapterConformance: valid fixture "envelope": integrity must be "body-signature", "credential" or { signedPart: (body) => ranges }');
  });

  // The whole kit, with the mode chosen per fixture: the spy proves the signed-part check ran.
  const signedPart = jest.fn(msgAndSig.signedPart);
  adapterConformance(envelopePlugin(), {
    connection: { config: { secret: SECRET } },
    integrity: "credential",
    valid: [{ ...envelopeFixture, types: ["order.paid"], integrity: { signedPart } }],
    limits: LIMITS,
  });
  it("ran the signed-part check for the fixture that chose it", () => {
    expect(signedPart).toHaveBeenCalled();
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
