import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";

import { NormalizationError, parseNormalizedEvent, VerificationError, type ChannelConnectionInfo, type ChannelRequest } from "../../src/plugins";
import { adapterConformance, buildConnection, channelRequest, testPluginContext } from "../../src/plugins/testing";
import { FakeTmcServer } from "../../test/fixtures/taobao/fake-tmc-server";
import {
  backoffDelay,
  connectFrame,
  createTaobaoPlugin,
  decodeTmcFrame,
  DEFAULT_TMC_URL,
  encodeTmcFrame,
  normalizeTmcMessage,
  normalizeTmcPayload,
  occurredAt,
  parseJsonExact,
  signTaobaoReplay,
  taobaoPlugin,
  TaobaoSupervisor,
  TmcConsumer,
  TmcFrameError,
  tmcMessageFromFrame,
  tmcSign,
  yuanToFen,
  type ReceivedMessage,
  type TaobaoConfig,
  type TmcFrame,
  type TmcValue,
} from "./index";

const raw = (name: string) => readFileSync(join(__dirname, "../../test/fixtures/taobao", name));
/** A fixture as the exact parser reads it: ids and amounts keep their literal text. */
const message = (name: string) => parseJsonExact(raw(name).toString("utf8"));

const APP_KEY = "23456789";
const SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const OTHER_SECRET = "ffffffffffffffffffffffffffffffff";
const TID = "4012345678901234567";
const TID_CLOSED = "4012345678901239999";
const BUYER = "AAHk5d-EAAeGwJedwSHpg8bT";
const BUYER_CLOSED = "AAGc7lFhAAeGwJedwSI1Kqv9";
const SELLER = "2200701234567";

function signed(body: Buffer | string, secret = SECRET, opts: { t?: number; receivedAt?: Date } = {}): ChannelRequest {
  const receivedAt = opts.receivedAt ?? new Date();
  const t = opts.t ?? Math.floor(receivedAt.getTime() / 1000);
  return channelRequest({ body, receivedAt, headers: { "content-type": "application/json", "x-crm-signature": signTaobaoReplay(secret, body, t) } });
}

// ---------------------------------------------------------------------------------------------
// The replay webhook through the conformance kit: it exercises normalization of every fixture.
// ---------------------------------------------------------------------------------------------

const noPayment = JSON.stringify({ id: "1", topic: "taobao_trade_TradeCreate", pub_time: "2026-11-11 00:00:05", content: `{"tid":${TID},"buyer_open_uid":"${BUYER}"}` });

adapterConformance(taobaoPlugin, {
  connection: { config: { appKey: APP_KEY, appSecret: SECRET }, name: "茶香旗舰店" },
  valid: [
    { name: "TradeCreate", request: (c) => signed(raw("trade-create.json"), c.config.appSecret), types: ["order.placed"] },
    { name: "TradeBuyerPay", request: (c) => signed(raw("trade-buyer-pay.json"), c.config.appSecret), types: ["order.paid"] },
    { name: "TradeSellerShip", request: (c) => signed(raw("trade-seller-ship.json"), c.config.appSecret), types: ["order.paid"] },
    { name: "TradeSuccess", request: (c) => signed(raw("trade-success.json"), c.config.appSecret), types: ["order.completed"] },
    { name: "TradeClose", request: (c) => signed(raw("trade-close.json"), c.config.appSecret), types: ["order.cancelled"] },
    { name: "RefundCreated (acknowledged, no event)", request: (c) => signed(raw("refund-created.json"), c.config.appSecret), types: [] },
    { name: "RefundSuccess", request: (c) => signed(raw("refund-success.json"), c.config.appSecret), types: ["order.refunded"] },
    { name: "an unmapped topic", request: (c) => signed(raw("item-update.json"), c.config.appSecret), types: [] },
    {
      name: "a replayed batch: one order's whole life",
      request: (c) => signed(raw("order-lifecycle.json"), c.config.appSecret),
      // TradeSellerShip repeats TradeBuyerPay's fact (order paid): one event for both.
      types: ["order.placed", "order.paid", "order.completed", "order.refunded"],
    },
  ],
  invalid: [
    {
      name: "an unsigned POST (Taobao itself never calls webhooks)",
      request: () => channelRequest({ body: raw("trade-create.json") }),
      expect: 401,
      reason: "taobao delivers through TMC, not webhooks",
    },
    { name: "signed with another secret", request: () => signed(raw("trade-create.json"), OTHER_SECRET), expect: 401, reason: "signature mismatch" },
    { name: "signed six minutes ago", request: (c) => signed(raw("trade-create.json"), c.config.appSecret, { t: Math.floor(Date.now() / 1000) - 360 }), expect: 401, reason: "360 s old" },
    { name: "a trade message without payment", request: (c) => signed(noPayment, c.config.appSecret), expect: 400, reason: "content.payment" },
    { name: "a body that is not JSON", request: (c) => signed("topic=taobao_trade_TradeCreate", c.config.appSecret), expect: 400, reason: "not valid JSON" },
    {
      name: "content that is not the topic's JSON string",
      request: (c) => signed(JSON.stringify({ id: "1", topic: "taobao_trade_TradeCreate", pub_time: "2026-11-11 00:00:05", content: { tid: 1 } }), c.config.appSecret),
      expect: 400,
      reason: "content: expected the topic's JSON document as a string",
    },
  ],
  authenticRequest: (body, c) => signed(body, c.config.appSecret),
});

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

describe("TMC frames", () => {
  it("encodes a pull request exactly as the protocol lays it out", () => {
    const bytes = encodeTmcFrame({ messageType: 2, token: "t1", content: { __kind: 1 } });
    // prettier-ignore
    expect([...bytes]).toEqual([
      0x02, 0x02, //                          protocol version 2, SEND
      0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x74, 0x31, // Token, length 2, "t1"
      0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x5f, 0x5f, 0x6b, 0x69, 0x6e, 0x64, // Custom, "__kind"
      0x02, 0x01, //                          Byte 1 (PullRequest)
      0x00, 0x00, //                          EndOfHeaders
    ]);
  });

  it("encodes a confirm with the message id as an Int64", () => {
    const bytes = encodeTmcFrame({ messageType: 2, token: "t1", content: { __kind: 2, id: 2140500001234567001n } });
    // prettier-ignore
    expect([...bytes]).toEqual([
      0x02, 0x02,
      0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x74, 0x31,
      0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x5f, 0x5f, 0x6b, 0x69, 0x6e, 0x64, 0x02, 0x02, // __kind: Byte 2 (Confirm)
      0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x69, 0x64, //       Custom, "id"
      0x05, 0x59, 0x3f, 0x4f, 0x07, 0x69, 0x95, 0xb4, 0x1d, // Int64 0x1db49569074f3f59 little-endian
      0x00, 0x00,
    ]);
  });

  it("decodes a CONNECTACK with a token, and one refusing with a status code and phrase", () => {
    expect(decodeTmcFrame(Uint8Array.from([0x02, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x00, 0x61, 0x62, 0x63, 0x64, 0x00, 0x00]))).toEqual({
      messageType: 1,
      token: "abcd",
      content: {},
    });
    // prettier-ignore
    const refused = Uint8Array.from([
      0x02, 0x01,
      0x02, 0x00, 0x0b, 0x00, 0x00, 0x00, //  StatusCode, Int32 11
      0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, ...Buffer.from("invalid sign"), // StatusPhrase
      0x04, 0x00, 0x01, 0x00, 0x00, 0x00, //  Flag, Int32 1
      0x00, 0x00,
    ]);
    expect(decodeTmcFrame(refused)).toEqual({ messageType: 1, statusCode: 11, statusPhrase: "invalid sign", flag: 1, content: {} });
  });

  it("decodes a pushed message: Int64 ids, a Date, UTF-8 strings, and ignores bytes after the end", () => {
    // prettier-ignore
    const bytes = Uint8Array.from([
      0x02, 0x02,
      0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x69, 0x64, 0x05, 0x59, 0x3f, 0x4f, 0x07, 0x69, 0x95, 0xb4, 0x1d, // id
      0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x74, 0x69, 0x6d, 0x65, 0x06, 0x88, 0x1f, 0x30, 0xc6, 0xa1, 0x01, 0x00, 0x00, // time: Date
      0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x75, 0x73, 0x65, 0x72, 0x69, 0x64, 0x05, 0x87, 0xed, 0x03, 0x64, 0x00, 0x02, 0x00, 0x00, // userid
      0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x6e, 0x69, 0x63, 0x6b, 0x01, 0x03, 0x00, 0x00, 0x00, 0xe8, 0x8c, 0xb6, // nick: "茶"
      0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x65, 0x6d, 0x70, 0x74, 0x79, 0x00, // empty: Void
      0x00, 0x00,
      0xde, 0xad, //                          trailing bytes
    ]);
    expect(decodeTmcFrame(bytes)).toEqual({
      messageType: 2,
      content: { id: 2140500001234567001n, time: new Date("2026-11-10T16:00:05Z"), userid: 2200701234567n, nick: "茶", empty: null },
    });
  });

  it("writes integers in the smallest format that holds them", () => {
    const formatOf = (n: number | bigint) => encodeTmcFrame({ messageType: 2, content: { v: n } })[2 + 2 + 4 + 1];
    expect([127, -128, 128, -129, 32767, 32768, -32769, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 1n].map(formatOf)).toEqual([2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]);
  });

  it("round-trips every value format and header", () => {
    const frame: TmcFrame = {
      messageType: 3,
      statusCode: -7,
      statusPhrase: "失败 ✓",
      flag: 2 ** 31 - 1,
      token: "",
      content: {
        void: null,
        byte: -128,
        int16: 32767,
        int32: -(2 ** 31),
        int64: -(2n ** 63n),
        big: 2n ** 63n - 1n,
        date: new Date("2026-11-11T00:00:00.123Z"),
        bytes: Buffer.from([0, 1, 254, 255]),
        text: "西湖龙井 𠮷😀",
        empty: "",
      } as Record<string, TmcValue>,
    };
    Object.defineProperty(frame.content, "__proto__", { value: "an own key, not the prototype", enumerable: true, writable: true, configurable: true });
    const decoded = decodeTmcFrame(encodeTmcFrame(frame));
    expect(decoded).toEqual(frame);
    expect(Object.getPrototypeOf(decoded.content)).toBe(Object.prototype);
  });

  it("round-trips random frames (decoding gives Int64 values back as bigint)", () => {
    const value = fc.oneof(
      fc.constant(null),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.date({ min: new Date(0), max: new Date("2999-12-31"), noInvalidDate: true }),
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    );
    const frameArb = fc.record(
      {
        messageType: fc.integer({ min: 0, max: 3 }),
        statusCode: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        statusPhrase: fc.string(),
        flag: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        token: fc.string(),
        content: fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 8, noNullPrototype: true }),
      },
      { requiredKeys: ["messageType", "content"] },
    );
    fc.assert(
      fc.property(frameArb, (frame) => {
        expect(decodeTmcFrame(encodeTmcFrame(frame as TmcFrame))).toEqual(frame);
      }),
    );
  });

  it("refuses other protocol versions, unknown headers and formats, negative lengths and every truncation", () => {
    const good = encodeTmcFrame({ messageType: 2, token: "tk", content: { id: 5n, topic: "taobao_trade_TradeCreate" } });
    for (let cut = 0; cut < good.length; cut++) expect(() => decodeTmcFrame(good.subarray(0, cut))).toThrow(TmcFrameError);
    expect(() => decodeTmcFrame(Uint8Array.from([0x01, 0x02, 0x00, 0x00]))).toThrow("unsupported TMC protocol version 1");
    expect(() => decodeTmcFrame(Uint8Array.from([0x02, 0x02, 0x09, 0x00]))).toThrow("unknown header type 9");
    expect(() => decodeTmcFrame(Uint8Array.from([0x02, 0x02, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x76, 0x08]))).toThrow("unknown value format 8");
    expect(() => decodeTmcFrame(Uint8Array.from([0x02, 0x02, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]))).toThrow("negative length");
    expect(() => encodeTmcFrame({ messageType: 2, content: { amount: 1.5 } })).toThrow(TmcFrameError);
    expect(() => encodeTmcFrame({ messageType: 2, content: { id: 2n ** 63n } })).toThrow(TmcFrameError);
  });
});

// ---------------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------------

describe("TMC sign-in", () => {
  it("signs like TOP: MD5 of secret + sorted name/value pairs + secret, upper-case hex (fixed vectors from md5sum)", () => {
    const params = { timestamp: "1762790405000", group_name: "default", app_key: APP_KEY };
    expect(tmcSign(SECRET, params)).toBe("84222D4A0ECE7CEC86A36EF046DA5922");
    expect(tmcSign(SECRET, { ...params, group_name: "订单组" })).toBe("8BB7DE790691E8929CD46768D8E84575");
  });

  it("matches an independent computation for any group and time", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 4_102_444_800_000 }), (group, ts) => {
        const independent = createHash("md5").update(`${SECRET}app_key${APP_KEY}group_name${group}timestamp${ts}${SECRET}`).digest("hex").toUpperCase();
        expect(tmcSign(SECRET, { app_key: APP_KEY, group_name: group, timestamp: String(ts) })).toBe(independent);
      }),
    );
  });

  it("sends app_key, group_name, timestamp, sign and sdk in CONNECT", () => {
    const frame = connectFrame({ appKey: APP_KEY, appSecret: SECRET, groupName: "default", timestamp: 1762790405000 });
    expect(frame).toEqual({
      messageType: 0,
      content: { app_key: APP_KEY, group_name: "default", timestamp: "1762790405000", sign: "84222D4A0ECE7CEC86A36EF046DA5922", sdk: expect.any(String) },
    });
    expect(JSON.stringify(frame)).not.toContain(SECRET);
  });
});

// ---------------------------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------------------------

describe("Taobao money, numbers and times", () => {
  it.each([
    ["199.00", 19900],
    ["0.29", 29], // 0.29 * 100 is 28.999999999999996 in floating point
    ["1.15", 115],
    ["0.5", 50],
    ["12", 1200],
    ["0.01", 1],
    ["9999999999999.99", 999_999_999_999_999],
  ])("turns %s yuan into %i fen exactly", (yuan, fen) => {
    expect(yuanToFen(yuan, "payment")).toBe(fen);
  });

  it.each(["1.999", "-1.00", "1e3", "", " ", "abc", "１２", "10000000000000.00", "1,000.00"])("refuses %j as an amount", (yuan) => {
    expect(() => yuanToFen(yuan, "content.payment")).toThrow(NormalizationError);
    expect(() => yuanToFen(yuan, "content.payment")).toThrow(/^content\.payment: expected an amount in yuan/);
  });

  it("reads every number as its exact literal, leaving strings alone", () => {
    expect(parseJsonExact(`{"tid":${TID},"fee":199.00,"neg":-0.5,"exp":1E+3,"s":"a\\"1,2","arr":[0,-1],"ok":true,"n":null}`)).toEqual({
      tid: TID,
      fee: "199.00",
      neg: "-0.5",
      exp: "1E+3",
      s: 'a"1,2',
      arr: ["0", "-1"],
      ok: true,
      n: null,
    });
    expect(String(JSON.parse(`{"tid":${TID}}`).tid)).not.toBe(TID); // what a plain JSON.parse would have stored
    for (const bad of ["01", "-", "1.", "{", '{"a":1', "[1,]"]) expect(() => parseJsonExact(bad)).toThrow(SyntaxError);
  });

  it("reads Taobao times as Beijing time and keeps ISO-8601 instants", () => {
    expect(occurredAt("2026-11-11 00:00:05")).toBe("2026-11-10T16:00:05.000Z");
    expect(occurredAt("2026-11-11T00:00:05+08:00")).toBe("2026-11-10T16:00:05.000Z");
    expect(occurredAt("2026-11-10T16:00:05.250Z")).toBe("2026-11-10T16:00:05.250Z");
    expect(occurredAt(new Date("2026-11-10T16:00:05Z"))).toBe("2026-11-10T16:00:05.000Z");
    expect(occurredAt("1794326405000")).toBe("2026-11-10T16:00:05.000Z");
    for (const bad of [undefined, "", "yesterday", "2026-13-45 99:00:00", "1970-01-01 08:00:00", 12]) expect(() => occurredAt(bad)).toThrow(NormalizationError);
  });
});

describe("Taobao message normalization", () => {
  const placed = {
    type: "order.placed",
    externalId: `trade:${TID}:placed`,
    occurredAt: "2026-11-10T16:00:05.000Z",
    identities: [{ type: "taobao_buyer", value: BUYER }],
    payload: { orderId: TID, currency: "CNY", total: 26800, storeId: SELLER },
  };

  it("TradeCreate → order.placed on the buyer's open uid, with the exact trade number", () => {
    expect(normalizeTmcMessage(message("trade-create.json"))).toEqual([placed]);
  });

  it("TradeBuyerPay → order.paid, with the postage as shipping", () => {
    expect(normalizeTmcMessage(message("trade-buyer-pay.json"))).toEqual([
      { ...placed, type: "order.paid", externalId: `trade:${TID}:paid`, occurredAt: "2026-11-10T16:01:12.000Z", payload: { ...placed.payload, shipping: 1000 } },
    ]);
  });

  it("TradeSellerShip → order.paid under the same key as TradeBuyerPay, so the second is a duplicate", () => {
    const [ship] = normalizeTmcMessage(message("trade-seller-ship.json"));
    const [pay] = normalizeTmcMessage(message("trade-buyer-pay.json"));
    expect(ship).toEqual({ ...placed, type: "order.paid", externalId: `trade:${TID}:paid`, occurredAt: "2026-11-11T07:20:00.000Z" });
    expect(ship.externalId).toBe(pay.externalId);
  });

  it("TradeSellerShip of a cash-on-delivery trade is not a payment", () => {
    const m = message("trade-seller-ship.json") as { content: string };
    expect(normalizeTmcMessage({ ...m, content: m.content.replace('"type":"guarantee_trade"', '"type":"cod"') })).toEqual([]);
  });

  it("TradeSuccess → order.completed", () => {
    expect(normalizeTmcMessage(message("trade-success.json"))).toEqual([{ ...placed, type: "order.completed", externalId: `trade:${TID}:completed`, occurredAt: "2026-11-18T01:00:00.000Z" }]);
  });

  it("TradeClose → order.cancelled", () => {
    expect(normalizeTmcMessage(message("trade-close.json"))).toEqual([
      {
        type: "order.cancelled",
        externalId: `trade:${TID_CLOSED}:cancelled`,
        occurredAt: "2026-11-11T16:00:05.000Z",
        identities: [{ type: "taobao_buyer", value: BUYER_CLOSED }],
        payload: { orderId: TID_CLOSED, currency: "CNY", total: 9900, storeId: SELLER },
      },
    ]);
  });

  it("RefundSuccess → order.refunded keyed by the exact refund id; RefundCreated (a request) → nothing", () => {
    expect(normalizeTmcMessage(message("refund-success.json"))).toEqual([
      {
        type: "order.refunded",
        externalId: "refund:180123456789012345",
        occurredAt: "2026-11-17T06:05:30.000Z",
        identities: [{ type: "taobao_buyer", value: BUYER }],
        payload: { orderId: TID, refundId: "180123456789012345", amount: 12900 },
      },
    ]);
    expect(normalizeTmcMessage(message("refund-created.json"))).toEqual([]);
  });

  it("ignores topics it does not map, whatever their content", () => {
    expect(normalizeTmcMessage(message("item-update.json"))).toEqual([]);
    expect(normalizeTmcMessage({ topic: "taobao_item_ItemDelete", content: "not json" })).toEqual([]);
  });

  it("records a guest order when the message has no buyer_open_uid, never using the masked nick", () => {
    const m = message("trade-create.json") as { content: string };
    const [event] = normalizeTmcMessage({ ...m, content: m.content.replace(`"buyer_open_uid":"${BUYER}",`, "") });
    expect(event.identities).toEqual([]);
    expect(JSON.stringify(event)).not.toContain("茶**友");
  });

  it("produces events the schema accepts, with the same keys every time", () => {
    const all = normalizeTmcPayload(raw("order-lifecycle.json"));
    expect(all.map((e) => e.type)).toEqual(["order.placed", "order.paid", "order.completed", "order.refunded"]);
    expect(all.map((e) => parseNormalizedEvent(e).ok)).toEqual([true, true, true, true]);
    expect(normalizeTmcPayload(raw("order-lifecycle.json")).map((e) => e.externalId)).toEqual(all.map((e) => e.externalId));
  });

  it("says which field is missing or wrong", () => {
    const m = message("trade-create.json") as Record<string, string>;
    const refusal = (patch: Record<string, unknown>) => {
      try {
        normalizeTmcMessage({ ...m, ...patch });
      } catch (err) {
        expect(err).toBeInstanceOf(NormalizationError);
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refusal({ topic: undefined })).toBe("topic: missing");
    expect(refusal({ pub_time: undefined })).toMatch(/^pub_time: expected a time/);
    expect(refusal({ content: "{" })).toMatch(/^content: not valid JSON/);
    expect(refusal({ content: "[]" })).toBe("content: expected a JSON object, got an array");
    expect(refusal({ content: '{"payment":"1.00"}' })).toBe("content.tid: expected the trade number, got nothing");
    expect(refusal({ content: `{"tid":${TID},"payment":"免费"}` })).toMatch(/^content\.payment: expected an amount in yuan/);
    expect(() => normalizeTmcPayload(Array(201).fill(m))).toThrow("too many messages: 201");
  });

  it("reads a pushed frame's fields, gzip content included, as a TMC message", () => {
    const content = JSON.parse(JSON.stringify(message("trade-create.json"))).content as string;
    const fields = { id: 2140500001234567001n, topic: "taobao_trade_TradeCreate", time: new Date("2026-11-10T16:00:05Z"), publisher: "12497914", userid: 2200701234567n, nick: "茶香旗舰店" };
    const expected = { id: "2140500001234567001", topic: "taobao_trade_TradeCreate", pub_time: "2026-11-10T16:00:05.000Z", pub_app_key: "12497914", user_id: SELLER, user_nick: "茶香旗舰店", content };
    expect(tmcMessageFromFrame({ ...fields, content })).toEqual(expected);
    expect(tmcMessageFromFrame({ ...fields, content: gzipSync(Buffer.from(content, "utf8")) })).toEqual(expected);
    expect(normalizeTmcMessage(tmcMessageFromFrame({ ...fields, content }))).toEqual([placed]);
    expect(() => tmcMessageFromFrame({ ...fields, content: Buffer.from("not gzip") })).toThrow(/not gzip-compressed/);
    expect(() => tmcMessageFromFrame({ ...fields, id: null })).toThrow("message has no numeric id");
  });
});

describe("taobao replay webhook signature", () => {
  it("matches an HMAC-SHA256 over '<t>.<raw body>' keyed with the app secret (fixed vector from openssl)", async () => {
    const body = '[{"topic":"x"}]';
    expect(signTaobaoReplay(SECRET, body, 1764300000)).toBe("t=1764300000,v1=5444e616e8213842d88dc99dadf527b3e44130d152e0e4b62fe1b8fd7c38dd3d");
    expect(signTaobaoReplay(SECRET, body, 1764300000)).toBe(`t=1764300000,v1=${createHmac("sha256", SECRET).update(`1764300000.${body}`).digest("hex")}`);
    const connection = await buildConnection(taobaoPlugin, { config: { appKey: APP_KEY, appSecret: SECRET } });
    const req = signed(raw("trade-create.json"), SECRET);
    const payload = await taobaoPlugin.channel!.verify(req, connection, testPluginContext());
    expect((payload as { id: string }).id).toBe("2140500001234567001"); // parsed exactly, not through a float
    await expect(Promise.resolve().then(() => taobaoPlugin.channel!.verify(signed("[]", OTHER_SECRET), connection, testPluginContext()))).rejects.toThrow(VerificationError);
  });
});

describe("taobao config", () => {
  it("defaults the group and TMC address, takes only ws(s) URLs, and hides the secret", () => {
    const schema = taobaoPlugin.configSchema!;
    expect(schema.parse({ appKey: APP_KEY, appSecret: SECRET })).toEqual({ appKey: APP_KEY, appSecret: SECRET, groupName: "default", tmcUrl: DEFAULT_TMC_URL, reconnectBaseMs: 1000 });
    expect(DEFAULT_TMC_URL).toBe("ws://mc.api.taobao.com/");
    expect(schema.safeParse({ appKey: APP_KEY, appSecret: SECRET, tmcUrl: "https://mc.api.taobao.com/" }).success).toBe(false);
    expect(schema.safeParse({ appKey: APP_KEY, appSecret: SECRET, tmcUrl: "wss://mc.api.taobao.com/" }).success).toBe(true);
    expect(schema.safeParse({ appKey: APP_KEY }).success).toBe(false);
    expect(schema.safeParse({ appKey: APP_KEY, appSecret: SECRET, reconnectBaseMs: 5 }).success).toBe(false);
    expect(taobaoPlugin.secretKeys).toEqual(["appSecret"]);
    expect(taobaoPlugin.name).toBe("taobao");
  });
});

// ---------------------------------------------------------------------------------------------
// The consumer against a local TMC endpoint (no database: `handle` stands for the ingest)
// ---------------------------------------------------------------------------------------------

describe("backoffDelay", () => {
  it("doubles from the base up to the cap, jittered between half and all of each step", () => {
    expect([0, 1, 2, 3, 10, 50].map((a) => backoffDelay(a, 100, 5000, () => 1))).toEqual([100, 200, 400, 800, 5000, 5000]);
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 5000, () => 0))).toEqual([50, 100, 200, 400, 2500]);
    fc.assert(
      fc.property(fc.nat(100), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const step = Math.min(60_000, 1000 * 2 ** attempt);
        const d = backoffDelay(attempt, 1000, 60_000, () => r);
        expect(d).toBeGreaterThanOrEqual(step / 2);
        expect(d).toBeLessThanOrEqual(step);
      }),
    );
  });
});

describe("TmcConsumer", () => {
  const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let server: FakeTmcServer;
  const consumers: TmcConsumer[] = [];
  const consumer = (handle: (m: ReceivedMessage[]) => Promise<void>, extra: Partial<ConstructorParameters<typeof TmcConsumer>[0]> = {}) => {
    const c = new TmcConsumer({ url: server.url, appKey: APP_KEY, appSecret: SECRET, groupName: "default", handle, log: silent, reconnectBaseMs: 20, ...extra });
    consumers.push(c);
    c.start();
    return c;
  };
  const push = (id: bigint) => server.push({ id, topic: "taobao_trade_TradeCreate", content: "{}" });

  beforeEach(async () => {
    server = await FakeTmcServer.start({ appKey: APP_KEY, appSecret: SECRET });
  });
  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((c) => c.stop()));
    expect(server.protocolErrors).toEqual([]);
    expect(server.badConfirms).toEqual([]);
    await server.close();
  });

  it("signs in, pulls, and confirms a message only after handle resolved", async () => {
    let release!: () => void;
    const received: ReceivedMessage[] = [];
    consumer(async (batch) => {
      received.push(...batch);
      await new Promise<void>((r) => (release = r));
    });
    await server.waitFor(() => (server.current?.pulls ?? 0) >= 1, "a signed-in session that pulled");
    expect(server.current!.connect).toMatchObject({ app_key: APP_KEY, group_name: "default", sdk: expect.any(String) });
    push(2140500001234567001n);
    await server.waitFor(() => received.length === 1, "the message handed over");
    expect(received[0].id).toBe(2140500001234567001n);
    expect(received[0].fields.topic).toBe("taobao_trade_TradeCreate");
    await sleep(100);
    expect(server.confirmed(2140500001234567001n)).toBe(0);
    release();
    await server.waitFor(() => server.confirmed(2140500001234567001n) === 1, "the confirm");
    expect(server.pending.size).toBe(0);
  });

  it("hands over batches in arrival order, accepting pushes with and without __kind", async () => {
    const batches: bigint[][] = [];
    let first = true;
    consumer(
      async (batch) => {
        batches.push(batch.map((m) => m.id));
        if (first) {
          first = false;
          await sleep(150); // the rest arrive meanwhile
        }
      },
      { maxBatch: 2 },
    );
    await server.waitFor(() => Boolean(server.current), "sign-in");
    for (let i = 1n; i <= 5n; i++) server.push({ id: i, topic: "t", content: "{}", kind: i % 2n ? 3 : undefined });
    await server.waitFor(() => server.confirms.length === 5, "five confirms");
    expect(batches.flat()).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(2);
  });

  it("leaves a batch unconfirmed when handle throws, reconnects, and confirms the redelivery", async () => {
    let calls = 0;
    consumer(async () => {
      if (++calls === 1) throw new Error("database unavailable");
    });
    await server.waitFor(() => Boolean(server.current), "sign-in");
    push(7n);
    await server.waitFor(() => server.confirmed(7n) === 1, "the confirm of the redelivery");
    expect(server.delivered(7n)).toBe(2);
    expect(server.signedIn.length).toBe(2);
    expect(server.confirms[0].session).toBe(server.signedIn[1].index);
  });

  it("backs off exponentially while TMC refuses the sign-in", async () => {
    consumer(async () => undefined, { appSecret: OTHER_SECRET, reconnectBaseMs: 40, random: () => 0 });
    await server.waitFor(() => server.sessions.length >= 5, "five attempts");
    expect(server.sessions.every((s) => s.refusedWith === "invalid sign" || s.refusedWith === undefined)).toBe(true);
    expect(server.signedIn).toEqual([]);
    const gaps = server.sessions.slice(1, 5).map((s, i) => s.openedAt - server.sessions[i].openedAt);
    // random() = 0 → exactly half of each step: 20, 40, 80, 160 ms (timers never fire early).
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(20 * 2 ** i - 2));
  });

  it("pulls every heartbeat and keeps a link that answers pings", async () => {
    consumer(async () => undefined, { heartbeatMs: 40 });
    await server.waitFor(() => Boolean(server.current), "sign-in");
    await sleep(400);
    expect(server.sessions.length).toBe(1);
    expect(server.current!.pulls).toBeGreaterThanOrEqual(5);
  });

  it("drops a link whose pings go unanswered and connects again", async () => {
    await server.close();
    server = await FakeTmcServer.start({ appKey: APP_KEY, appSecret: SECRET, autoPong: false });
    consumer(async () => undefined, { heartbeatMs: 40 });
    await server.waitFor(() => server.signedIn.length >= 2, "a second session", 3000);
    expect(server.signedIn[0].closedAt).toBeDefined();
  });

  it("stop() closes the link and ends reconnecting", async () => {
    const c = consumer(async () => undefined);
    await server.waitFor(() => Boolean(server.current), "sign-in");
    await c.stop();
    await server.waitFor(() => server.current === undefined, "the link closed");
    await sleep(150);
    expect(server.sessions.length).toBe(1);
    expect(c.connected).toBe(false);
  });
});

describe("createTaobaoPlugin", () => {
  it("matches consumers to connections at once when the host says a connection changed, whatever the cadence", async () => {
    const server = await FakeTmcServer.start({ appKey: APP_KEY, appSecret: SECRET });
    const plugin = createTaobaoPlugin({ cadence: { activeMs: 3_600_000, idleMs: 3_600_000 } });
    let enabled: ChannelConnectionInfo<TaobaoConfig>[] = [];
    const ctx = { ...testPluginContext<TaobaoConfig>(), connections: async () => enabled };
    try {
      await plugin.init!(ctx); // nothing yet
      enabled = [{ id: "c1", tenantId: "t1", channel: "taobao", name: "茶香旗舰店", config: { appKey: APP_KEY, appSecret: SECRET, groupName: "default", tmcUrl: server.url, reconnectBaseMs: 20 } }];
      const changed = { type: "channel_connection.changed", tenantId: "t1", connectionId: "c1", channel: "taobao", change: "created", eventId: "1", occurredAt: new Date().toISOString(), version: 1, source: { kind: "platform" } } as const;
      await plugin.onEvent!["channel_connection.changed"]!(changed, ctx);
      await server.waitFor(() => server.signedIn.length === 1, "the consumer to sign in");
      enabled = [];
      await plugin.onEvent!["channel_connection.changed"]!({ ...changed, eventId: "2", change: "disabled" }, ctx);
      await server.waitFor(() => server.current === undefined, "the link closed");
      // Once the host destroyed the plugin, a late event (or job run) starts nothing.
      await plugin.destroy!(ctx);
      enabled = [{ id: "c1", tenantId: "t1", channel: "taobao", name: "茶香旗舰店", config: { appKey: APP_KEY, appSecret: SECRET, groupName: "default", tmcUrl: server.url, reconnectBaseMs: 20 } }];
      await plugin.onEvent!["channel_connection.changed"]!({ ...changed, eventId: "3", change: "enabled" }, ctx);
      await plugin.jobs![0].run(ctx);
      await new Promise((r) => setTimeout(r, 300));
      expect(server.signedIn.length).toBe(1);
    } finally {
      await plugin.destroy!(ctx);
      await server.close();
    }
  });
});

describe("TaobaoSupervisor", () => {
  it("looks for connections every activeMs while Taobao is in use here, only every idleMs otherwise, and follows them", async () => {
    const server = await FakeTmcServer.start({ appKey: APP_KEY, appSecret: SECRET });
    // The host's side of the contract: the enabled connections of the channel, counted.
    let enabled: ChannelConnectionInfo<TaobaoConfig>[] = [];
    let queries = 0;
    const ctx = { ...testPluginContext<TaobaoConfig>(), connections: async () => (queries++, enabled) };
    const supervisor = new TaobaoSupervisor(ctx, {}, { activeMs: 2000, idleMs: 60_000, activeWindowMs: 600_000 });
    const connection = (config: Partial<TaobaoConfig> = {}): ChannelConnectionInfo<TaobaoConfig> => ({
      id: "c1",
      tenantId: "t1",
      channel: "taobao",
      name: "茶香旗舰店",
      config: { appKey: APP_KEY, appSecret: SECRET, groupName: "default", tmcUrl: server.url, reconnectBaseMs: 20, ...config },
    });
    try {
      const after = async (...ticks: number[]) => {
        for (const now of ticks) await supervisor.tick(now);
        return queries;
      };
      expect(await after(0, 2000, 59_000)).toBe(1); // no Taobao connection: idle
      expect(await after(60_000)).toBe(2);
      enabled = [connection()];
      expect(await after(62_000)).toBe(2);
      expect(await after(120_000)).toBe(3);
      expect(supervisor.connectionIds).toEqual(["c1"]);
      await server.waitFor(() => server.signedIn.length === 1, "the consumer to sign in");
      expect(await after(122_000)).toBe(4); // a consumer runs: every activeMs

      enabled = [connection({ reconnectBaseMs: 30 })]; // the merchant changed the config
      expect(await after(124_000)).toBe(5);
      await server.waitFor(() => server.signedIn.length === 2 && server.signedIn[0].closedAt !== undefined, "a restarted consumer");

      enabled = []; // disabled
      expect(await after(126_000)).toBe(6);
      expect(supervisor.connectionIds).toEqual([]);
      await server.waitFor(() => server.current === undefined, "the link closed");
      expect(await after(128_000)).toBe(7); // recently active: still every activeMs
      expect(await after(126_000 + 600_000, 726_000 + 2000)).toBe(8); // ten quiet minutes later: idle again
    } finally {
      await supervisor.stop();
      await server.close();
    }
  });
});
