import ".."; // the built-in channels' identity types (pos_member, youzan_buyer, taobao_buyer), as deployed
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { NormalizationError, parseNormalizedEvent, VerificationError, type ChannelConnectionInfo, type ChannelRequest } from "../../src/plugins";
import { adapterConformance, buildConnection, channelRequest, testPluginContext } from "../../src/plugins/testing";
import { httpJsonPlugin, MAX_EVENTS, signHttpJson, TOLERANCE_SECONDS, type HttpJsonConfig } from "./index";

const fixture = (name: string) => readFileSync(join(__dirname, "../../test/fixtures/http-json", name));

const SECRET = "hj_live_4f9c2a7e1b8d3c6f";
const OTHER_SECRET = "hj_live_0a1b2c3d4e5f6a7b";

/** A request as the host delivers it: lower-cased headers, raw bytes, received now (or at `receivedAt`). */
function signed(body: Buffer | string, secret = SECRET, opts: { t?: number; receivedAt?: Date } = {}): ChannelRequest {
  const receivedAt = opts.receivedAt ?? new Date();
  const t = opts.t ?? Math.floor(receivedAt.getTime() / 1000);
  return channelRequest({
    body,
    receivedAt,
    headers: { "content-type": "application/json", "x-crm-signature": signHttpJson(secret, body, t) },
  });
}

adapterConformance(httpJsonPlugin, {
  connection: { config: { secret: SECRET }, name: "ERP 同步" },
  valid: [
    { name: "members and orders", request: (c) => signed(fixture("members-and-orders.json"), c.config.secret), types: ["customer.upserted", "order.placed", "order.paid"] },
    {
      name: "service, refunds, carts, feedback and reviews",
      request: (c) => signed(fixture("service-and-refunds.json"), c.config.secret),
      types: ["message.received", "order.refunded", "cart.updated", "feedback.submitted", "review.posted"],
    },
    { name: "minimal customer (compact JSON)", request: (c) => signed(fixture("minimal-customer.json"), c.config.secret), types: ["customer.upserted"] },
    { name: "empty batch", request: (c) => signed('{"events":[]}', c.config.secret), types: [] },
  ],
  invalid: [
    { name: "signed with another secret", request: () => signed(fixture("members-and-orders.json"), OTHER_SECRET), expect: 401, reason: "signature mismatch" },
    {
      name: "signature header missing",
      request: () => channelRequest({ body: fixture("members-and-orders.json"), headers: { "content-type": "application/json" } }),
      expect: 401,
      reason: "missing X-CRM-Signature",
    },
    {
      name: "signed six minutes ago",
      request: (c) => signed(fixture("minimal-customer.json"), c.config.secret, { t: Math.floor(Date.now() / 1000) - 360 }),
      expect: 401,
      reason: /stale/,
    },
    { name: "events is an object, not an array", request: (c) => signed(fixture("events-not-an-array.json"), c.config.secret), expect: 400, reason: '"events" must be an array' },
    { name: "body is not JSON", request: (c) => signed("events=1&type=customer.upserted", c.config.secret), expect: 400, reason: "not valid JSON" },
    { name: "body is not UTF-8", request: (c) => signed(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), c.config.secret), expect: 400, reason: "UTF-8" },
    {
      name: "more than 1000 events",
      request: (c) => signed(JSON.stringify({ events: Array.from({ length: MAX_EVENTS + 1 }, (_, i) => ({ type: "customer.upserted", externalId: `m-${i}` })) }), c.config.secret),
      expect: 400,
      reason: "too many events",
    },
  ],
  authenticRequest: (body, c) => signed(body, c.config.secret),
});

describe("http-json signature rules", () => {
  let connection: ChannelConnectionInfo<HttpJsonConfig>;
  beforeAll(async () => {
    connection = await buildConnection(httpJsonPlugin, { config: { secret: SECRET } });
  });
  const body = fixture("minimal-customer.json");
  const verify = (req: ChannelRequest, conn = connection) => Promise.resolve().then(() => httpJsonPlugin.channel!.verify(req, conn, testPluginContext()));

  it("matches an HMAC-SHA256 computed independently over '<t>.<raw body>' (fixed vector)", async () => {
    const t = 1764300000;
    const expected = createHmac("sha256", SECRET).update(Buffer.concat([Buffer.from(`${t}.`), body])).digest("hex");
    expect(signHttpJson(SECRET, body, t)).toBe(`t=${t},v1=${expected}`);
    await expect(verify(channelRequest({ body, receivedAt: new Date(t * 1000), headers: { "x-crm-signature": `t=${t},v1=${expected}` } }))).resolves.toEqual(JSON.parse(body.toString()));
  });

  it("matches the vector published in adapters/http-json/README.md (computed there with openssl)", () => {
    expect(signHttpJson("crm-example-secret-0001", '{"events":[]}', 1764300000)).toBe(
      "t=1764300000,v1=f630981738fa9f3faf9f91dbdcd93275569fa2e7cd0acd284cd4d34e80312ae6",
    );
  });

  it("signs a string and the same bytes as a Buffer alike, at the current second by default", () => {
    const now = Math.floor(Date.now() / 1000);
    const header = signHttpJson(SECRET, body.toString("utf8"));
    const t = Number(/^t=(\d+),/.exec(header)![1]);
    expect(Math.abs(t - now)).toBeLessThanOrEqual(1);
    expect(header).toBe(signHttpJson(SECRET, body, t));
  });

  it("accepts timestamps exactly 300 s old or ahead, and rejects 301 s either way", async () => {
    const receivedAt = new Date(1764300000_000);
    const at = (skew: number) => signed(body, SECRET, { receivedAt, t: 1764300000 + skew });
    await expect(verify(at(-TOLERANCE_SECONDS))).resolves.toBeDefined();
    await expect(verify(at(TOLERANCE_SECONDS))).resolves.toBeDefined();
    await expect(verify(at(-TOLERANCE_SECONDS - 1))).rejects.toThrow(/stale X-CRM-Signature timestamp: 301 s older/);
    await expect(verify(at(TOLERANCE_SECONDS + 1))).rejects.toThrow(/301 s ahead of the server clock/);
  });

  it("rejects a request signed with another secret", async () => {
    const err = await verify(signed(body, OTHER_SECRET)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).status).toBe(401);
    expect((err as Error).message).toMatch(/signature mismatch/);
  });

  it("accepts any of several v1 signatures, so producers can sign with old and new secrets during rotation", async () => {
    const receivedAt = new Date();
    const t = Math.floor(receivedAt.getTime() / 1000);
    const v1 = (secret: string) => signHttpJson(secret, body, t).split(",")[1];
    const both = channelRequest({ body, receivedAt, headers: { "x-crm-signature": `t=${t},${v1(OTHER_SECRET)},${v1(SECRET)}` } });
    const rotated = await buildConnection(httpJsonPlugin, { config: { secret: OTHER_SECRET } });
    const third = await buildConnection(httpJsonPlugin, { config: { secret: "hj_live_ffffffffffffffff" } });
    await expect(verify(both, connection)).resolves.toBeDefined();
    await expect(verify(both, rotated)).resolves.toBeDefined();
    await expect(verify(both, third)).rejects.toThrow(/signature mismatch/);
  });

  it("rejects a missing or empty header", async () => {
    await expect(verify(channelRequest({ body }))).rejects.toThrow("missing X-CRM-Signature header");
    await expect(verify(channelRequest({ body, headers: { "x-crm-signature": "  " } }))).rejects.toThrow("missing X-CRM-Signature header");
  });

  it("finds the header whatever the case of its name in a hand-built request", async () => {
    const req = signed(body);
    const headers = { "X-Crm-Signature": req.headers["x-crm-signature"] };
    await expect(verify({ ...req, headers })).resolves.toBeDefined();
  });

  it.each([
    ["no t", (v1: string, _t: number) => `v1=${v1}`, /no t/],
    ["no v1", (_v1: string, t: number) => `t=${t}`, /no v1/],
    ["two t values", (v1: string, t: number) => `t=${t},t=${t},v1=${v1}`, /more than one t/],
    ["t not a number", (v1: string) => `t=soon,v1=${v1}`, /unix seconds/],
    ["t in milliseconds (too many digits)", (v1: string, t: number) => `t=${t}000000,v1=${v1}`, /unix seconds/],
    ["v1 not hexadecimal", (v1: string, t: number) => `t=${t},v1=${"zz" + v1.slice(2)}`, /64 hexadecimal/],
    ["v1 truncated", (v1: string, t: number) => `t=${t},v1=${v1.slice(0, 63)}`, /64 hexadecimal/],
    ["a part without =", (v1: string, t: number) => `t=${t},v1=${v1},garbage`, /malformed/],
    ["nine v1 values", (v1: string, t: number) => `t=${t}` + `,v1=${v1}`.repeat(9), /more than 8/],
  ])("rejects a malformed header: %s", async (_name, header, reason) => {
    const receivedAt = new Date();
    const t = Math.floor(receivedAt.getTime() / 1000);
    const v1 = signHttpJson(SECRET, body, t).split("v1=")[1];
    const err = await verify(channelRequest({ body, receivedAt, headers: { "x-crm-signature": header(v1, t) } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toMatch(reason);
  });

  it("accepts upper-case hex and ignores unknown schemes such as v0", async () => {
    const receivedAt = new Date();
    const t = Math.floor(receivedAt.getTime() / 1000);
    const v1 = signHttpJson(SECRET, body, t).split("v1=")[1];
    const req = channelRequest({ body, receivedAt, headers: { "x-crm-signature": `t=${t}, v0=abc, v1=${v1.toUpperCase()}` } });
    await expect(verify(req)).resolves.toBeDefined();
  });
});

describe("http-json normalization", () => {
  const normalize = (payload: unknown) => Promise.resolve().then(() => httpJsonPlugin.channel!.normalize(payload, undefined as never));

  it("returns the events exactly as sent, in order", async () => {
    const body = JSON.parse(fixture("members-and-orders.json").toString("utf8"));
    await expect(normalize(body)).resolves.toEqual(body.events);
  });

  it("passes a batch with bad entries through, so the host rejects only those entries with their reasons", async () => {
    const events = await normalize(JSON.parse(fixture("one-bad-event.json").toString("utf8")));
    expect(events).toHaveLength(3);
    expect(events.map((e) => parseNormalizedEvent(e))).toEqual([
      expect.objectContaining({ ok: true }),
      { ok: false, reason: expect.stringMatching(/.+/) },
      { ok: false, reason: "payload.total: must be an integer amount in minor units" },
    ]);
  });

  it("accepts exactly 1000 events and refuses 1001", async () => {
    const event = { type: "customer.upserted", externalId: "x", occurredAt: "2026-11-20T02:15:30Z", payload: {} };
    await expect(normalize({ events: Array(MAX_EVENTS).fill(event) })).resolves.toHaveLength(MAX_EVENTS);
    await expect(normalize({ events: Array(MAX_EVENTS + 1).fill(event) })).rejects.toThrow("too many events: 1001 (at most 1000 per request)");
  });

  it.each([
    ["a JSON string literal", Buffer.from('"{\\"events\\":[]}"'), /JSON object .* got a string/],
    ["a JSON array", [{ type: "customer.upserted" }], /got an array/],
    ["an object without events", { event: [] }, /"events" must be an array .* got nothing/],
    ["events: null", { events: null }, /got null/],
    ["truncated JSON text", '{"events":[', /not valid JSON/],
  ])("refuses %s with NormalizationError", async (_name, payload, reason) => {
    const err = await normalize(payload).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NormalizationError);
    expect((err as NormalizationError).status).toBe(400);
    expect((err as Error).message).toMatch(reason);
  });

  it("lets verify vouch only for authenticity: an authentic non-JSON body reaches normalize as raw bytes", async () => {
    const connection = await buildConnection(httpJsonPlugin, { config: { secret: SECRET } });
    const payload = await httpJsonPlugin.channel!.verify(signed("not json"), connection, testPluginContext());
    expect(Buffer.isBuffer(payload) && payload.toString()).toBe("not json");
    await expect(normalize(payload)).rejects.toThrow(/body is not valid JSON/);
  });
});

describe("http-json config", () => {
  it("requires a secret of at least 16 characters and keeps it out of API answers", () => {
    expect(httpJsonPlugin.configSchema!.safeParse({ secret: "short" }).success).toBe(false);
    expect(httpJsonPlugin.configSchema!.safeParse({}).success).toBe(false);
    expect(httpJsonPlugin.configSchema!.safeParse({ secret: SECRET }).success).toBe(true);
    expect(httpJsonPlugin.secretKeys).toEqual(["secret"]);
  });
});
