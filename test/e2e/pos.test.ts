import { readFileSync } from "node:fs";
import { join } from "node:path";

import { signHttpJson } from "../../adapters/http-json";
import { createTestServer, type TestServer } from "../helpers/test-server";

/**
 * The POS channel over real HTTP: a store's sale, the same sale resent as POSLog, its returns, an
 * offline store's end-of-day file, and refusals — checked through the GraphQL API.
 */

let t: TestServer;
const SECRET = "pos_live_e2e_5b7d9f1a3c5e7a9b";
let webhook: string;

const fixture = (name: string) => readFileSync(join(__dirname, "../fixtures/pos", name));
const SALE_ORDER = "SH001:03-20261120-0042";
const CARD = "8860012345678";

beforeAll(async () => {
  t = await createTestServer({ PUBLIC_URL: "https://crm.example.cn" });
  const r = await t.gql(
    `mutation($config: JSONObject!) { createChannelConnection(input: {channel: "pos", name: "上海门店收银", config: $config}) { connection { id channel webhookUrl config } userErrors { field code message } } }`,
    { config: { secret: SECRET, stores: ["SH001", "SH002"] } },
  );
  expect(r.data.createChannelConnection.userErrors).toEqual([]);
  const c = r.data.createChannelConnection.connection;
  expect(c.channel).toBe("pos");
  expect(JSON.stringify(c.config)).not.toContain(SECRET);
  webhook = `${t.url}${new URL(c.webhookUrl).pathname}`;
});
afterAll(() => t?.close());

async function post(body: Buffer | string, contentType: string, signature: string | null = signHttpJson(SECRET, body)) {
  const res = await fetch(webhook, {
    method: "POST",
    headers: { "content-type": contentType, ...(signature ? { "x-crm-signature": signature } : {}) },
    body: typeof body === "string" ? body : new Uint8Array(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) };
}

const ORDER_FIELDS = `externalId channel status storeId currency total subtotal discount refunded placedAt paidAt
  customer { id } items { sku title quantity unitPrice discount refundedQuantity }`;

async function posOrders(): Promise<any[]> {
  const r = await t.gql(`{ orders(first: 100, filter: {channel: "pos"}) { totalCount nodes { ${ORDER_FIELDS} } } }`);
  expect(r.errors).toBeUndefined();
  expect(r.data.orders.totalCount).toBe(r.data.orders.nodes.length);
  return r.data.orders.nodes;
}
const order = async (externalId: string) => (await posOrders()).find((o) => o.externalId === externalId);

async function member(type: string, value: string) {
  const r = await t.gql(
    `query($type: IdentityType!, $value: String!) { customerByIdentity(type: $type, value: $value) { id phone identities { type value sourceChannel } stats { ordersCount totalSpent } orders { nodes { externalId status } } } }`,
    { type: type.toUpperCase(), value },
  );
  expect(r.errors).toBeUndefined();
  return r.data.customerByIdentity;
}
const customerCount = async () => (await t.gql(`{ customers { totalCount } }`)).data.customers.totalCount as number;

describe("pos channel end to end", () => {
  it("makes a JSON sale of an unknown member card a new customer with one paid order", async () => {
    expect(await customerCount()).toBe(0);
    const r = await post(fixture("sale.json"), "application/json");
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([
      { externalId: `pos:${SALE_ORDER}:placed`, status: "accepted" },
      { externalId: `pos:${SALE_ORDER}:paid`, status: "accepted" },
    ]);

    const c = await member("pos_member", CARD);
    expect(c).toMatchObject({ phone: "+8613912345678", stats: { ordersCount: 1, totalSpent: 36600 }, orders: { nodes: [{ externalId: SALE_ORDER, status: "PAID" }] } });
    expect(c.identities).toEqual(
      expect.arrayContaining([
        { type: "POS_MEMBER", value: CARD, sourceChannel: "pos" },
        { type: "PHONE", value: "+8613912345678", sourceChannel: "pos" },
      ]),
    );
    expect((await member("phone", "13912345678")).id).toBe(c.id);

    expect(await posOrders()).toEqual([
      {
        externalId: SALE_ORDER,
        channel: "pos",
        status: "PAID",
        storeId: "SH001",
        currency: "CNY",
        total: 36600,
        subtotal: 38100,
        discount: 1500,
        refunded: 0,
        placedAt: "2026-11-20T06:05:09.000Z",
        paidAt: "2026-11-20T06:05:09.000Z",
        customer: { id: c.id },
        items: [
          { sku: "LJ-250", title: "西湖龙井 250g", quantity: "2", unitPrice: 12900, discount: 1000, refundedQuantity: "0" },
          { sku: "BLC-100", title: "安吉白茶 100g", quantity: "1", unitPrice: 8800, discount: null, refundedQuantity: "0" },
          { sku: "CUP-01", title: "青瓷茶杯", quantity: "1", unitPrice: 3500, discount: 500, refundedQuantity: "0" },
        ],
      },
    ]);
  });

  it("answers the same sale resent as POSLog XML as duplicates and writes no second order", async () => {
    const customersBefore = await customerCount();
    const r = await post(fixture("poslog-sale.xml"), "application/xml");
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([
      { externalId: `pos:${SALE_ORDER}:placed`, status: "duplicate" },
      { externalId: `pos:${SALE_ORDER}:paid`, status: "duplicate" },
    ]);
    expect((await posOrders()).map((o) => o.externalId)).toEqual([SALE_ORDER]);
    expect(await customerCount()).toBe(customersBefore);
    expect((await member("pos_member", CARD)).stats).toEqual({ ordersCount: 1, totalSpent: 36600 });
  });

  it("refunds the original order on returns: partly as JSON, the rest as POSLog, until it is REFUNDED and out of the stats", async () => {
    const partial = await post(fixture("return.json"), "application/json");
    expect(partial.status).toBe(200);
    expect(partial.json.results).toEqual([{ externalId: "pos:SH001:02-20261121-0003:refunded", status: "accepted" }]);
    let o = await order(SALE_ORDER);
    expect(o).toMatchObject({ status: "PAID", total: 36600, refunded: 12400 });
    expect(o.items.map((i: any) => [i.sku, i.refundedQuantity])).toEqual([
      ["LJ-250", "1"],
      ["BLC-100", "0"],
      ["CUP-01", "0"],
    ]);
    expect((await member("pos_member", CARD)).stats).toEqual({ ordersCount: 1, totalSpent: 24200 });

    const rest = await post(fixture("poslog-return.xml"), "text/xml; charset=utf-8");
    expect(rest.status).toBe(200);
    expect(rest.json.results).toEqual([{ externalId: "pos:SH001:01-20261123-0015:refunded", status: "accepted" }]);
    o = await order(SALE_ORDER);
    expect(o).toMatchObject({ status: "REFUNDED", total: 36600, refunded: 36600 });
    expect(o.items.map((i: any) => [i.sku, i.refundedQuantity])).toEqual([
      ["LJ-250", "2"],
      ["BLC-100", "1"],
      ["CUP-01", "1"],
    ]);
    expect((await member("pos_member", CARD)).stats).toEqual({ ordersCount: 0, totalSpent: 0 });

    // A redelivered return changes nothing.
    const again = await post(fixture("return.json"), "application/json");
    expect(again.json.results.map((x: any) => x.status)).toEqual(["duplicate"]);
    expect((await order(SALE_ORDER)).refunded).toBe(36600);
  });

  it("turns an end-of-day CSV with three transactions into three orders, and a resent file into duplicates", async () => {
    const before = (await posOrders()).length;
    const r = await post(fixture("eod.csv"), "text/csv");
    expect(r.status).toBe(200);
    expect(r.json.results).toHaveLength(6);
    expect(r.json.results.every((x: any) => x.status === "accepted")).toBe(true);

    const sh002 = (await posOrders()).filter((o) => o.storeId === "SH002");
    expect(sh002.map((o) => [o.externalId, o.status, o.total]).sort()).toEqual([
      ["SH002:01-20261120-0001", "PAID", 27900],
      ["SH002:01-20261120-0002", "PAID", 17600],
      ["SH002:02-20261120-0001", "PAID", 21900],
    ]);
    expect((await posOrders()).length).toBe(before + 3);
    const guest = sh002.find((o) => o.externalId === "SH002:01-20261120-0002");
    expect(guest.customer).toBeNull();
    expect((await member("pos_member", "8860098765432")).stats).toEqual({ ordersCount: 1, totalSpent: 27900 });
    expect((await member("phone", "13817562209")).stats).toEqual({ ordersCount: 1, totalSpent: 21900 });

    const resent = await post(fixture("eod.csv"), "text/csv");
    expect(resent.status).toBe(200);
    expect(resent.json.results.every((x: any) => x.status === "duplicate")).toBe(true);
    expect((await posOrders()).length).toBe(before + 3);
  });

  it("answers 400 with the reason and writes nothing for a store not on the connection", async () => {
    const orders = (await posOrders()).length;
    const customers = await customerCount();
    const sale = JSON.parse(fixture("sale.json").toString("utf8"));
    const body = JSON.stringify({ ...sale, storeId: "BJ001", transactionId: "01-20261120-0001", member: { cardNumber: "8860077700001" } });
    const r = await post(body, "application/json");
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: "bad_request", reason: 'transaction: store "BJ001" is not one of this connection\'s stores' });
    expect((await posOrders()).length).toBe(orders);
    expect(await customerCount()).toBe(customers);
    expect(await member("pos_member", "8860077700001")).toBeNull();
  });

  it("answers 400 for a malformed POSLog and writes nothing", async () => {
    const orders = (await posOrders()).length;
    const xml = fixture("poslog-day.xml").toString("utf8").replace("</RetailTransaction>", "");
    const r = await post(xml, "application/xml");
    expect(r.status).toBe(400);
    expect(r.json.reason).toMatch(/^malformed XML/);
    expect((await posOrders()).length).toBe(orders);
  });

  it("answers 401 and writes nothing for a forged or stale signature", async () => {
    const orders = (await posOrders()).length;
    const customers = await customerCount();
    const body = fixture("poslog-day.xml");
    const now = Math.floor(Date.now() / 1000);
    for (const signature of [signHttpJson("pos_live_forged_0000000000", body), signHttpJson(SECRET, body, now - 301), null]) {
      const r = await post(body, "application/xml", signature);
      expect(r.status).toBe(401);
      expect(r.json.reason).toBeTruthy();
    }
    expect((await posOrders()).length).toBe(orders);
    expect(await customerCount()).toBe(customers);
    expect(await member("pos_member", "8860055500001")).toBeNull();

    // The same body, signed with the connection's secret, is accepted: the refusals above were about the signature only.
    const genuine = await post(body, "application/xml");
    expect(genuine.status).toBe(200);
    expect(genuine.json.results.map((x: any) => x.status)).toEqual(["accepted", "accepted", "accepted", "accepted"]);
    expect((await member("pos_member", "8860055500001")).stats).toEqual({ ordersCount: 1, totalSpent: 6048 });
  });
});
