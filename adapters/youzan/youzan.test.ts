import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { NormalizationError, parseNormalizedEvent, VerificationError, type ChannelConnectionInfo, type ChannelRequest } from "../../src/plugins";
import {
  adapterConformance,
  buildConnection,
  channelRequest,
  checkAuthenticGarbage,
  checkDeterminism,
  checkGarbageRequests,
  checkValidFixture,
  partBetween,
  testPluginContext,
  type SignedPartIntegrity,
} from "../../src/plugins/testing";
import { decodeMsg, parseJsonExact, youzanPlugin, youzanSign, youzanTime, yuanToFen, type YouzanConfig } from "./index";

// Raw samples as bytes: what Youzan sends, byte for byte (the classic form carries its sign inside).
const sample = (name: string) => readFileSync(join(__dirname, "../../test/fixtures/youzan", name));

const CLIENT_ID = "a3f9c2e17b5d4e8f06";
const SECRET = "7e1b9d2c4f6a8e0b3d5c7a9f1e2d4c6b";
const KDT_ID = "44870512";
const CONFIG = { clientId: CLIENT_ID, clientSecret: SECRET, kdtId: KDT_ID };

/** md5 computed here, independently of the adapter. */
const md5 = (...parts: (string | Buffer)[]) => {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

/** A classic push as the host hands it over: the signature is inside the JSON body. */
const push = (body: Buffer | string) => channelRequest({ body, headers: { "content-type": "application/json" } });

/** The Youzan Cloud form: the same body, signed as a whole in Event-Sign. */
function cloud(body: Buffer | string, clientId = CLIENT_ID, secret = SECRET, extra: Record<string, string> = {}): ChannelRequest {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  return channelRequest({
    body: bytes,
    headers: { "content-type": "application/json", "event-sign": md5(clientId, bytes, secret), "client-id": clientId, ...extra },
  });
}

const cloudFixture = (name: string) => (c: ChannelConnectionInfo<YouzanConfig>) => cloud(sample(name), c.config.clientId, c.config.clientSecret);
const pushFixture = (name: string) => () => push(sample(name));

/**
 * The classic form's signed part: the values of client_id and msg, which the sign covers, and of
 * sign itself. The rest of the envelope (send_count, kdt_name, status…) is not signed.
 */
const classicSigned: SignedPartIntegrity = {
  signedPart: (body) => ["client_id", "msg", "sign"].map((key) => partBetween(body, `"${key}":"`, '"')),
};

// 1. The conformance kit. The Youzan Cloud form's Event-Sign covers every byte of the body (the
//    default "body-signature" check); the classic form signs only client_id and msg inside an
//    unsigned envelope, so its fixtures name that part ("signedPart"). Its own tamper test is below.
adapterConformance(youzanPlugin, {
  connection: { config: CONFIG, name: "有赞 西湖茶语旗舰店" },
  valid: [
    { name: "trade placed", request: cloudFixture("push-trade-wait-buyer-pay.json"), types: ["order.placed"] },
    { name: "trade paid", request: cloudFixture("push-trade-paid.json"), types: ["order.placed", "order.paid"] },
    { name: "trade shipped", request: cloudFixture("push-trade-shipped.json"), types: ["order.placed", "order.paid"] },
    { name: "trade success", request: cloudFixture("push-trade-success.json"), types: ["order.placed", "order.paid", "order.completed"] },
    { name: "trade closed (lean message)", request: cloudFixture("push-trade-close-lean.json"), types: ["order.cancelled"] },
    { name: "trade with a numeric order number beyond 2^53", request: cloudFixture("push-trade-numeric-tid.json"), types: ["order.placed"] },
    { name: "refund succeeded", request: cloudFixture("push-refund-success.json"), types: ["order.refunded"] },
    { name: "refund waiting for the seller", request: cloudFixture("push-refund-pending.json"), types: [] },
    { name: "member updated", request: cloudFixture("push-member-updated.json"), types: ["customer.upserted"] },
    { name: "member card given", request: cloudFixture("push-member-card.json"), types: ["customer.upserted"] },
    { name: "test push", request: cloudFixture("push-test.json"), types: [] },
    { name: "unknown message type", request: cloudFixture("push-item-state.json"), types: [] },
    { name: "cloud trade paid", request: cloudFixture("cloud-trade-paid.json"), types: ["order.placed", "order.paid"] },
    { name: "cloud refund", request: cloudFixture("cloud-refund-success.json"), types: ["order.refunded"] },
    { name: "cloud member created", request: cloudFixture("cloud-member-created.json"), types: ["customer.upserted"] },
    { name: "cloud test push", request: cloudFixture("cloud-test.json"), types: [] },
    { name: "classic push: trade placed", request: pushFixture("push-trade-wait-buyer-pay.json"), types: ["order.placed"], integrity: classicSigned },
    { name: "classic push: trade paid", request: pushFixture("push-trade-paid.json"), types: ["order.placed", "order.paid"], integrity: classicSigned },
    { name: "classic push: trade success", request: pushFixture("push-trade-success.json"), types: ["order.placed", "order.paid", "order.completed"], integrity: classicSigned },
    { name: "classic push: trade closed (lean message)", request: pushFixture("push-trade-close-lean.json"), types: ["order.cancelled"], integrity: classicSigned },
    { name: "classic push: refund succeeded", request: pushFixture("push-refund-success.json"), types: ["order.refunded"], integrity: classicSigned },
    { name: "classic push: member updated", request: pushFixture("push-member-updated.json"), types: ["customer.upserted"], integrity: classicSigned },
    { name: "classic push: member card given", request: pushFixture("push-member-card.json"), types: ["customer.upserted"], integrity: classicSigned },
    { name: "classic push: test push", request: pushFixture("push-test.json"), types: [], integrity: classicSigned },
  ],
  invalid: [
    { name: "cloud: signed with another secret", request: () => cloud(sample("cloud-trade-paid.json"), CLIENT_ID, "0".repeat(32)), expect: 401, reason: "Event-Sign does not match" },
    { name: "cloud: another app's Client-Id", request: () => cloud(sample("cloud-trade-paid.json"), "b000000000000000ff", SECRET), expect: 401, reason: "Client-Id header does not match" },
    { name: "cloud: upper-case Event-Sign", request: () => withHeader(cloud(sample("cloud-trade-paid.json")), "event-sign", (v) => v.toUpperCase()), expect: 401, reason: "malformed Event-Sign" },
    { name: "cloud: body that is not JSON", request: () => cloud("client_id=a3f9c2e17b5d4e8f06&msg=x"), expect: 400, reason: "not valid JSON" },
    { name: "push: msg changed after signing", request: () => push(editBody(sample("push-trade-paid.json"), (b) => ({ ...b, msg: String(b.msg).replace("257.90", "0.01") }))), expect: 401, reason: "sign does not match" },
    { name: "push: sign of another secret", request: () => push(editBody(sample("push-trade-paid.json"), (b) => ({ ...b, sign: md5(CLIENT_ID, String(b.msg), "f".repeat(32)) }))), expect: 401, reason: "sign does not match" },
    { name: "push: another app's client_id", request: () => push(editBody(sample("push-trade-paid.json"), (b) => ({ ...b, client_id: "b000000000000000ff" }))), expect: 401, reason: "client_id does not match" },
    { name: "push: no sign", request: () => push(editBody(sample("push-trade-paid.json"), (b) => ({ ...b, sign: undefined }))), expect: 401, reason: "sign is missing" },
    { name: "push: not JSON", request: () => push("msg=%7B%7D&sign=abc"), expect: 401, reason: "not a Youzan push" },
    { name: "push: msg is cut mid-JSON", request: pushFixture("push-malformed-msg.json"), expect: 400, reason: "msg is not valid JSON" },
    { name: "push: trade without tid", request: pushFixture("push-trade-without-tid.json"), expect: 400, reason: "msg.full_order_info.order_info.tid" },
    { name: "push: payment with three decimals", request: pushFixture("push-trade-float-amount.json"), expect: 400, reason: "msg.full_order_info.pay_info.payment" },
  ],
  authenticRequest: (body, c) => cloud(body, c.config.clientId, c.config.clientSecret),
});

function editBody(body: Buffer, edit: (b: Record<string, unknown>) => Record<string, unknown>): string {
  // Only for hand-made variants: parseJsonExact keeps the envelope's numbers as they were.
  return JSON.stringify(edit(parseJsonExact(body.toString("utf8")) as Record<string, unknown>));
}

function withHeader(req: ChannelRequest, name: string, change: (v: string) => string): ChannelRequest {
  return { ...req, headers: { ...req.headers, [name]: change(req.headers[name]) } };
}

const LEGACY = [
  "push-trade-wait-buyer-pay.json",
  "push-trade-paid.json",
  "push-trade-success.json",
  "push-trade-close-lean.json",
  "push-refund-success.json",
  "push-member-updated.json",
  "push-member-card.json",
  "push-test.json",
];

/** Re-signs msg, so random envelopes reach normalize through the classic form's verify. */
function resignedPush(body: Buffer): ChannelRequest {
  let envelope: unknown;
  try {
    envelope = parseJsonExact(body.toString("utf8"));
  } catch {
    return push(body);
  }
  if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) return push(body);
  const e = envelope as Record<string, unknown>;
  if (typeof e.msg !== "string") return push(body);
  return push(JSON.stringify({ ...e, client_id: CLIENT_ID, sign: md5(CLIENT_ID, e.msg, SECRET) }));
}

describe("youzan adapter", () => {
  let connection: ChannelConnectionInfo<YouzanConfig>;
  beforeAll(async () => {
    connection = await buildConnection(youzanPlugin, { config: CONFIG });
  });
  const channel = youzanPlugin.channel!;
  const verify = (req: ChannelRequest) => Promise.resolve().then(() => channel.verify(req, connection, testPluginContext()));
  const normalize = (payload: unknown, conn = connection) => Promise.resolve().then(() => channel.normalize(payload, conn));
  const events = async (req: ChannelRequest) => normalize(await verify(req));
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as Error);

  describe("classic push form through the conformance kit's checks", () => {
    for (const name of LEGACY) {
      it(`${name} verifies, normalizes deterministically and survives damaged requests`, async () => {
        const fixture = { name, request: pushFixture(name) };
        await checkValidFixture(youzanPlugin, connection, fixture);
        await checkDeterminism(youzanPlugin, connection, fixture);
        await checkGarbageRequests(youzanPlugin, connection, fixture);
      });
    }

    it("takes authentic pushes around random and mutated envelopes to events, 401 or 400 only", async () => {
      await checkAuthenticGarbage(
        youzanPlugin,
        connection,
        LEGACY.map((name) => ({ name, request: pushFixture(name) })),
        (body) => resignedPush(body),
      );
    });
  });

  describe("classic push signature: md5(client_id + msg + client_secret)", () => {
    it("is what each sample carries, recomputed here with Node's crypto over msg as sent (still URL-encoded)", () => {
      for (const name of LEGACY) {
        const body = JSON.parse(sample(name).toString("utf8")) as { client_id: string; msg: string; sign: string };
        expect(body.msg).toMatch(/^%7B/);
        expect(body.sign).toBe(md5(body.client_id, body.msg, SECRET));
        expect(youzanSign(body.client_id, body.msg, SECRET)).toBe(body.sign);
      }
    });

    it("matches fixed vectors computed with md5sum", () => {
      // printf '%s' 'a3f9c2e17b5d4e8f06%7B%22tid%22%3A%22E1%22%7D7e1b9d2c4f6a8e0b3d5c7a9f1e2d4c6b' | md5sum
      expect(youzanSign(CLIENT_ID, "%7B%22tid%22%3A%22E1%22%7D", SECRET)).toBe("45f8c0ea77051945d1fd1d31ab1a4cc4");
      // printf '%s' 'a3f9c2e17b5d4e8f06{"type":"trade_TradeCreate"}7e1b9d2c4f6a8e0b3d5c7a9f1e2d4c6b' | md5sum
      expect(youzanSign(CLIENT_ID, Buffer.from('{"type":"trade_TradeCreate"}'), SECRET)).toBe("5f0469a1b9e63c233deac97d563c5b87");
    });

    it("fails verify when any byte of msg, sign or client_id changes", async () => {
      const body = sample("push-trade-paid.json");
      const text = body.toString("latin1");
      const ranges = ["client_id", "msg", "sign"].map((key) => {
        const start = text.indexOf(`"${key}":"`) + key.length + 4;
        return [start, text.indexOf('"', start)] as const;
      });
      let flipped = 0;
      for (const [start, end] of ranges) {
        for (let at = start; at < end; at++) {
          for (const xor of [0x01, 0x20, 0x0f]) {
            const tampered = Buffer.from(body);
            tampered[at] ^= xor;
            const err = await failure(verify(push(tampered)));
            expect(err).toBeInstanceOf(VerificationError);
            flipped++;
          }
        }
      }
      expect(flipped).toBeGreaterThan(3 * 3000);
    });

    it("refuses upper-case, short and non-hex signs", async () => {
      const body = JSON.parse(sample("push-trade-paid.json").toString("utf8")) as Record<string, string>;
      for (const sign of [body.sign.toUpperCase(), body.sign.slice(1), `${body.sign.slice(1)}g`, ""]) {
        const err = await failure(verify(push(JSON.stringify({ ...body, sign }))));
        expect(err).toBeInstanceOf(VerificationError);
      }
    });

    it("takes business facts from the signed msg: a forged envelope status does not change the events", async () => {
      const forged = editBody(sample("push-trade-wait-buyer-pay.json"), (b) => ({ ...b, status: "TRADE_SUCCESS", type: "TRADE_ORDER_STATE" }));
      const got = await events(push(forged));
      expect(got.map((e) => [e.type, e.externalId])).toEqual([["order.placed", "trade:E20261120101530012300045:WAIT_BUYER_PAY"]]);
    });

    it("gives Youzan's retry (send_count 1, same id) the externalIds of the first delivery", async () => {
      const first = await events(push(sample("push-trade-success.json")));
      const retry = await events(push(sample("push-trade-success-retry.json")));
      expect(JSON.parse(sample("push-trade-success-retry.json").toString()).send_count).toBe(1);
      expect(retry.map((e) => e.externalId)).toEqual(first.map((e) => e.externalId));
    });
  });

  describe("cloud form signature: md5(client_id + raw body + client_secret) in Event-Sign", () => {
    it("accepts the client id from the Client-Id header, the body, or neither", async () => {
      const body = sample("cloud-trade-paid.json");
      const noHeader = cloud(body);
      delete (noHeader.headers as Record<string, string>)["client-id"];
      for (const req of [cloud(body), noHeader]) await expect(verify(req)).resolves.toMatchObject({ type: "trade_TradePaid" });
    });

    it("refuses a body naming another app even when signed with this one's secret", async () => {
      const body = editBody(sample("cloud-trade-paid.json"), (b) => ({ ...b, client_id: "b000000000000000ff" }));
      const err = await failure(verify(cloud(body)));
      expect(err).toBeInstanceOf(VerificationError);
      expect(err?.message).toBe("client_id does not match this connection's Youzan client_id");
    });

    it("refuses a missing or empty Event-Sign on a body without a classic sign", async () => {
      const req = cloud(sample("cloud-trade-paid.json"));
      await expect(failure(verify({ ...req, headers: { ...req.headers, "event-sign": "" } }))).resolves.toBeInstanceOf(VerificationError);
      const { ["event-sign"]: _, ...rest } = req.headers;
      await expect(failure(verify({ ...req, headers: rest }))).resolves.toBeInstanceOf(VerificationError);
    });
  });

  describe("verify's payload", () => {
    it("is the envelope with msg decoded, every id beyond 2^53 an exact string", async () => {
      const envelope = (await verify(push(sample("push-trade-success.json")))) as Record<string, any>;
      expect(envelope).toMatchObject({ client_id: CLIENT_ID, kdt_id: 44870512, type: "TRADE_ORDER_STATE", status: "TRADE_SUCCESS", send_count: 0, test: false });
      const info = envelope.msg.full_order_info;
      expect(info.order_info.tid).toBe("E20261120101530012300045");
      expect(info.buyer_info.buyer_id).toBe("8801234567890123456");
      expect(info.orders.map((o: { oid: string }) => o.oid)).toEqual(["2911234567890123456", "2911234567890123457"]);
      expect(info.pay_info.payment).toBe("257.90");
      const refund = (await verify(push(sample("push-refund-success.json")))) as Record<string, any>;
      expect(refund.msg.refund_id).toBe("201811201015300123456789");
    });

    it("keeps a msg it cannot decode as received, for normalize to answer 400", async () => {
      const envelope = (await verify(push(sample("push-malformed-msg.json")))) as Record<string, unknown>;
      expect(typeof envelope.msg).toBe("string");
      const err = await failure(normalize(envelope));
      expect(err).toBeInstanceOf(NormalizationError);
      expect(err?.message).toMatch(/^msg is not valid JSON/);
    });
  });

  describe("trades", () => {
    it("success becomes placed, paid and completed with amounts in fen, lines, the shop and the buyer's identities", async () => {
      const got = await events(push(sample("push-trade-success.json")));
      const payload = {
        orderId: "E20261120101530012300045",
        currency: "CNY",
        total: 25790,
        subtotal: 26590,
        discount: 1600,
        shipping: 800,
        storeId: "44870512",
        items: [
          { sku: "LJ-MQ-250", title: "西湖龙井 明前特级 250g", quantity: 2, unitPrice: 12800, discount: 1550 },
          { sku: "BZ-GIFT", title: "礼盒包装", quantity: 1, unitPrice: 990, discount: 50 },
        ],
      };
      const identities = [
        { type: "phone", value: "+8613857123456" },
        { type: "youzan_buyer", value: "yz_open_id:kTqL3mXq8wYzRb2eN5vH7pC1" },
        { type: "youzan_buyer", value: "buyer_id:8801234567890123456" },
        { type: "youzan_buyer", value: "fans_id:5732108" },
        { type: "wechat_unionid", value: "oKx5s1Wc7eH2jZr9TqB3mN6pV0aY" },
      ];
      expect(got).toEqual([
        { type: "order.placed", externalId: "trade:E20261120101530012300045:WAIT_BUYER_PAY", occurredAt: "2026-11-20T02:15:30.000Z", identities, payload },
        { type: "order.paid", externalId: "trade:E20261120101530012300045:TRADE_PAID", occurredAt: "2026-11-20T02:16:02.000Z", identities, payload },
        { type: "order.completed", externalId: "trade:E20261120101530012300045:TRADE_SUCCESS", occurredAt: "2026-11-28T12:05:11.000Z", identities, payload },
      ]);
      for (const e of got) expect(parseNormalizedEvent(e).ok).toBe(true);
    });

    it("shipped (WAIT_BUYER_CONFIRM_GOODS) is order.paid at the payment time, under its own key", async () => {
      const got = await events(push(sample("push-trade-shipped.json")));
      expect(got.map((e) => [e.type, e.externalId, e.occurredAt])).toEqual([
        ["order.placed", "trade:E20261120101530012300045:WAIT_BUYER_PAY", "2026-11-20T02:15:30.000Z"],
        ["order.paid", "trade:E20261120101530012300045:WAIT_BUYER_CONFIRM_GOODS", "2026-11-20T02:16:02.000Z"],
      ]);
    });

    it("maps every trade status as documented", async () => {
      const base = JSON.parse(decodeURIComponent(JSON.parse(sample("push-trade-paid.json").toString()).msg));
      const typeOf = async (status: string) => {
        const msg = { full_order_info: { ...base.full_order_info, order_info: { ...base.full_order_info.order_info, status } } };
        const got = await normalize({ type: "TRADE_ORDER_STATE", status, msg });
        return got.at(-1)?.type ?? null;
      };
      expect(await typeOf("WAIT_BUYER_PAY")).toBe("order.placed");
      for (const s of ["TRADE_PAID", "PAID", "WAIT_SELLER_SEND_GOODS", "WAIT_CONFIRM", "WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED"]) expect(await typeOf(s)).toBe("order.paid");
      expect(await typeOf("TRADE_SUCCESS")).toBe("order.completed");
      for (const s of ["TRADE_CLOSE", "TRADE_CLOSED", "TRADE_CLOSED_BY_USER"]) expect(await typeOf(s)).toBe("order.cancelled");
      for (const s of ["TRADE_NO_CREATE_PAY", "WAIT_GROUP", "constructor", "__proto__"]) expect(await normalize({ type: "TRADE_ORDER_STATE", msg: { full_order_info: { ...base.full_order_info, order_info: { ...base.full_order_info.order_info, status: s } } } })).toEqual([]);
    });

    it("a closed trade is not assumed paid, and TRADE_CLOSE is keyed TRADE_CLOSED like the API's spelling", async () => {
      const base = JSON.parse(decodeURIComponent(JSON.parse(sample("push-trade-paid.json").toString()).msg));
      const msg = { full_order_info: { ...base.full_order_info, order_info: { ...base.full_order_info.order_info, status: "TRADE_CLOSE" } } };
      const got = await normalize({ type: "TRADE_ORDER_STATE", msg });
      expect(got.map((e) => e.externalId)).toEqual(["trade:E20261120101530012300045:WAIT_BUYER_PAY", "trade:E20261120101530012300045:TRADE_CLOSED"]);
    });

    it("the lean classic message gives the order its total, no lines and no buyer", async () => {
      await expect(events(push(sample("push-trade-close-lean.json")))).resolves.toEqual([
        {
          type: "order.cancelled",
          externalId: "trade:E20261120113012045600017:TRADE_CLOSED",
          occurredAt: "2026-11-20T04:30:12.000Z",
          identities: [],
          payload: { orderId: "E20261120113012045600017", currency: "CNY", total: 5900, storeId: "44870512" },
        },
      ]);
    });

    it("keeps a numeric order number beyond 2^53 exact", async () => {
      const [event] = await events(push(sample("push-trade-numeric-tid.json")));
      expect(event.externalId).toBe("trade:20261120101530012345:WAIT_BUYER_PAY");
      expect((event.payload as { orderId: string }).orderId).toBe("20261120101530012345");
      expect(Number("20261120101530012345").toString()).not.toBe("20261120101530012345"); // what JSON.parse would have made of it
    });

    it("a cloud message takes the status of its snapshot, and skips a buyer's empty phone and zero buyer_id", async () => {
      const got = await events(cloud(sample("cloud-trade-paid.json")));
      expect(got.map((e) => e.externalId)).toEqual(["trade:E20261121083000567800021:WAIT_BUYER_PAY", "trade:E20261121083000567800021:WAIT_SELLER_SEND_GOODS"]);
      expect(got[1].identities).toEqual([
        { type: "youzan_buyer", value: "yz_open_id:pW3nB8cXk2LqT5vY9dR4eJ7s" },
        { type: "youzan_buyer", value: "fans_id:6120044" },
        { type: "wechat_unionid", value: "oKx5s1Wc7eH2jZr9TqB3mN6pQ8bZ" },
      ]);
      expect(got[1].payload).toMatchObject({ total: 123456789, subtotal: 123456789, shipping: 0, discount: 0, items: [{ sku: "SF-ZC-01", quantity: 1, unitPrice: 123456789 }] });
    });

    it("skips a masked mobile instead of failing the order", async () => {
      const base = JSON.parse(decodeURIComponent(JSON.parse(sample("push-trade-paid.json").toString()).msg));
      const msg = { full_order_info: { ...base.full_order_info, buyer_info: { buyer_phone: "138****3456", yz_open_id: "kTqL3mXq8wYzRb2eN5vH7pC1" } } };
      const got = await normalize({ type: "TRADE_ORDER_STATE", msg });
      expect(got[1].identities).toEqual([{ type: "youzan_buyer", value: "yz_open_id:kTqL3mXq8wYzRb2eN5vH7pC1" }]);
    });

    it("falls back from outer codes to Youzan's sku and item ids for a line's sku", async () => {
      const base = JSON.parse(decodeURIComponent(JSON.parse(sample("push-trade-paid.json").toString()).msg));
      const line = { title: "试饮装", num: "3", price: "5.00", sku_id: 36110871, item_id: 3310452 };
      const msg = (l: object) => ({ full_order_info: { ...base.full_order_info, orders: [l] } });
      const [, withSku] = await normalize({ type: "TRADE_ORDER_STATE", msg: msg(line) });
      expect((withSku.payload as any).items).toEqual([{ sku: "yz-sku:36110871", title: "试饮装", quantity: 3, unitPrice: 500 }]);
      const [, withItem] = await normalize({ type: "TRADE_ORDER_STATE", msg: msg({ ...line, sku_id: 0 }) });
      expect((withItem.payload as any).items[0].sku).toBe("yz-item:3310452");
      await expect(failure(normalize({ type: "TRADE_ORDER_STATE", msg: msg({ ...line, sku_id: 0, item_id: 0 }) }))).resolves.toEqual(
        new NormalizationError("msg.full_order_info.orders.0: a line needs outer_sku_id, outer_item_id, sku_id or item_id"),
      );
    });

    it("leaves items out when a push carries no order lines, so earlier lines are kept", async () => {
      const base = JSON.parse(decodeURIComponent(JSON.parse(sample("push-trade-paid.json").toString()).msg));
      const { orders: _lines, ...withoutLines } = base.full_order_info;
      const got = await normalize({ type: "TRADE_ORDER_STATE", msg: { full_order_info: withoutLines } });
      expect(got.length).toBeGreaterThan(0);
      for (const e of got) expect(e.payload).not.toHaveProperty("items");
      const withLines = await normalize({ type: "TRADE_ORDER_STATE", msg: base });
      expect(withLines.some((e) => Array.isArray((e.payload as any).items))).toBe(true);
    });

    it("skips trades of another shop authorized to the same app when the connection names its shop", async () => {
      const other = await buildConnection(youzanPlugin, { config: { ...CONFIG, kdtId: "1000001" } });
      const envelope = await verify(push(sample("push-trade-paid.json")));
      expect(await normalize(envelope, other)).toEqual([]);
      const anyShop = await buildConnection(youzanPlugin, { config: { clientId: CLIENT_ID, clientSecret: SECRET } });
      expect(await normalize(envelope, anyShop)).toHaveLength(2);
    });
  });

  describe("refunds", () => {
    it("a successful refund becomes order.refunded with the refund id exact and the amount in fen", async () => {
      await expect(events(push(sample("push-refund-success.json")))).resolves.toEqual([
        {
          type: "order.refunded",
          externalId: "refund:201811201015300123456789:REFUND_SUCCESS",
          occurredAt: "2026-11-30T06:22:08.000Z",
          identities: [],
          payload: { orderId: "E20261120101530012300045", refundId: "201811201015300123456789", amount: 12025 },
        },
      ]);
    });

    it("SUCCESS, REFUND_SUCCESS and the cloud RefundSuccess type are one fact; other refund states record nothing", async () => {
      const envelope = (await verify(push(sample("push-refund-success.json")))) as Record<string, unknown>;
      const ids = async (e: object) => (await normalize(e)).map((x) => x.externalId);
      const expected = ["refund:201811201015300123456789:REFUND_SUCCESS"];
      expect(await ids({ ...envelope, type: "TRADE_ORDER_REFUND", status: "SUCCESS" })).toEqual(expected);
      expect(await ids({ ...envelope, type: "trade_refund_RefundSuccess", status: "" })).toEqual(expected);
      for (const status of ["WAIT_SELLER_AGREE", "SELLER_REFUSE_BUYER", "CLOSED", undefined]) expect(await ids({ ...envelope, status })).toEqual([]);
      const cloudRefund = await events(cloud(sample("cloud-refund-success.json")));
      expect(cloudRefund.map((e) => [e.externalId, (e.payload as { amount: number }).amount])).toEqual([["refund:201811211015300123450001:REFUND_SUCCESS", 1]]);
    });
  });

  describe("members", () => {
    it("a customer update becomes customer.upserted with the mobile, the Youzan account and the profile", async () => {
      await expect(events(push(sample("push-member-updated.json")))).resolves.toEqual([
        {
          type: "customer.upserted",
          externalId: "customer:YouZanAccount:725462007:CUSTOMER_UPDATED:1795143765112",
          occurredAt: "2026-11-20T03:02:45.000Z",
          identities: [
            { type: "phone", value: "+8613857123456" },
            { type: "youzan_buyer", value: "buyer_id:725462007" },
          ],
          payload: { displayName: "王小芳", phone: "+8613857123456", gender: "FEMALE", birthday: "1992-05-17", region: { country: "CN", province: "浙江省", city: "杭州市" } },
        },
      ]);
    });

    it("a member card event records the card on the customer, keyed by the card number", async () => {
      await expect(events(push(sample("push-member-card.json")))).resolves.toEqual([
        {
          type: "customer.upserted",
          externalId: "customer:card:230597762487315507:CUSTOMER_CARD_GIVEN:1795143900441",
          occurredAt: "2026-11-20T03:05:00.000Z",
          identities: [
            { type: "phone", value: "+8613857123456" },
            { type: "youzan_buyer", value: "fans_id:5732108" },
          ],
          payload: { phone: "+8613857123456", attributes: { youzanMemberCard: { no: "230597762487315507", alias: "2flg1h77ias9yA", status: "CUSTOMER_CARD_GIVEN" } } },
        },
      ]);
    });

    it("a cloud member event uses yz_open_id once and leaves an empty birthday out", async () => {
      const [event] = await events(cloud(sample("cloud-member-created.json")));
      expect(event.identities).toEqual([
        { type: "phone", value: "+8615967134208" },
        { type: "youzan_buyer", value: "yz_open_id:pW3nB8cXk2LqT5vY9dR4eJ7s" },
      ]);
      expect(event.payload).toEqual({ displayName: "李雷", phone: "+8615967134208", gender: "MALE" });
    });

    it("records nothing for a member nobody can be recognised by, or one Youzan deleted", async () => {
      expect(await normalize({ type: "SCRM_CUSTOMER_EVENT", status: "CUSTOMER_UPDATED", version: 1795143765112, msg: { account_type: "Unknown", account_id: "1", mobile: "138****3456", name: "某人" } })).toEqual([]);
      expect(await normalize({ type: "SCRM_CUSTOMER_EVENT", status: "CUSTOMER_DELETED", version: 1795143765112, msg: { account_type: "YouZanAccount", account_id: "725462007" } })).toEqual([]);
    });
  });

  describe("acknowledgements and refusals in Youzan's form", () => {
    it('acknowledges with {"code":0,"msg":"success"} whatever the pipeline made of the events', () => {
      for (const results of [[], [{ externalId: "x", status: "rejected" as const, reason: "r" }]]) {
        expect(channel.acknowledge!(results, {}, connection)).toEqual({ status: 200, body: { code: 0, msg: "success" } });
      }
    });

    it("refuses with the HTTP status as code and the reason as msg", () => {
      expect(channel.reject!(401, "sign does not match")).toEqual({ status: 401, body: { code: 401, msg: "sign does not match" } });
    });
  });

  describe("config", () => {
    it("needs clientId and a clientSecret, which is secret, and defaults apiBase", async () => {
      const schema = youzanPlugin.configSchema!;
      expect(youzanPlugin.secretKeys).toEqual(["clientSecret"]);
      expect(schema.parse({ clientId: CLIENT_ID, clientSecret: SECRET })).toEqual({ clientId: CLIENT_ID, clientSecret: SECRET, apiBase: "https://open.youzanyun.com" });
      expect(schema.parse({ ...CONFIG, apiBase: "http://127.0.0.1:8080/", kdtId: 44870512 })).toMatchObject({ apiBase: "http://127.0.0.1:8080", kdtId: "44870512" });
      expect(schema.safeParse({ clientId: CLIENT_ID, clientSecret: "short" }).success).toBe(false);
      expect(schema.safeParse({ clientId: CLIENT_ID, clientSecret: SECRET, apiBase: "ftp://x" }).success).toBe(false);
      const pullWithoutShop = schema.safeParse({ clientId: CLIENT_ID, clientSecret: SECRET, pullIntervalMinutes: 10 });
      expect(pullWithoutShop.success).toBe(false);
      expect(pullWithoutShop.error!.issues[0].path).toEqual(["kdtId"]);
    });
  });
});

describe("yuanToFen", () => {
  it.each([
    ["0.01", 1],
    ["99.9", 9990],
    ["99.90", 9990],
    ["1234567.89", 123456789],
    ["0", 0],
    ["0.00", 0],
    ["100", 10000],
    ["0.29", 29],
    ["1.230", 123],
    ["9999999999999.99", 999999999999999],
  ])("reads %s yuan as %i fen", (yuan, fen) => {
    expect(yuanToFen(yuan)).toBe(fen);
  });

  it("reads a JSON integer as whole yuan", () => {
    expect(yuanToFen(100)).toBe(10000);
  });

  it.each([["-1"], ["1.234"], ["1e3"], [" 1"], [""], ["abc"], ["1."], [".5"], ["+1"], ["10000000000000"], [1.5], [-1], [null], [undefined]])("refuses %p", (v) => {
    expect(yuanToFen(v)).toBeUndefined();
  });
});

describe("youzanTime", () => {
  it("reads Beijing wall-clock time, ISO with an offset and epoch seconds or milliseconds", () => {
    expect(youzanTime("2026-11-20 10:15:30")).toBe("2026-11-20T02:15:30.000Z");
    expect(youzanTime("2026-11-20T10:15:30+08:00")).toBe("2026-11-20T02:15:30.000Z");
    expect(youzanTime(1795143765112)).toBe("2026-11-20T03:02:45.112Z");
    expect(youzanTime(1795143765)).toBe("2026-11-20T03:02:45.000Z");
    expect(youzanTime("1795143765")).toBe("2026-11-20T03:02:45.000Z");
  });

  it("refuses impossible dates and other spellings", () => {
    for (const v of ["2026-02-30 10:00:00", "2026-11-20 24:00:00", "2026/11/20 10:15:30", "", "0", -1, 1.5]) expect(youzanTime(v)).toBeUndefined();
  });
});

describe("parseJsonExact", () => {
  it("keeps integers beyond 2^53 and decimals as their literal digits", () => {
    expect(parseJsonExact('{"tid":20261120101530012345,"oid":-9007199254740993,"payment":99.90,"n":9007199254740991,"ok":true}')).toEqual({
      tid: "20261120101530012345",
      oid: "-9007199254740993",
      payment: "99.90",
      n: 9007199254740991,
      ok: true,
    });
  });

  it("leaves digits inside strings alone, escapes included", () => {
    expect(parseJsonExact('["a\\"12345678901234567890", "99.90", 1]')).toEqual(['a"12345678901234567890', "99.90", 1]);
  });

  it("refuses what JSON.parse refuses, also where quoting a number would make it valid", () => {
    for (const text of ["{1.5: 1}", "[01.5]", "[1.5.3]", "{", "", "[12345678901234567890 1]"]) expect(() => parseJsonExact(text)).toThrow(SyntaxError);
  });
});

describe("decodeMsg", () => {
  it("reads %20- and +-encoded msgs, and plain JSON", () => {
    expect(decodeMsg("%7B%22t%22%3A%222026-11-20%2010%3A00%3A00%22%2C%22p%22%3A%22a+b%22%7D")).toEqual({ ok: true, value: { t: "2026-11-20 10:00:00", p: "a+b" } });
    expect(decodeMsg("%7B%22t%22%3A%222026-11-20+10%3A00%3A00%22%7D")).toEqual({ ok: true, value: { t: "2026-11-20 10:00:00" } });
    expect(decodeMsg('{"tid":20261120101530012345}')).toEqual({ ok: true, value: { tid: "20261120101530012345" } });
  });

  it("says why a msg cannot be read", () => {
    expect(decodeMsg("%E4%B8")).toEqual({ ok: false, reason: "msg is not valid URL-encoded UTF-8" });
    expect(decodeMsg("%5B1%5D")).toEqual({ ok: false, reason: "msg must be a JSON object" });
    expect(decodeMsg("")).toEqual({ ok: false, reason: "msg is empty" });
  });
});
