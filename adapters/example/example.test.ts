import { readFileSync } from "node:fs";
import { join } from "node:path";

import { NormalizationError, VerificationError, type ChannelConnectionInfo, type ChannelRequest } from "../../src/plugins";
import { adapterConformance, buildConnection, channelRequest, testPluginContext } from "../../src/plugins/testing";
import { examplePlugin, toE164, toFen, type ExampleConfig } from "./index";

// Raw samples, read as bytes: what Acme sends, byte for byte.
const sample = (name: string) => readFileSync(join(__dirname, "../../test/fixtures/example", name));

const TOKEN = "acme_tok_Zk3q9VfW2mXr7LpB";

/** A webhook delivery from Acme as the host hands it over (header names lower-cased). */
function delivery(body: Buffer | string, token = TOKEN): ChannelRequest {
  return channelRequest({ body, headers: { "content-type": "application/json; charset=utf-8", "x-acme-token": token } });
}

// 1. The conformance kit: the same checks every adapter passes.
adapterConformance(examplePlugin, {
  connection: { config: { token: TOKEN }, name: "Acme 杭州旗舰店" },
  // Acme sends a shared token, not a body signature: the kit checks the token is required instead
  // of checking that a changed body fails verify.
  integrity: "credential",
  valid: [
    { name: "member with full profile", request: (c) => delivery(sample("member.json"), c.config.token), types: ["customer.upserted"] },
    { name: "member with only the required fields", request: (c) => delivery(sample("member-minimal.json"), c.config.token), types: ["customer.upserted"] },
    { name: "order created", request: (c) => delivery(sample("order-created.json"), c.config.token), types: ["order.placed"] },
    { name: "order paid", request: (c) => delivery(sample("order-paid.json"), c.config.token), types: ["order.paid"] },
    { name: "order shipped (acknowledged, no event)", request: (c) => delivery(sample("order-shipped.json"), c.config.token), types: [] },
  ],
  invalid: [
    { name: "wrong token", request: () => delivery(sample("member.json"), "acme_tok_not_the_right_one"), expect: 401, reason: "does not match" },
    { name: "no token", request: () => channelRequest({ body: sample("member.json") }), expect: 401, reason: "missing X-Acme-Token" },
    { name: "member without updatedAt", request: (c) => delivery(sample("member-without-updated-at.json"), c.config.token), expect: 400, reason: "updatedAt" },
    { name: "amount as a float", request: (c) => delivery(sample("order-amount-as-number.json"), c.config.token), expect: 400, reason: "totalAmount" },
    { name: "not JSON", request: (c) => delivery("kind=member&memberId=1", c.config.token), expect: 400, reason: "not valid JSON" },
  ],
  handshakes: [
    {
      name: "URL check with the token",
      request: (c) => channelRequest({ method: "GET", query: { challenge: "f3a9c2e1-77b0" }, headers: { "x-acme-token": c.config.token } }),
      status: 200,
      body: "f3a9c2e1-77b0",
    },
    { name: "URL check without the token", request: () => channelRequest({ method: "GET", query: { challenge: "f3a9c2e1-77b0" } }), status: 401 },
  ],
});

// 2. The adapter's own rules: the exact translation of each payload kind.
describe("example (Acme Shop) adapter", () => {
  let connection: ChannelConnectionInfo<ExampleConfig>;
  beforeAll(async () => {
    connection = await buildConnection(examplePlugin, { config: { token: TOKEN } });
  });
  const channel = examplePlugin.channel!;
  const verify = (req: ChannelRequest) => Promise.resolve().then(() => channel.verify(req, connection, testPluginContext()));
  const normalize = (body: Buffer | string) => Promise.resolve().then(() => channel.normalize(body, connection));

  describe("token", () => {
    it("accepts the connection's token and hands the raw body to normalize", async () => {
      await expect(verify(delivery(sample("member.json")))).resolves.toEqual(sample("member.json"));
    });

    it.each([
      ["missing", channelRequest({ body: "{}" }), "missing X-Acme-Token header"],
      ["empty", channelRequest({ body: "{}", headers: { "x-acme-token": "" } }), "missing X-Acme-Token header"],
      ["different", delivery("{}", "acme_tok_Zk3q9VfW2mXr7LpC"), "X-Acme-Token does not match this connection's token"],
      ["a prefix of the token", delivery("{}", TOKEN.slice(0, 10)), "X-Acme-Token does not match this connection's token"],
      ["the token with a suffix", delivery("{}", `${TOKEN}x`), "X-Acme-Token does not match this connection's token"],
    ])("refuses a %s token with VerificationError", async (_name, req, reason) => {
      const err = await verify(req).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VerificationError);
      expect((err as Error).message).toBe(reason);
    });

    it("requires a configured token of at least 16 characters", () => {
      expect(examplePlugin.configSchema!.safeParse({ token: "short" }).success).toBe(false);
      expect(examplePlugin.secretKeys).toEqual(["token"]);
    });
  });

  describe("members", () => {
    it("become customer.upserted with the member id and the mobile in E.164 as identities", async () => {
      await expect(normalize(sample("member.json"))).resolves.toEqual([
        {
          type: "customer.upserted",
          externalId: "member:M20261120001:2026-11-20T02:15:30.000Z",
          occurredAt: "2026-11-20T02:15:30.000Z",
          identities: [
            { type: "external", value: "acme-shop:M20261120001" },
            { type: "phone", value: "+8613912345678" },
          ],
          payload: {
            displayName: "王小芳",
            phone: "+8613912345678",
            gender: "FEMALE",
            birthday: "1992-05-17",
            region: { country: "CN", province: "浙江省", city: "杭州市" },
            attributes: { acmeLevel: "gold", acmePoints: 1280 },
          },
        },
      ]);
    });

    it("give the same externalId for the same instant written with another offset, and a new one for a later update", async () => {
      const member = JSON.parse(sample("member.json").toString("utf8"));
      const id = async (m: object) => (await normalize(JSON.stringify(m)))[0].externalId;
      const original = await id(member);
      expect(await id({ ...member, updatedAt: "2026-11-20T02:15:30Z" })).toBe(original);
      expect(await id({ ...member, updatedAt: "2026-11-20T10:16:00+08:00" })).not.toBe(original);
    });

    it("with only the required fields carry just the external identity", async () => {
      const [event] = await normalize(sample("member-minimal.json"));
      expect(event.identities).toEqual([{ type: "external", value: "acme-shop:M20261120002" }]);
      expect(event.payload).toEqual({});
    });

    it("without updatedAt are refused naming the field", async () => {
      await expect(normalize(sample("member-without-updated-at.json"))).rejects.toThrow(new NormalizationError("updatedAt: Invalid input: expected string, received undefined"));
    });
  });

  describe("orders", () => {
    it("created become order.placed with amounts in fen", async () => {
      await expect(normalize(sample("order-created.json"))).resolves.toEqual([
        {
          type: "order.placed",
          externalId: "order:AC202611200001:placed",
          occurredAt: "2026-11-20T02:20:00.000Z",
          identities: [
            { type: "external", value: "acme-shop:M20261120001" },
            { type: "phone", value: "+8613912345678" },
          ],
          payload: {
            orderId: "AC202611200001",
            currency: "CNY",
            total: 25800,
            discount: 2000,
            shipping: 0,
            storeId: "HZ-XH-01",
            items: [
              { sku: "LJ-250", title: "西湖龙井 250g", quantity: 2, unitPrice: 12900 },
              { sku: "BZ-GIFT", title: "礼盒包装", quantity: 1, unitPrice: 2000 },
            ],
          },
        },
      ]);
    });

    it("paid become order.paid at the payment time, with its own externalId", async () => {
      const [event] = await normalize(sample("order-paid.json"));
      expect(event).toMatchObject({ type: "order.paid", externalId: "order:AC202611200001:paid", occurredAt: "2026-11-20T02:21:12.000Z" });
      expect(event.identities).toContainEqual({ type: "phone", value: "+8613912345678" });
    });

    it("paid without paidAt are refused", async () => {
      const order = { ...JSON.parse(sample("order-paid.json").toString("utf8")), paidAt: undefined };
      await expect(normalize(JSON.stringify(order))).rejects.toThrow("paidAt: required when status is paid");
    });

    it.each(["shipped", "closed", "constructor", "toString"])("with status %s are acknowledged without events", async (status) => {
      const order = { ...JSON.parse(sample("order-created.json").toString("utf8")), status };
      await expect(normalize(JSON.stringify(order))).resolves.toEqual([]);
    });
  });

  describe("payloads", () => {
    it("of an unknown kind are acknowledged without events", async () => {
      await expect(normalize('{"kind":"coupon.issued","couponId":"CP1"}')).resolves.toEqual([]);
    });

    it.each([
      ["without kind", '{"memberId":"M1"}', 'payload must be a JSON object with a string "kind"'],
      ["that are arrays", "[]", 'payload must be a JSON object with a string "kind"'],
      ["that are not JSON", "<xml/>", /^body is not valid JSON/],
      ["that are not UTF-8", Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), "body is not valid UTF-8"],
    ])("%s are refused", async (_name, body, reason) => {
      await expect(normalize(body)).rejects.toThrow(reason);
    });
  });

  describe("handshake", () => {
    const handshake = (query: Record<string, string>, token = TOKEN) =>
      Promise.resolve(channel.handshake!(channelRequest({ method: "GET", query, headers: { "x-acme-token": token } }), connection, testPluginContext()));

    it("echoes the challenge as text/plain", async () => {
      await expect(handshake({ challenge: "abc_123-XYZ" })).resolves.toEqual({
        status: 200,
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: "abc_123-XYZ",
      });
    });

    it("answers 401 in Acme's error form when the token is wrong", async () => {
      await expect(handshake({ challenge: "abc" }, "acme_tok_wrong_wrong_wrong")).resolves.toEqual({
        status: 401,
        body: { code: 401, message: "X-Acme-Token does not match this connection's token" },
      });
    });

    it.each<Record<string, string>>([{}, { challenge: "" }, { challenge: "<script>" }, { challenge: "x".repeat(129) }])("refuses to echo %p", async (query) => {
      await expect(handshake(query)).resolves.toMatchObject({ status: 400 });
    });
  });

  describe("answers", () => {
    it("acknowledges in Acme's form, counting rejected events", () => {
      expect(channel.acknowledge!([{ externalId: "a", status: "accepted" }], undefined, connection)).toEqual({ status: 200, body: { code: 0, message: "ok" } });
      expect(
        channel.acknowledge!(
          [
            { externalId: "a", status: "duplicate" },
            { externalId: "b", status: "rejected", reason: "payload.total: must be an integer amount in minor units" },
          ],
          undefined,
          connection,
        ),
      ).toEqual({ status: 200, body: { code: 0, message: "ok (1 rejected)" } });
    });

    it("refuses in Acme's form with the status", () => {
      expect(channel.reject!(401, "X-Acme-Token does not match")).toEqual({ status: 401, body: { code: 401, message: "X-Acme-Token does not match" } });
    });
  });

  describe("helpers", () => {
    it.each([
      ["258.00", 25800],
      ["258", 25800],
      ["258.5", 25850],
      ["0.29", 29],
      ["0.01", 1],
      ["9999999999999.99", 999999999999999],
    ])("toFen(%s) is %d", (yuan, fen) => {
      expect(toFen(yuan)).toBe(fen);
    });

    it.each([
      ["13912345678", "+8613912345678"],
      ["139 1234 5678", "+8613912345678"],
      ["139-1234-5678", "+8613912345678"],
      ["+86 139 1234 5678", "+8613912345678"],
      ["008613912345678", "+8613912345678"],
      [" 91234567 ", "91234567"],
      ["+852 9123 4567", "+852 9123 4567"],
    ])("toE164(%p) is %p", (input, expected) => {
      expect(toE164(input)).toBe(expected);
    });
  });
});
