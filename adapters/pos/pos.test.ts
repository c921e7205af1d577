import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { NormalizationError, parseNormalizedEvent, VerificationError, type ChannelConnectionInfo, type ChannelRequest, type NormalizedEventInput } from "../../src/plugins";
import { adapterConformance, buildConnection, channelRequest, testPluginContext } from "../../src/plugins/testing";
// Tests only: the reference signer of the scheme this channel shares, so verify is checked against an independent implementation.
import { signHttpJson } from "../http-json";
import { CSV_COLUMNS, posPlugin, type PosConfig } from "./index";
import { decimalToMinor, multiplyRounded, parseDecimal } from "./money";

const fixture = (name: string) => readFileSync(join(__dirname, "../../test/fixtures/pos", name));
const text = (name: string) => fixture(name).toString("utf8");

const SECRET = "pos_live_7c1e9a2b4d6f8a0c";
const OTHER_SECRET = "pos_live_0123456789abcdef";
const STORES = ["SH001", "SH002"];
const JSON_TYPE = "application/json";
const XML_TYPE = "application/xml; charset=utf-8";
const CSV_TYPE = "text/csv";

/** A request as the host hands it over: lower-cased headers, the raw bytes, received now (or at `receivedAt`). */
function signed(body: Buffer | string, contentType?: string, opts: { secret?: string; t?: number; receivedAt?: Date } = {}): ChannelRequest {
  const receivedAt = opts.receivedAt ?? new Date();
  const t = opts.t ?? Math.floor(receivedAt.getTime() / 1000);
  return channelRequest({
    body,
    receivedAt,
    headers: { ...(contentType ? { "content-type": contentType } : {}), "x-crm-signature": signHttpJson(opts.secret ?? SECRET, body, t) },
  });
}

const withJson = (name: string, patch: (doc: any) => void) => {
  const doc = JSON.parse(text(name));
  patch(doc);
  return JSON.stringify(doc);
};

adapterConformance(posPlugin, {
  connection: { config: { secret: SECRET, stores: STORES }, name: "门店收银" },
  valid: [
    { name: "JSON sale of a member", request: (c) => signed(fixture("sale.json"), JSON_TYPE, { secret: c.config.secret }), types: ["order.placed", "order.paid"] },
    { name: "JSON return", request: (c) => signed(fixture("return.json"), JSON_TYPE, { secret: c.config.secret }), types: ["order.refunded"] },
    {
      name: "POSLog sale with loyalty account and discounts",
      request: (c) => signed(fixture("poslog-sale.xml"), XML_TYPE, { secret: c.config.secret }),
      types: ["order.placed", "order.paid"],
    },
    { name: "POSLog return with prefixed namespaces", request: (c) => signed(fixture("poslog-return.xml"), "text/xml", { secret: c.config.secret }), types: ["order.refunded"] },
    {
      name: "POSLog evening with control, training, cancelled and voided transactions",
      request: (c) => signed(fixture("poslog-day.xml"), XML_TYPE, { secret: c.config.secret }),
      types: ["order.placed", "order.paid", "order.placed", "order.paid"],
    },
    {
      name: "end-of-day CSV of an offline store",
      request: (c) => signed(fixture("eod.csv"), CSV_TYPE, { secret: c.config.secret }),
      types: ["order.placed", "order.paid", "order.placed", "order.paid", "order.placed", "order.paid"],
    },
  ],
  invalid: [
    { name: "signed with another secret", request: () => signed(fixture("sale.json"), JSON_TYPE, { secret: OTHER_SECRET }), expect: 401, reason: "signature mismatch" },
    { name: "no signature", request: () => channelRequest({ body: fixture("sale.json"), headers: { "content-type": JSON_TYPE } }), expect: 401, reason: "missing X-CRM-Signature" },
    { name: "signed six minutes ago", request: () => signed(fixture("eod.csv"), CSV_TYPE, { t: Math.floor(Date.now() / 1000) - 360 }), expect: 401, reason: /stale/ },
    {
      name: "a store not on the connection",
      request: () => signed(withJson("sale.json", (d) => (d.storeId = "BJ001")), JSON_TYPE),
      expect: 400,
      reason: 'store "BJ001" is not one of this connection\'s stores',
    },
    {
      name: "a negative quantity in a sale",
      request: () => signed(withJson("sale.json", (d) => (d.lines[1].quantity = -1)), JSON_TYPE),
      expect: 400,
      reason: "lines.1.quantity: negative quantities are not allowed in a sale",
    },
    { name: "an unknown currency", request: () => signed(withJson("sale.json", (d) => (d.currency = "RMB")), JSON_TYPE), expect: 400, reason: 'currency: unknown currency "RMB"' },
    { name: "malformed XML", request: () => signed(text("poslog-sale.xml").replace("</Sale>", ""), XML_TYPE), expect: 400, reason: "malformed XML" },
    { name: "malformed JSON", request: () => signed(text("sale.json").slice(0, 200), JSON_TYPE), expect: 400, reason: "not valid JSON" },
    { name: "malformed CSV", request: () => signed(text("eod.csv").replace("礼盒装,", '礼盒装",'), CSV_TYPE), expect: 400, reason: "malformed CSV" },
    {
      name: "a negative POSLog sale line that is not a void",
      request: () => signed(text("poslog-sale.xml").replace(/(<ItemID>BLC-100<\/ItemID>[^]*?<Quantity>)1</, "$1-1<"), XML_TYPE),
      expect: 400,
      reason: "negative quantity in a sale",
    },
    { name: "an unsupported content type", request: () => signed(fixture("sale.json"), "application/pdf"), expect: 400, reason: "unsupported Content-Type" },
  ],
  // No Content-Type: the body's first character decides, so random bodies reach every reader.
  authenticRequest: (body, c) => signed(body, undefined, { secret: c.config.secret }),
});

let connection: ChannelConnectionInfo<PosConfig>;
beforeAll(async () => {
  connection = await buildConnection(posPlugin, { config: { secret: SECRET, stores: STORES } });
});
const verify = (req: ChannelRequest, conn = connection) => Promise.resolve().then(() => posPlugin.channel!.verify(req, conn, testPluginContext()));
const events = async (req: ChannelRequest, conn = connection): Promise<NormalizedEventInput[]> => {
  const all = await posPlugin.channel!.normalize(await verify(req, conn), conn);
  for (const e of all) expect(parseNormalizedEvent(e)).toMatchObject({ ok: true });
  return all;
};
const refusal = async (req: ChannelRequest, conn = connection): Promise<string> => {
  const err = await events(req, conn).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NormalizationError);
  return (err as Error).message;
};

const SALE_ITEMS = [
  { sku: "LJ-250", title: "西湖龙井 250g", quantity: 2, unitPrice: 12900, discount: 1000 },
  { sku: "BLC-100", title: "安吉白茶 100g", quantity: 1, unitPrice: 8800 },
  { sku: "CUP-01", title: "青瓷茶杯", quantity: 1, unitPrice: 3500, discount: 500 },
];
const SALE_PAYLOAD = { orderId: "SH001:03-20261120-0042", storeId: "SH001", currency: "CNY", subtotal: 38100, discount: 1500, total: 36600, items: SALE_ITEMS };
const MEMBER = [
  { type: "pos_member", value: "8860012345678" },
  { type: "phone", value: "139 1234 5678" },
];

describe("pos: JSON transactions", () => {
  it("turns a member's sale into order.placed and order.paid of <store>:<transaction> with the card and phone as identities", async () => {
    expect(await events(signed(fixture("sale.json"), JSON_TYPE))).toEqual([
      { type: "order.placed", externalId: "pos:SH001:03-20261120-0042:placed", occurredAt: "2026-11-20T06:05:09.000Z", identities: MEMBER, payload: SALE_PAYLOAD },
      { type: "order.paid", externalId: "pos:SH001:03-20261120-0042:paid", occurredAt: "2026-11-20T06:05:09.000Z", identities: MEMBER, payload: SALE_PAYLOAD },
    ]);
  });

  it("turns a return into order.refunded of the original sale's order, refund id <store>:<return transaction>", async () => {
    expect(await events(signed(fixture("return.json"), JSON_TYPE))).toEqual([
      {
        type: "order.refunded",
        externalId: "pos:SH001:02-20261121-0003:refunded",
        occurredAt: "2026-11-21T08:40:00.000Z",
        identities: [{ type: "pos_member", value: "8860012345678" }],
        payload: { orderId: "SH001:03-20261120-0042", refundId: "SH001:02-20261121-0003", amount: 12400, items: [{ sku: "LJ-250", quantity: 1, amount: 12400 }] },
      },
    ]);
  });

  it("records a sale without member as a guest order (no identities)", async () => {
    const [placed] = await events(signed(withJson("sale.json", (d) => delete d.member), JSON_TYPE));
    expect(placed.identities).toEqual([]);
  });

  it("reads returned quantities signed either way, refunds another store's sale, and prefers a stated total", async () => {
    const body = withJson("return.json", (d) => {
      d.lines[0].quantity = -1;
      d.originalStoreId = "SH002";
      d.total = 12000;
    });
    const [refund] = await events(signed(body, JSON_TYPE));
    expect(refund.payload).toEqual({ orderId: "SH002:03-20261120-0042", refundId: "SH001:02-20261121-0003", amount: 12000, items: [{ sku: "LJ-250", quantity: 1, amount: 12400 }] });
  });

  it("takes several transactions in one body, and reads local times as China Standard Time", async () => {
    const sale = JSON.parse(text("sale.json"));
    const body = JSON.stringify({ transactions: [{ ...sale, occurredAt: "2026-11-20 14:05:09" }, JSON.parse(text("return.json"))] });
    const all = await events(signed(body, JSON_TYPE));
    expect(all.map((e) => [e.type, e.occurredAt])).toEqual([
      ["order.placed", "2026-11-20T06:05:09.000Z"],
      ["order.paid", "2026-11-20T06:05:09.000Z"],
      ["order.refunded", "2026-11-21T08:40:00.000Z"],
    ]);
  });

  it.each([
    ["a return without the original transaction", (d: any) => ((d.type = "return"), delete d.originalTransactionId), "originalTransactionId: a return must name the original transaction"],
    ["an amount in yuan", (d: any) => (d.lines[0].unitPrice = 129.0 + 0.5), "lines.0.unitPrice: must be an integer amount in minor units (fen)"],
    ["a quantity of 0", (d: any) => (d.lines[0].quantity = 0), "lines.0.quantity: must not be 0"],
    ["a discount above the line", (d: any) => (d.lines[1].discount = 9000), "lines.1.discount: larger than the line's amount"],
    ["a store id with a colon", (d: any) => (d.storeId = "SH:001"), "storeId: a store id may not contain ':'"],
    ["a timestamp without a date", (d: any) => (d.occurredAt = "14:05"), "occurredAt: must be an ISO-8601 date-time"],
    ["a day that does not exist", (d: any) => (d.occurredAt = "2026-02-30T10:00:00+08:00"), "occurredAt: must be an ISO-8601 date-time"],
    ["a phone that is no phone", (d: any) => (d.member.phone = "unknown"), "member.phone: not a phone number"],
    ["no lines", (d: any) => (d.lines = []), "lines: a transaction needs at least one line"],
    ["an unknown type", (d: any) => (d.type = "exchange"), "type:"],
  ])("refuses %s with the field at fault", async (_name, patch, reason) => {
    expect(await refusal(signed(withJson("sale.json", patch), JSON_TYPE))).toContain(reason);
  });

  it("names the transaction at fault in a batch", async () => {
    const sale = JSON.parse(text("sale.json"));
    const body = JSON.stringify({ transactions: [sale, { ...sale, transactionId: "03-20261120-0043", currency: "XYZ" }] });
    expect(await refusal(signed(body, JSON_TYPE))).toBe('transactions.1.currency: unknown currency "XYZ"');
  });
});

describe("pos: POSLog XML", () => {
  it("gives a sale the same order, amounts and externalIds as the same sale sent as JSON", async () => {
    const fromXml = await events(signed(fixture("poslog-sale.xml"), XML_TYPE));
    const fromJson = await events(signed(fixture("sale.json"), JSON_TYPE));
    expect(fromXml.map((e) => e.externalId)).toEqual(fromJson.map((e) => e.externalId));
    expect(fromXml).toEqual([
      // The POSLog knows when the sale started; JSON only when it ended.
      { type: "order.placed", externalId: "pos:SH001:03-20261120-0042:placed", occurredAt: "2026-11-20T06:03:41.000Z", identities: MEMBER, payload: SALE_PAYLOAD },
      { type: "order.paid", externalId: "pos:SH001:03-20261120-0042:paid", occurredAt: "2026-11-20T06:05:09.000Z", identities: MEMBER, payload: SALE_PAYLOAD },
    ]);
  });

  it("refunds the linked sale with the handed-back total and the returned lines net of their discounts", async () => {
    expect(await events(signed(fixture("poslog-return.xml"), "text/xml"))).toEqual([
      {
        type: "order.refunded",
        externalId: "pos:SH001:01-20261123-0015:refunded",
        occurredAt: "2026-11-23T02:14:27.000Z",
        identities: [{ type: "pos_member", value: "8860012345678" }],
        payload: {
          orderId: "SH001:03-20261120-0042",
          refundId: "SH001:01-20261123-0015",
          amount: 24200,
          items: [
            { sku: "LJ-250", quantity: 1, amount: 12400 },
            { sku: "BLC-100", quantity: 1, amount: 8800 },
            { sku: "CUP-01", quantity: 1, amount: 3000 },
          ],
        },
      },
    ]);
  });

  it("skips sign-on, training, cancelled and voided transactions; weighs, reverses voided lines and applies percentage discounts exactly", async () => {
    const all = await events(signed(fixture("poslog-day.xml"), XML_TYPE));
    const evening = {
      orderId: "SH001:05-20261120-1207",
      storeId: "SH001",
      currency: "CNY",
      subtotal: 6638,
      discount: 590,
      total: 6048,
      items: [
        { sku: "00000000042001", title: "红富士苹果", quantity: "0.42", unitPrice: 1280 }, // 0.42 kg at ¥12.80/kg: ¥5.38 on the receipt
        { sku: "00006921168509", title: "农夫山泉 550ml", quantity: 1, unitPrice: 200 },
        { sku: "TGY-500", title: "铁观音礼盒", quantity: 1, unitPrice: 5900, discount: 590 },
      ],
    };
    const guest = { orderId: "SH001:SH001-06-0388", storeId: "SH001", currency: "CNY", subtotal: 9100, discount: 0, total: 9100, items: [{ sku: "BLC-50", title: "碧螺春 50g", quantity: 2, unitPrice: 4550 }] };
    const card = [{ type: "pos_member", value: "8860055500001" }];
    expect(all).toEqual([
      { type: "order.placed", externalId: "pos:SH001:05-20261120-1207:placed", occurredAt: "2026-11-20T10:30:02.000Z", identities: card, payload: evening },
      { type: "order.paid", externalId: "pos:SH001:05-20261120-1207:paid", occurredAt: "2026-11-20T10:30:02.000Z", identities: card, payload: evening },
      // An all-zero loyalty id is the register's "no member": a guest sale.
      { type: "order.placed", externalId: "pos:SH001:SH001-06-0388:placed", occurredAt: "2026-11-20T10:40:10.000Z", identities: [], payload: guest },
      { type: "order.paid", externalId: "pos:SH001:SH001-06-0388:paid", occurredAt: "2026-11-20T10:41:00.000Z", identities: [], payload: guest },
    ]);
  });

  const minimal = (opts: { prefix?: string; ns?: string; txAttrs?: string; extra?: string; rtAttrs?: string; lines?: string } = {}) => {
    const p = opts.prefix ? `${opts.prefix}:` : "";
    const xmlns = opts.ns === undefined ? "" : ` xmlns${opts.prefix ? `:${opts.prefix}` : ""}="${opts.ns}"`;
    const line =
      opts.lines ??
      `<${p}LineItem><${p}Sale><${p}ItemID>LJ-250</${p}ItemID><${p}Description>西湖龙井 250g</${p}Description><${p}RegularSalesUnitPrice>129.00</${p}RegularSalesUnitPrice><${p}Quantity>1</${p}Quantity></${p}Sale></${p}LineItem>`;
    return (
      `<?xml version="1.0"?><${p}POSLog${xmlns}><${p}Transaction${opts.txAttrs ?? ""}><${p}RetailStoreID>SH001</${p}RetailStoreID><${p}TransactionID>T-1</${p}TransactionID>` +
      `<${p}EndDateTime>2026-11-20T12:00:00+08:00</${p}EndDateTime>${opts.extra ?? ""}<${p}RetailTransaction${opts.rtAttrs ?? ""}>${line}</${p}RetailTransaction></${p}Transaction></${p}POSLog>`
    );
  };

  it("reads a document alike with a default namespace, a prefix, or none", async () => {
    const plain = await events(signed(minimal(), XML_TYPE));
    expect(plain.map((e) => e.externalId)).toEqual(["pos:SH001:T-1:placed", "pos:SH001:T-1:paid"]);
    expect(plain[1].payload).toMatchObject({ total: 12900, items: [{ sku: "LJ-250", title: "西湖龙井 250g", quantity: 1, unitPrice: 12900 }] });
    const ns = "http://www.nrf-arts.org/IXRetail/namespace/";
    await expect(events(signed(minimal({ ns }), XML_TYPE))).resolves.toEqual(plain);
    await expect(events(signed(minimal({ prefix: "poslog", ns }), XML_TYPE))).resolves.toEqual(plain);
    await expect(events(signed(minimal({ prefix: "x", ns: "urn:whatever" }), XML_TYPE))).resolves.toEqual(plain);
  });

  it.each([
    ["TrainingModeFlag attribute", { txAttrs: ' TrainingModeFlag="true"' }],
    ["TrainingModeFlag element", { extra: "<TrainingModeFlag>1</TrainingModeFlag>" }],
    ["Transaction VoidFlag", { txAttrs: ' VoidFlag="true"' }],
    ["Transaction CancelFlag", { txAttrs: ' CancelFlag="true"' }],
    ["TransactionStatus Cancelled", { rtAttrs: ' TransactionStatus="Cancelled"' }],
    ["TransactionStatus Suspended", { rtAttrs: ' TransactionStatus="Suspended"' }],
  ])("skips a transaction marked by %s", async (_name, opts) => {
    await expect(events(signed(minimal(opts), XML_TYPE))).resolves.toEqual([]);
  });

  it("does not skip a transaction whose flags are false", async () => {
    await expect(events(signed(minimal({ txAttrs: ' TrainingModeFlag="false" CancelFlag="false" VoidFlag="false"' }), XML_TYPE))).resolves.toHaveLength(2);
  });

  it("takes the original sale from the transaction's TransactionLink when the Return line has none, and skips blind returns", async () => {
    const ret = `<LineItem><Return><ItemID>LJ-250</ItemID><RegularSalesUnitPrice>129.00</RegularSalesUnitPrice><Quantity>1</Quantity></Return></LineItem>`;
    const link = `<TransactionLink ReasonCode="Return"><TransactionID>T-0</TransactionID></TransactionLink>`;
    const [refund] = await events(signed(minimal({ lines: ret + link }), XML_TYPE));
    expect(refund.payload).toEqual({ orderId: "SH001:T-0", refundId: "SH001:T-1", amount: 12900, items: [{ sku: "LJ-250", quantity: 1, amount: 12900 }] });
    // A link for another purpose (a resumed sale) names no sale to refund.
    await expect(events(signed(minimal({ lines: ret + link.replace("Return", "Resume") }), XML_TYPE))).resolves.toEqual([]);
  });

  it("splits an exchange into the new sale and a refund of the old one", async () => {
    const lines =
      `<LineItem><Return><ItemID>CUP-02</ItemID><RegularSalesUnitPrice>45.00</RegularSalesUnitPrice><Quantity>-1</Quantity><TransactionLink><TransactionID>T-0</TransactionID></TransactionLink></Return></LineItem>` +
      `<LineItem><Sale><ItemID>CUP-01</ItemID><RegularSalesUnitPrice>35.00</RegularSalesUnitPrice><Quantity>1</Quantity></Sale></LineItem>` +
      `<Total TotalType="TransactionGrandAmount">-10.00</Total>`;
    const all = await events(signed(minimal({ lines }), XML_TYPE));
    expect(all.map((e) => [e.type, (e.payload as any).orderId, (e.payload as any).total ?? (e.payload as any).amount])).toEqual([
      ["order.placed", "SH001:T-1", 3500],
      ["order.paid", "SH001:T-1", 3500],
      ["order.refunded", "SH001:T-0", 4500],
    ]);
  });

  it("decodes a GBK-encoded POSLog as its XML declaration says", async () => {
    const head = Buffer.from(`<?xml version="1.0" encoding="GBK"?><POSLog><Transaction><RetailStoreID>SH001</RetailStoreID><TransactionID>T-9</TransactionID><EndDateTime>2026-11-20T12:00:00</EndDateTime><RetailTransaction><LineItem><Sale><ItemID>LJ-250</ItemID><Description>`);
    const tail = Buffer.from(`</Description><RegularSalesUnitPrice>1.00</RegularSalesUnitPrice></Sale></LineItem></RetailTransaction></Transaction></POSLog>`);
    const body = Buffer.concat([head, Buffer.from([0xc1, 0xfa, 0xbe, 0xae, 0xb2, 0xe8]), tail]); // 龙井茶 in GBK
    const [placed] = await events(signed(body, "application/xml"));
    expect((placed.payload as any).items[0].title).toBe("龙井茶");
  });

  it.each([
    ["an amount with more decimals than fen", (x: string) => x.replace("<ExtendedAmount>88.00<", "<ExtendedAmount>88.005<"), "has more decimal places than CNY has (2)"],
    ["an amount that is not a number", (x: string) => x.replace("<ExtendedAmount>88.00<", "<ExtendedAmount>八十八<"), "is not a decimal amount"],
    ["a store not on the connection", (x: string) => x.replace("<RetailStoreID>SH001<", "<RetailStoreID>BJ001<"), 'store "BJ001" is not one of this connection\'s stores'],
    ["an unknown currency", (x: string) => x.replace("<CurrencyCode>CNY<", "<CurrencyCode>RMB<"), 'unknown currency "RMB"'],
    ["a transaction without its identity", (x: string) => x.replace("<SequenceNumber>0042</SequenceNumber>", ""), "no TransactionID, nor WorkstationID, SequenceNumber and BusinessDayDate"],
    ["a DOCTYPE", (x: string) => x.replace("<POSLog ", '<!DOCTYPE POSLog [<!ENTITY a "aaaa">]><POSLog '), "DOCTYPE declarations are not accepted"],
    ["another document", () => "<Invoice><Number>1</Number></Invoice>", "not a POSLog document"],
  ])("refuses %s", async (_name, edit, reason) => {
    expect(await refusal(signed(edit(text("poslog-sale.xml")), XML_TYPE))).toContain(reason);
  });
});

describe("pos: end-of-day CSV", () => {
  const CSV_HEADER = "storeId,registerId,transactionId,businessDay,occurredAt,type,originalTransactionId,memberCard,memberPhone,sku,title,quantity,unitPrice,discount,currency";

  it("groups rows into transactions by store and transaction id, in order of first appearance, wherever the rows are", async () => {
    const all = await events(signed(fixture("eod.csv"), CSV_TYPE));
    const paid = all.filter((e) => e.type === "order.paid");
    expect(paid).toEqual([
      {
        type: "order.paid",
        externalId: "pos:SH002:01-20261120-0001:paid",
        occurredAt: "2026-11-20T01:41:12.000Z",
        identities: [{ type: "pos_member", value: "8860098765432" }],
        payload: {
          orderId: "SH002:01-20261120-0001",
          storeId: "SH002",
          currency: "CNY",
          subtotal: 29700,
          discount: 1800,
          total: 27900,
          items: [
            { sku: "LJ-250", title: "西湖龙井 250g", quantity: 1, unitPrice: 12900 },
            { sku: "GIFT-BOX", title: "礼盒装, 含茶具", quantity: 1, unitPrice: 16800, discount: 1800 },
          ],
        },
      },
      {
        type: "order.paid",
        externalId: "pos:SH002:01-20261120-0002:paid",
        occurredAt: "2026-11-20T02:05:40.000Z",
        identities: [],
        payload: { orderId: "SH002:01-20261120-0002", storeId: "SH002", currency: "CNY", subtotal: 17600, discount: 0, total: 17600, items: [{ sku: "BLC-100", title: "安吉白茶 100g", quantity: 2, unitPrice: 8800 }] },
      },
      {
        type: "order.paid",
        externalId: "pos:SH002:02-20261120-0001:paid",
        occurredAt: "2026-11-20T07:22:03.000Z",
        identities: [{ type: "phone", value: "13817562209" }],
        payload: {
          orderId: "SH002:02-20261120-0001",
          storeId: "SH002",
          currency: "CNY",
          subtotal: 23900,
          discount: 2000,
          total: 21900,
          items: [
            { sku: "CUP-01", title: "青瓷茶杯", quantity: 4, unitPrice: 3500, discount: 2000 },
            { sku: "TP-01", title: '茶盘 "白瓷"', quantity: 1, unitPrice: 9900 },
          ],
        },
      },
    ]);
  });

  it("reads return rows as refunds of their original transactions, and takes columns in any order and case", async () => {
    const csv = [
      "SKU,Quantity,UnitPrice,Type,StoreId,TransactionId,OccurredAt,OriginalTransactionId,MemberCard",
      "LJ-250,-1,12900,return,SH002,01-20261121-0004,2026-11-21T11:00:00+08:00,01-20261120-0001,8860098765432",
      "GIFT-BOX,1,15000,return,SH002,01-20261121-0004,2026-11-21T11:00:00+08:00,01-20261120-0001,8860098765432",
    ].join("\n");
    expect(await events(signed(csv, CSV_TYPE))).toEqual([
      {
        type: "order.refunded",
        externalId: "pos:SH002:01-20261121-0004:refunded",
        occurredAt: "2026-11-21T03:00:00.000Z",
        identities: [{ type: "pos_member", value: "8860098765432" }],
        payload: {
          orderId: "SH002:01-20261120-0001",
          refundId: "SH002:01-20261121-0004",
          amount: 27900,
          items: [
            { sku: "LJ-250", quantity: 1, amount: 12900 },
            { sku: "GIFT-BOX", quantity: 1, amount: 15000 },
          ],
        },
      },
    ]);
  });

  it("gives each original of a multi-sale return its own refund event", async () => {
    const csv = [
      "storeId,transactionId,occurredAt,type,originalTransactionId,sku,quantity,unitPrice",
      "SH002,R-1,2026-11-22 10:00:00,return,01-20261120-0001,LJ-250,1,12900",
      "SH002,R-1,2026-11-22 10:00:00,return,01-20261120-0002,BLC-100,1,8800",
    ].join("\n");
    const all = await events(signed(csv, CSV_TYPE));
    expect(all.map((e) => [e.externalId, (e.payload as any).orderId, (e.payload as any).amount])).toEqual([
      ["pos:SH002:R-1:refunded:SH002:01-20261120-0001", "SH002:01-20261120-0001", 12900],
      ["pos:SH002:R-1:refunded:SH002:01-20261120-0002", "SH002:01-20261120-0002", 8800],
    ]);
  });

  it.each([
    ["rows of one transaction that disagree on its time", (c: string) => c.replace("2026-11-20 09:41:12,sale,,8860098765432,,GIFT-BOX", "2026-11-20 09:42:00,sale,,8860098765432,,GIFT-BOX"), "line 4: occurredAt"],
    ["an amount with a decimal point", (c: string) => c.replace(",12900,", ",129.00,"), "line 2: unitPrice: must be an integer amount in minor units (fen: 12900 for ¥129.00)"],
    ["a negative quantity in a sale", (c: string) => c.replace(",BLC-100,安吉白茶 100g,2,", ",BLC-100,安吉白茶 100g,-2,"), "line 3: quantity: negative quantities are not allowed in a sale"],
    ["a missing column", (c: string) => c.replace("unitPrice", "price"), "line 1: missing column unitPrice"],
    ["an unknown type", (c: string) => c.replace(",sale,,,,BLC", ",refund,,,,BLC"), 'line 3: type: must be sale or return, got "refund"'],
    ["a return without original", (c: string) => c.replace(",sale,,,,BLC", ",return,,,,BLC"), "line 3: originalTransactionId: a return must name the original transaction"],
    ["an unknown currency", (c: string) => c.replaceAll(",CNY", ",RMB"), 'line 2: currency: unknown currency "RMB"'],
    ["a store not on the connection", (c: string) => c.replaceAll("SH002,", "GZ001,"), 'store "GZ001" is not one of this connection\'s stores'],
    ["an empty file", () => "", "the CSV file is empty"],
  ])("refuses %s, naming the line", async (_name, edit, reason) => {
    expect(await refusal(signed(edit(text("eod.csv")), CSV_TYPE))).toContain(reason);
  });

  it("documents the columns it reads in the order of its README", () => {
    expect(CSV_HEADER.split(",")).toEqual(CSV_COLUMNS);
  });
});

describe("pos: decimal amounts to minor units", () => {
  it.each([
    ["129.90", "CNY", 12990],
    ["129.9", "CNY", 12990],
    ["0.10", "CNY", 10],
    ["-2.79", "CNY", -279],
    ["+3.", "CNY", 300],
    [".5", "CNY", 50],
    ["12.900", "CNY", 1290],
    ["  88.00 ", "CNY", 8800],
    ["1000", "JPY", 1000],
    ["1.234", "KWD", 1234],
    ["90071992547409.91", "CNY", 9007199254740991],
  ])("reads %s %s as %d exactly", (value, currency, minor) => {
    expect(decimalToMinor(value, currency)).toEqual({ ok: true, value: minor });
  });

  it("adds like a register, not like floating point: 0.10 + 0.20 is 30 fen", () => {
    const sum = ["0.10", "0.20"].map((v) => decimalToMinor(v, "CNY")).reduce((s, r) => s + (r.ok ? r.value : NaN), 0);
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(sum).toBe(30);
  });

  it.each([
    ["12.905", "CNY", "more decimal places than CNY has (2)"],
    ["100.5", "JPY", "more decimal places than JPY has (0)"],
    ["1e3", "CNY", "not a decimal amount"],
    ["1,000.00", "CNY", "not a decimal amount"],
    ["", "CNY", "not a decimal amount"],
    ["-", "CNY", "not a decimal amount"],
    ["90071992547409.92", "CNY", "too large"],
  ])("refuses %s %s", (value, currency, reason) => {
    const r = decimalToMinor(value, currency);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toContain(reason);
  });

  it("rounds weighed amounts half away from zero", () => {
    expect(multiplyRounded(1280, parseDecimal("0.42")!)).toBe(538); // 537.6
    expect(multiplyRounded(1250, parseDecimal("0.5")!)).toBe(625);
    expect(multiplyRounded(5, parseDecimal("0.5")!)).toBe(3); // 2.5
    expect(multiplyRounded(-5, parseDecimal("0.5")!)).toBe(-3);
    expect(multiplyRounded(5900, parseDecimal("0.10")!)).toBe(590);
    expect(multiplyRounded(Number.MAX_SAFE_INTEGER, parseDecimal("2")!)).toBeUndefined();
  });
});

describe("pos: signature and content", () => {
  const body = fixture("sale.json");

  it("accepts an HMAC-SHA256 over '<t>.<raw body>' computed independently (fixed vector)", async () => {
    const t = 1764300000;
    const v1 = createHmac("sha256", SECRET).update(Buffer.concat([Buffer.from(`${t}.`), body])).digest("hex");
    const req = channelRequest({ body, receivedAt: new Date(t * 1000), headers: { "content-type": JSON_TYPE, "x-crm-signature": `t=${t},v1=${v1}` } });
    await expect(verify(req)).resolves.toEqual({ format: "json", text: body.toString("utf8") });
  });

  it("accepts exactly 300 s of skew either way and refuses 301 s", async () => {
    const receivedAt = new Date(1764300000_000);
    const at = (skew: number) => signed(body, JSON_TYPE, { receivedAt, t: 1764300000 + skew });
    await expect(verify(at(-300))).resolves.toBeDefined();
    await expect(verify(at(300))).resolves.toBeDefined();
    await expect(verify(at(-301))).rejects.toThrow(/stale X-CRM-Signature timestamp: 301 s older/);
    await expect(verify(at(301))).rejects.toThrow(/301 s ahead of the server clock/);
  });

  it.each([
    ["another secret", () => signed(body, JSON_TYPE, { secret: OTHER_SECRET }), "signature mismatch"],
    ["no header", () => channelRequest({ body }), "missing X-CRM-Signature header"],
    ["a header without v1", () => channelRequest({ body, headers: { "x-crm-signature": `t=${Math.floor(Date.now() / 1000)}` } }), "no v1 signature"],
    ["garbage", () => channelRequest({ body, headers: { "x-crm-signature": "sha256=deadbeef" } }), "malformed X-CRM-Signature"],
    ["a signature of other bytes", () => ({ ...signed(body, JSON_TYPE), rawBody: Buffer.concat([body, Buffer.from("\n")]) }), "signature mismatch"],
  ])("refuses %s with 401", async (_name, build, reason) => {
    const err = await verify(build()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toContain(reason);
  });

  it("accepts any of several v1 signatures (secret rotation)", async () => {
    const t = Math.floor(Date.now() / 1000);
    const v1 = (secret: string) => signHttpJson(secret, body, t).split(",")[1];
    const req = channelRequest({ body, headers: { "x-crm-signature": `t=${t},${v1(OTHER_SECRET)},${v1(SECRET)}` } });
    await expect(verify(req)).resolves.toBeDefined();
  });

  it("reads the format from Content-Type, or from the first character when it is missing or generic", async () => {
    await expect(verify(signed(" {}", "application/json; charset=UTF-8"))).resolves.toMatchObject({ format: "json" });
    await expect(verify(signed("<POSLog/>", "text/xml"))).resolves.toMatchObject({ format: "poslog" });
    await expect(verify(signed("a,b", "text/csv; charset=utf-8"))).resolves.toMatchObject({ format: "csv" });
    await expect(verify(signed("\ufeff  <POSLog/>"))).resolves.toMatchObject({ format: "poslog" });
    await expect(verify(signed("[]", "text/plain"))).resolves.toMatchObject({ format: "json" });
    await expect(verify(signed("storeId,sku", "application/octet-stream"))).resolves.toMatchObject({ format: "csv" });
  });

  it("leaves unreadable bodies to normalize, which answers 400 with the reason", async () => {
    expect(await refusal(signed(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), JSON_TYPE))).toBe("body is not valid UTF-8 text");
    expect(await refusal(signed("a,b", "text/csv; charset=klingon"))).toContain("unsupported charset");
    const gbkCsv = Buffer.concat([Buffer.from(`${"storeId,transactionId,occurredAt,type,sku,title,quantity,unitPrice"}\nSH002,T-1,2026-11-20 10:00:00,sale,LJ,`), Buffer.from([0xc1, 0xfa, 0xbe, 0xae]), Buffer.from(",1,100\n")]);
    const [placed] = await events(signed(gbkCsv, "text/csv; charset=GBK"));
    expect((placed.payload as any).items[0].title).toBe("龙井");
  });

  it("allows every store when the connection lists none, and validates the store list", async () => {
    const open = await buildConnection(posPlugin, { config: { secret: SECRET } });
    await expect(events(signed(withJson("sale.json", (d) => (d.storeId = "BJ001")), JSON_TYPE), open)).resolves.toHaveLength(2);
    expect(posPlugin.configSchema!.safeParse({ secret: SECRET, stores: [] }).success).toBe(false);
    expect(posPlugin.configSchema!.safeParse({ secret: SECRET, stores: ["SH:001"] }).success).toBe(false);
    expect(posPlugin.configSchema!.safeParse({ secret: "short", stores: ["SH001"] }).success).toBe(false);
  });

  it("refuses a return of a sale made at a store the connection does not serve", async () => {
    const body = withJson("return.json", (d) => (d.originalStoreId = "BJ001"));
    expect(await refusal(signed(body, JSON_TYPE))).toContain('the returned sale\'s store "BJ001" is not one of this connection\'s stores');
  });
});
