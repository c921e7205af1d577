import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

import { PULL_STATE, type YouzanConfig } from "../../adapters/youzan";
import type { PluginContext, PluginDefinition } from "../../src/plugins";
import { createTestServer, type TestServer } from "../helpers/test-server";

/**
 * The Youzan channel over real HTTP: pushes in both forms, Youzan's retries, refusals in Youzan's
 * form, and the reconciliation pull against a local server that speaks Youzan's open API.
 */

const sample = (name: string) => readFileSync(join(__dirname, "../fixtures/youzan", name));
const CLIENT_ID = "a3f9c2e17b5d4e8f06";
const SECRET = "7e1b9d2c4f6a8e0b3d5c7a9f1e2d4c6b";
const KDT_ID = "44870512";
const TID = "E20261120101530012300045";
const SUCCESS = { code: 0, msg: "success" };

let t: TestServer;
let webhook: string;

beforeAll(async () => {
  t = await createTestServer({ PUBLIC_URL: "https://crm.example.cn" });
  const connection = await createConnection("有赞 西湖茶语旗舰店", { clientId: CLIENT_ID, clientSecret: SECRET, kdtId: KDT_ID });
  webhook = `${t.url}${new URL(connection.webhookUrl).pathname}`;
  expect(connection.webhookUrl).toMatch(/^https:\/\/crm\.example\.cn\/channels\/youzan\/[0-9a-f-]{36}$/);
});
afterAll(() => t?.close());

async function createConnection(name: string, config: Record<string, unknown>): Promise<{ id: string; webhookUrl: string; config: Record<string, unknown> }> {
  const r = await t.gql(
    `mutation($name: String!, $config: JSONObject!) { createChannelConnection(input: {channel: "youzan", name: $name, config: $config}) { connection { id webhookUrl config } userErrors { field code message } } }`,
    { name, config },
  );
  expect(r.data.createChannelConnection.userErrors).toEqual([]);
  return r.data.createChannelConnection.connection;
}

async function post(body: Buffer | string, headers: Record<string, string> = {}, url = webhook) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json: json as any };
}

const md5 = (...parts: (string | Buffer)[]) => parts.reduce((h, p) => h.update(p), createHash("md5")).digest("hex");
const cloudHeaders = (body: Buffer) => ({ "event-sign": md5(CLIENT_ID, body, SECRET), "client-id": CLIENT_ID, "event-type": "trade_TradePaid" });

/** Everything a push could have changed, to prove that a refused or replayed one changed nothing. */
async function snapshot() {
  const r = await t.gql(`{
    customers(first: 50) { totalCount nodes { id updatedAt stats { ordersCount totalSpent } } }
    orders(first: 50) { totalCount nodes { externalId status total refunded updatedAt } }
  }`);
  return r.data;
}

const BUYER = `customerByIdentity(type: PHONE, value: "13857123456") {
  id displayName
  identities { type value }
  stats { ordersCount totalSpent currency }
  orders { nodes { externalId status total refunded subtotal discount shipping storeId placedAt paidAt completedAt items { sku title quantity unitPrice discount } } }
}`;

describe("youzan pushes", () => {
  it("records WAIT_BUYER_PAY, TRADE_PAID and TRADE_SUCCESS as one customer with one completed order", async () => {
    const before = await snapshot();
    for (const [file, status] of [
      ["push-trade-wait-buyer-pay.json", "PLACED"],
      ["push-trade-paid.json", "PAID"],
      ["push-trade-success.json", "COMPLETED"],
    ] as const) {
      const r = await post(sample(file));
      expect(r).toEqual({ status: 200, json: SUCCESS });
      const order = await t.gql(`{ orders(first: 5, filter: {channel: "youzan"}) { nodes { externalId status } } }`);
      expect(order.data.orders.nodes).toEqual([{ externalId: TID, status }]);
    }
    const after = await snapshot();
    expect(after.customers.totalCount).toBe(before.customers.totalCount + 1);
    expect(after.orders.totalCount).toBe(before.orders.totalCount + 1);

    const c = (await t.gql(`{ ${BUYER} }`)).data.customerByIdentity;
    expect(c.stats).toEqual({ ordersCount: 1, totalSpent: 25790, currency: "CNY" });
    expect(c.identities).toEqual(
      expect.arrayContaining([
        { type: "PHONE", value: "+8613857123456" },
        { type: "YOUZAN_BUYER", value: "yz_open_id:kTqL3mXq8wYzRb2eN5vH7pC1" },
        { type: "YOUZAN_BUYER", value: "buyer_id:8801234567890123456" },
        { type: "YOUZAN_BUYER", value: "fans_id:5732108" },
        { type: "WECHAT_UNIONID", value: "oKx5s1Wc7eH2jZr9TqB3mN6pV0aY" },
      ]),
    );
    expect(c.orders.nodes).toEqual([
      {
        externalId: TID,
        status: "COMPLETED",
        total: 25790,
        refunded: 0,
        subtotal: 26590,
        discount: 1600,
        shipping: 800,
        storeId: KDT_ID,
        placedAt: "2026-11-20T02:15:30.000Z",
        paidAt: "2026-11-20T02:16:02.000Z",
        completedAt: "2026-11-28T12:05:11.000Z",
        items: [
          { sku: "LJ-MQ-250", title: "西湖龙井 明前特级 250g", quantity: "2", unitPrice: 12800, discount: 1550 },
          { sku: "BZ-GIFT", title: "礼盒包装", quantity: "1", unitPrice: 990, discount: 50 },
        ],
      },
    ]);
  });

  it("answers Youzan's retry (send_count 1, same id) with success and changes nothing", async () => {
    const before = await snapshot();
    const r = await post(sample("push-trade-success-retry.json"));
    expect(r).toEqual({ status: 200, json: SUCCESS });
    // The earlier states again, as Youzan redelivers them after a timeout: duplicates too.
    for (const file of ["push-trade-paid.json", "push-trade-wait-buyer-pay.json"]) expect(await post(sample(file))).toEqual({ status: 200, json: SUCCESS });
    expect(await snapshot()).toEqual(before);
  });

  it("nets a successful refund out of the customer's stats, and records nothing for a pending one", async () => {
    expect(await post(sample("push-refund-pending.json"))).toEqual({ status: 200, json: SUCCESS });
    let c = (await t.gql(`{ ${BUYER} }`)).data.customerByIdentity;
    expect(c.stats).toMatchObject({ ordersCount: 1, totalSpent: 25790 });

    expect(await post(sample("push-refund-success.json"))).toEqual({ status: 200, json: SUCCESS });
    c = (await t.gql(`{ ${BUYER} }`)).data.customerByIdentity;
    expect(c.stats).toMatchObject({ ordersCount: 1, totalSpent: 25790 - 12025 });
    expect(c.orders.nodes[0]).toMatchObject({ status: "COMPLETED", total: 25790, refunded: 12025 });

    const before = await snapshot();
    expect(await post(sample("push-refund-success.json"))).toEqual({ status: 200, json: SUCCESS });
    expect(await snapshot()).toEqual(before);
  });

  it("adds member and member-card events to the same customer", async () => {
    const before = await snapshot();
    for (const file of ["push-member-updated.json", "push-member-card.json"]) expect(await post(sample(file))).toEqual({ status: 200, json: SUCCESS });
    const after = await snapshot();
    expect(after.customers.totalCount).toBe(before.customers.totalCount);
    const c = (await t.gql(`{ ${BUYER} }`)).data.customerByIdentity;
    expect(c.displayName).toBe("王小芳");
    expect(c.identities).toEqual(expect.arrayContaining([{ type: "YOUZAN_BUYER", value: "buyer_id:725462007" }]));
  });

  it("answers a forged sign, another app's client_id or a wrong Event-Sign with 401 in Youzan's form, writing nothing", async () => {
    const before = await snapshot();
    const body = JSON.parse(sample("push-trade-paid.json").toString("utf8"));
    const forged = [
      JSON.stringify({ ...body, sign: md5(CLIENT_ID, body.msg, "not-the-secret-0000000000000000") }),
      JSON.stringify({ ...body, msg: body.msg.replace("257.90", "0.01") }),
      JSON.stringify({ ...body, client_id: "b000000000000000ff" }),
      JSON.stringify({ ...body, sign: undefined }),
    ];
    for (const f of forged) {
      const r = await post(f);
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ code: 401, msg: expect.any(String) });
    }
    const cloudBody = sample("cloud-trade-paid.json");
    const wrong = await post(cloudBody, { ...cloudHeaders(cloudBody), "event-sign": md5(CLIENT_ID, cloudBody, "x".repeat(32)) });
    expect(wrong).toEqual({ status: 401, json: { code: 401, msg: expect.stringContaining("Event-Sign does not match") } });
    expect(await snapshot()).toEqual(before);
  });

  it("answers an authentic push whose msg is malformed with 400 and the reason", async () => {
    const before = await snapshot();
    const r = await post(sample("push-malformed-msg.json"));
    expect(r).toEqual({ status: 400, json: { code: 400, msg: expect.stringMatching(/^msg is not valid JSON/) } });
    const noTid = await post(sample("push-trade-without-tid.json"));
    expect(noTid).toEqual({ status: 400, json: { code: 400, msg: expect.stringContaining("msg.full_order_info.order_info.tid") } });
    expect(await snapshot()).toEqual(before);
  });

  it("acknowledges test pushes and unknown message types without recording anything", async () => {
    const before = await snapshot();
    expect(await post(sample("push-test.json"))).toEqual({ status: 200, json: SUCCESS });
    expect(await post(sample("push-item-state.json"))).toEqual({ status: 200, json: SUCCESS });
    const cloudTest = sample("cloud-test.json");
    expect(await post(cloudTest, cloudHeaders(cloudTest))).toEqual({ status: 200, json: SUCCESS });
    expect(await snapshot()).toEqual(before);
  });

  it("takes the Youzan Cloud form signed in Event-Sign", async () => {
    const body = sample("cloud-trade-paid.json");
    expect(await post(body, cloudHeaders(body))).toEqual({ status: 200, json: SUCCESS });
    const r = await t.gql(`{ customerByIdentity(type: YOUZAN_BUYER, value: "yz_open_id:pW3nB8cXk2LqT5vY9dR4eJ7s") { stats { ordersCount totalSpent } orders { nodes { externalId status total } } } }`);
    expect(r.data.customerByIdentity).toEqual({ stats: { ordersCount: 1, totalSpent: 123456789 }, orders: { nodes: [{ externalId: "E20261121083000567800021", status: "PAID", total: 123456789 }] } });
  });
});

// ---------------------------------------------------------------------------------------------
// The pull, against a local server speaking Youzan's open API
// ---------------------------------------------------------------------------------------------

interface Call {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
}

/** `full_order_info` JSON text of a pushed sample, so big numbers stay exact in the API's answer. */
const snapshotText = (file: string) => decodeURIComponent(JSON.parse(sample(file).toString("utf8")).msg);
const PULL_ONLY_TID = "E20261122093000998800033";

describe("youzan reconciliation pull", () => {
  let api: Server;
  let apiBase: string;
  const calls: Call[] = [];
  let tokens = 0;
  let pullConnectionId: string;
  let pullConnectionGlobalId: string;
  let ctx: PluginContext<YouzanConfig>;
  let plugin: PluginDefinition<YouzanConfig>;

  beforeAll(async () => {
    api = createServer(async (req, res) => {
      const url = new URL(req.url!, "http://local");
      const raw = await readBody(req);
      calls.push({ method: req.method!, path: url.pathname, query: Object.fromEntries(url.searchParams), body: raw ? JSON.parse(raw) : null });
      res.setHeader("content-type", "application/json;charset=UTF-8");
      if (url.pathname === "/auth/token") {
        tokens++;
        res.end(JSON.stringify({ success: true, code: 200, message: "success", data: { access_token: `token-${tokens}`, expires: Date.now() + 7 * 86400_000, scope: "trade", authority_id: KDT_ID } }));
        return;
      }
      if (url.pathname === "/api/youzan.trades.sold.get/4.0.0") {
        if (!url.searchParams.get("access_token")?.startsWith("token-")) {
          res.end(JSON.stringify({ gw_err_resp: { err_msg: "access_token不存在", err_code: 4201 } }));
          return;
        }
        // Two trades: one the pushes already delivered, one only the pull sees (same buyer).
        const list = [snapshotText("push-trade-success.json"), snapshotText("push-trade-paid.json").replaceAll(TID, PULL_ONLY_TID)];
        const page = Number(url.searchParams.get("page_no"));
        const items = page === 1 ? list : [];
        res.end(`{"success":true,"code":200,"message":"successful","data":{"total_results":${list.length},"full_order_info_list":[${items.join(",")}]}}`);
        return;
      }
      res.statusCode = 404;
      res.end("{}");
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    apiBase = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    const connection = await createConnection("有赞 对账拉取", { clientId: CLIENT_ID, clientSecret: SECRET, kdtId: KDT_ID, apiBase, pullIntervalMinutes: 10 });
    expect(connection.config).not.toHaveProperty("clientSecret");
    pullConnectionGlobalId = connection.id;
    pullConnectionId = new URL(connection.webhookUrl).pathname.split("/").pop()!;
    const host = t.server.app.plugins;
    plugin = host.get("youzan") as PluginDefinition<YouzanConfig>;
    ctx = host.context(plugin as PluginDefinition<unknown>) as PluginContext<YouzanConfig>;
  });
  afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

  /** The pull, started as an operator would: runPluginJob with the platform key; it must end without an error. */
  const runJob = async () => {
    const r = await t.gql(`mutation { runPluginJob(input: {plugin: "youzan", job: "pull-trades"}) { run { succeeded error } userErrors { code } } }`, {}, t.platformKey);
    expect(r.data.runPluginJob).toEqual({ run: { succeeded: true, error: null }, userErrors: [] });
  };

  it("is a job of the plugin that the queue runs every minute, once per cluster", async () => {
    expect(plugin.jobs!.map((j) => [j.name, j.cron, j.everyMs])).toEqual([["pull-trades", "* * * * *", undefined]]);
    const [schedule] = await t.server.app.db.dataSource.query(`SELECT name, cron FROM pgboss.schedule WHERE name = 'plugin.youzan.pull-trades'`);
    expect(schedule).toEqual({ name: "plugin.youzan.pull-trades", cron: "* * * * *" });
    const [queue] = await t.server.app.db.dataSource.query(`SELECT policy FROM pgboss.queue WHERE name = 'plugin.youzan.pull-trades'`);
    expect(queue.policy).toBe("stately");
  });

  it("gets a silent token for the shop, pulls trades updated since the cursor, and dedupes them with the pushes", async () => {
    const before = await snapshot();
    const started = Date.now();
    await runJob();
    const finished = Date.now();

    // Only the connection with pullIntervalMinutes was pulled: one token, one page.
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(["POST /auth/token", "GET /api/youzan.trades.sold.get/4.0.0"]);
    expect(calls[0].body).toEqual({ client_id: CLIENT_ID, client_secret: SECRET, authorize_type: "silent", grant_id: KDT_ID, refresh: false });
    const q = calls[1].query;
    expect(q).toMatchObject({ access_token: "token-1", page_no: "1", page_size: "100" });
    expect(q.start_update).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    // First pull: the last 24 hours, ending a minute before now (Youzan's index lags), in Beijing time.
    const [from, to] = [beijing(q.start_update), beijing(q.end_update)];
    // Between the job's start and end, less the minute, however slow the machine (the format has whole seconds).
    expect(to).toBeGreaterThanOrEqual(started - 60_000 - 1_000);
    expect(to).toBeLessThanOrEqual(finished - 60_000);
    expect(to - from).toBe(24 * 3600_000);

    const after = await snapshot();
    // The pushed trade was a duplicate; the one pushes missed is new, for the same customer.
    expect(after.orders.totalCount).toBe(before.orders.totalCount + 1);
    const pushed = after.orders.nodes.find((o: { externalId: string }) => o.externalId === TID);
    expect(pushed).toEqual(before.orders.nodes.find((o: { externalId: string }) => o.externalId === TID));
    const c = (await t.gql(`{ ${BUYER} }`)).data.customerByIdentity;
    expect(c.stats).toMatchObject({ ordersCount: 2, totalSpent: 25790 - 12025 + 25790 });
    expect(c.orders.nodes.find((o: { externalId: string }) => o.externalId === PULL_ONLY_TID)).toMatchObject({ status: "PAID", total: 25790, storeId: KDT_ID });
  });

  it("waits for the connection's interval, then resumes from its cursor with the cached token", async () => {
    calls.length = 0;
    await runJob();
    expect(calls).toEqual([]); // not due yet

    const state = ctx.state(pullConnectionId);
    const cursor = (await state.get<number>(PULL_STATE.cursor))!;
    expect(typeof cursor).toBe("number");
    await state.set(PULL_STATE.lastRunAt, Date.now() - 10 * 60_000);
    const before = await snapshot();
    await runJob();
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /api/youzan.trades.sold.get/4.0.0"]);
    expect(calls[0].query.access_token).toBe("token-1");
    // From the previous window's end, less five minutes of overlap.
    expect(beijing(calls[0].query.start_update)).toBe(Math.floor(cursor / 1000) * 1000 - 5 * 60_000);
    expect(await snapshot()).toEqual(before); // everything pulled again is a duplicate
  });

  it("renews a token Youzan no longer accepts and retries the page", async () => {
    calls.length = 0;
    const state = ctx.state(pullConnectionId);
    await state.set(PULL_STATE.token, { value: "revoked", expiresAt: Date.now() + 86400_000 });
    await state.set(PULL_STATE.lastRunAt, Date.now() - 10 * 60_000);
    await runJob();
    expect(calls.map((c) => `${c.method} ${c.path} ${c.query.access_token ?? ""}`.trim())).toEqual([
      "GET /api/youzan.trades.sold.get/4.0.0 revoked",
      "POST /auth/token",
      "GET /api/youzan.trades.sold.get/4.0.0 token-2",
    ]);
  });

  it("keeps the cursor when the API fails, so the next pull covers the window again", async () => {
    const state = ctx.state(pullConnectionId);
    const cursor = await state.get<number>(PULL_STATE.cursor);
    await t.gql(`mutation($id: ID!, $config: JSONObject!) { updateChannelConnection(input: {id: $id, config: $config}) { userErrors { field } } }`, {
      id: pullConnectionGlobalId,
      config: { apiBase: `${apiBase}/down` },
    });
    await state.set(PULL_STATE.lastRunAt, Date.now() - 10 * 60_000);
    calls.length = 0;
    await runJob(); // logged, not thrown: other shops' pulls go on
    expect(calls.length).toBeGreaterThan(0);
    expect(await state.get<number>(PULL_STATE.cursor)).toBe(cursor);
  });
});

/** A Youzan query time ("YYYY-MM-DD HH:mm:ss", Beijing) as epoch milliseconds. */
const beijing = (time: string) => Date.parse(`${time.replace(" ", "T")}+08:00`);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (data += chunk));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}
