import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { signCrmRequest } from "../../src/plugins";
import { createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * One person across channels, end to end over HTTP: a Youzan order push and a POS sale for the
 * same phone end on one customer with two orders; a WeChat mini-program login with a unionid and a
 * later Youzan order carrying that unionid end on one customer too.
 */

const YOUZAN = { clientId: "a3f9c2e17b5d4e8f06", clientSecret: "7e1b9d2c4f6a8e0b3d5c7a9f1e2d4c6b" };
const youzanPaid = readFileSync(join(__dirname, "../fixtures/youzan/push-trade-paid.json")); // buyer 13857123456, unionid below
const UNIONID = "oKx5s1Wc7eH2jZr9TqB3mN6pV0aY";
const POS_SECRET = "pos-secret-for-cross-channel-01";

let t: TestServer;
let wechat: Server;
let wechatBase: string;

beforeAll(async () => {
  t = await createTestServer();
  // WeChat's API, as documented, for the login call: jscode2session answers openid, unionid and a session key.
  wechat = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    res.setHeader("content-type", "application/json");
    if (url.pathname === "/sns/jscode2session") {
      res.end(JSON.stringify({ openid: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", unionid: UNIONID, session_key: "tiihtNczf5v6AKRyjwEUhQ==" }));
    } else res.end(JSON.stringify({ errcode: 40013, errmsg: "invalid appid" }));
  });
  await new Promise<void>((r) => wechat.listen(0, "127.0.0.1", () => r()));
  wechatBase = `http://127.0.0.1:${(wechat.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => wechat?.close(r));
});

async function connect(key: string, channel: string, config: Record<string, unknown>): Promise<{ id: string; url: string }> {
  const r = await t.gql(
    `mutation($channel: String!, $config: JSONObject!) { createChannelConnection(input: {channel: $channel, name: $channel, config: $config}) { connection { id webhookUrl } userErrors { field code message } } }`,
    { channel, config },
    key,
  );
  expect(r.data.createChannelConnection.userErrors).toEqual([]);
  const c = r.data.createChannelConnection.connection;
  return { id: c.id, url: `${t.url}${new URL(c.webhookUrl).pathname}` };
}

const PERSON = `{ id identities { type value } stats { ordersCount totalSpent } orders { nodes { channel externalId status total } } }`;

it("puts a Youzan order and a POS sale for the same phone on one customer with two orders and correct stats", async () => {
  const { key } = await createTenant(t, "茶语 全渠道");
  const youzan = await connect(key, "youzan", YOUZAN);
  const pos = await connect(key, "pos", { secret: POS_SECRET });

  const y = await fetch(youzan.url, { method: "POST", headers: { "content-type": "application/json" }, body: youzanPaid });
  expect(await y.json()).toEqual({ code: 0, msg: "success" });

  const sale = JSON.stringify({
    storeId: "HZ001",
    registerId: "01",
    transactionId: "01-20261121-0007",
    businessDay: "2026-11-21",
    occurredAt: "2026-11-21T15:00:00+08:00",
    type: "sale",
    member: { phone: "138 5712 3456" },
    lines: [{ sku: "LJ-250", title: "西湖龙井 250g", quantity: 1, unitPrice: 12900 }],
    tenders: [{ type: "cash", amount: 12900 }],
    currency: "CNY",
  });
  const p = await fetch(pos.url, { method: "POST", headers: { "content-type": "application/json", "x-crm-signature": signCrmRequest(POS_SECRET, sale) }, body: sale });
  expect(p.status).toBe(200);

  const count = await t.gql(`{ customers { totalCount } }`, {}, key);
  expect(count.data.customers.totalCount).toBe(1);
  const c = (await t.gql(`{ customerByIdentity(type: PHONE, value: "13857123456") ${PERSON} }`, {}, key)).data.customerByIdentity;
  expect(c.orders.nodes.map((o: any) => o.channel).sort()).toEqual(["pos", "youzan"]);
  const youzanTotal = c.orders.nodes.find((o: any) => o.channel === "youzan").total;
  expect(c.orders.nodes.find((o: any) => o.channel === "pos").total).toBe(12900);
  expect(c.stats).toEqual({ ordersCount: 2, totalSpent: youzanTotal + 12900 });
  expect(c.identities.map((i: any) => i.type)).toEqual(expect.arrayContaining(["PHONE", "YOUZAN_BUYER", "WECHAT_UNIONID"]));
});

it("puts a WeChat mini-program login with a unionid and a later Youzan order with that unionid on one customer", async () => {
  const { key } = await createTenant(t, "茶语 小程序");
  const mp = await connect(key, "wechat-miniprogram", { appId: "wx4f4bc4dec97d474b", appSecret: "0123456789abcdef0123456789abcdef", token: "crmToken2026", apiBase: wechatBase });
  const login = await t.gql(
    `mutation($id: ID!) { wechatMiniProgramLogin(input: {connectionId: $id, code: "081xYz000abc"}) { customerId userErrors { field code message } } }`,
    { id: mp.id },
    key,
  );
  expect(login.errors).toBeUndefined();
  expect(login.data.wechatMiniProgramLogin.userErrors).toEqual([]);
  expect(JSON.stringify(login.body)).not.toContain("tiihtNczf5v6AKRyjwEUhQ==");
  const customerId = login.data.wechatMiniProgramLogin.customerId;

  const youzan = await connect(key, "youzan", YOUZAN);
  const y = await fetch(youzan.url, { method: "POST", headers: { "content-type": "application/json" }, body: youzanPaid });
  expect(await y.json()).toEqual({ code: 0, msg: "success" });

  const count = await t.gql(`{ customers { totalCount } }`, {}, key);
  expect(count.data.customers.totalCount).toBe(1);
  const c = (await t.gql(`query($u: String!) { customerByIdentity(type: WECHAT_UNIONID, value: $u) ${PERSON} }`, { u: UNIONID }, key)).data.customerByIdentity;
  expect(c.id).toBe(customerId);
  expect(c.identities.map((i: any) => i.type)).toEqual(expect.arrayContaining(["WECHAT_OPENID", "WECHAT_UNIONID", "PHONE", "YOUZAN_BUYER"]));
  expect(c.orders.nodes.map((o: any) => o.channel)).toEqual(["youzan"]);
  expect(c.stats.ordersCount).toBe(1);
});
