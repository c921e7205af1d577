import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { aesCbcRaw, framed, plainPush, safePush, sample, sha1Signature, wechatEncrypt, type Push } from "../fixtures/wechat-miniprogram/sender";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * The wechat-miniprogram channel end to end: WeChat's pushes over real HTTP with real signatures
 * and AES, and the login / phone mutations against a local stand-in for api.weixin.qq.com that
 * speaks WeChat's documented JSON.
 */

const APP_ID = "wx5f8d3c2b1a0e9f47";
const APP_SECRET = "7c1e2d9a4b6f80e3c5d7a9b1f3e5c7d9";
const TOKEN = "Xh7qT2mP9vKc";
const AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP = { appId: APP_ID, token: TOKEN, encodingAesKey: AES_KEY };
const OPENID = "oQ7x45Jq3bS8vTz1mNcR9pLkW2dE";
/** What WeChat's jscode2session hands out alongside the openid; it must never reach our API or database. */
const SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ==";

// ---------------------------------------------------------------------------------------------
// A local api.weixin.qq.com: jscode2session, cgi-bin/token and getuserphonenumber.
// ---------------------------------------------------------------------------------------------
interface FakeWechat {
  url: string;
  calls: { path: string; query: URLSearchParams; body: string }[];
  tokenCalls: () => number;
  /** Makes WeChat forget every access token issued so far (as a refresh elsewhere would). */
  revokeTokens: () => void;
  close: () => Promise<void>;
}

const LOGINS: Record<string, object> = {
  "code-wang": { openid: OPENID, session_key: SESSION_KEY, unionid: "oU1bZ0x9Wq8VnRt7YsKp3LmJ6hGf" },
  "code-li": { openid: "oQ7x45Lq3bS8vTz1mNcR9pLkW2dF", session_key: SESSION_KEY },
  "code-zhao": { openid: "oQ7x45Zq3bS8vTz1mNcR9pLkW2dG", session_key: SESSION_KEY },
  "code-sun": { openid: "oQ7x45Sq3bS8vTz1mNcR9pLkW2dH", session_key: SESSION_KEY },
  "code-used": { errcode: 40029, errmsg: "invalid code, rid: 6571f0a2-1b2c3d4e-5f6a7b8c" },
  "code-busy": { errcode: 45011, errmsg: "api minute-quota reach limit  mustslower  retry next minute" },
  "code-risky": { errcode: 40226, errmsg: "high risk user" },
};

const PHONES: Record<string, { phone: string; appid?: string }> = {
  "phone-wang": { phone: "13800138001" },
  "phone-li": { phone: "13800138002" },
  "phone-zhao": { phone: "13800138003" },
  "phone-sun": { phone: "13800138004" },
  "phone-other-app": { phone: "13800138009", appid: "wx0000000000000000" },
};

async function fakeWechat(): Promise<FakeWechat> {
  const calls: FakeWechat["calls"] = [];
  let issued = 0;
  const valid = new Set<string>();
  const json = (res: import("node:http").ServerResponse, body: object) => {
    // WeChat answers JSON with a text/plain content type, as the real API often does.
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const u = new URL(req.url ?? "/", "http://wechat.local");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    calls.push({ path: u.pathname, query: u.searchParams, body });
    const q = u.searchParams;
    if (u.pathname === "/sns/jscode2session" && req.method === "GET") {
      if (q.get("appid") !== APP_ID || q.get("secret") !== APP_SECRET || q.get("grant_type") !== "authorization_code") {
        return json(res, { errcode: 40125, errmsg: "invalid appsecret" });
      }
      return json(res, LOGINS[q.get("js_code") ?? ""] ?? { errcode: 40029, errmsg: "invalid code" });
    }
    if (u.pathname === "/cgi-bin/token" && req.method === "GET") {
      if (q.get("appid") !== APP_ID || q.get("secret") !== APP_SECRET || q.get("grant_type") !== "client_credential") {
        return json(res, { errcode: 40125, errmsg: "invalid appsecret" });
      }
      issued++;
      const token = `ACCESS_TOKEN_${issued}`;
      // Slow enough that concurrent callers overlap, as they would against the real API.
      await new Promise((r) => setTimeout(r, 150));
      valid.add(token);
      return json(res, { access_token: token, expires_in: 7200 });
    }
    if (u.pathname === "/wxa/business/getuserphonenumber" && req.method === "POST") {
      if (!valid.has(q.get("access_token") ?? "")) return json(res, { errcode: 40001, errmsg: "invalid credential, access_token is invalid or not latest" });
      const code = (JSON.parse(body) as { code?: string }).code ?? "";
      const p = PHONES[code];
      if (!p) return json(res, { errcode: 40029, errmsg: "invalid code" });
      return json(res, {
        errcode: 0,
        errmsg: "ok",
        phone_info: { phoneNumber: p.phone, purePhoneNumber: p.phone, countryCode: "86", watermark: { timestamp: 1763606500, appid: p.appid ?? APP_ID } },
      });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    tokenCalls: () => calls.filter((c) => c.path === "/cgi-bin/token").length,
    revokeTokens: () => valid.clear(),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

// ---------------------------------------------------------------------------------------------

let t: TestServer;
let wechat: FakeWechat;
let connectionId: string;
let localConnectionId: string;
let webhook: string;

beforeAll(async () => {
  wechat = await fakeWechat();
  t = await createTestServer();
  const r = await t.gql(
    `mutation($config: JSONObject!) { createChannelConnection(input: {channel: "wechat-miniprogram", name: "西湖茶庄小程序", config: $config}) { connection { id webhookUrl config } userErrors { field code message } } }`,
    { config: { appId: APP_ID, appSecret: APP_SECRET, token: TOKEN, encodingAesKey: AES_KEY, apiBase: wechat.url } },
  );
  expect(r.data.createChannelConnection.userErrors).toEqual([]);
  const c = r.data.createChannelConnection.connection;
  // No secret comes back: appSecret, token and encodingAesKey are secretKeys.
  expect(c.config).toEqual({ appId: APP_ID, apiBase: wechat.url });
  connectionId = c.id;
  localConnectionId = Buffer.from(c.id, "base64url").toString().split(":")[1];
  webhook = `${t.url}${new URL(c.webhookUrl).pathname}`;
  expect(new URL(c.webhookUrl).pathname).toBe(`/channels/wechat-miniprogram/${localConnectionId}`);
});
afterAll(async () => {
  await t?.close();
  await wechat?.close();
});

async function deliver(push: Push, opts: { method?: "GET" | "POST"; contentType?: string } = {}) {
  const res = await fetch(`${webhook}?${new URLSearchParams(push.query)}`, {
    method: opts.method ?? "POST",
    headers: { "content-type": opts.contentType ?? "text/xml" },
    body: opts.method === "GET" ? undefined : push.body,
  });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

const sql = <T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> => t.server.app.db.dataSource.query(query, params);
const ingested = async (externalId?: string) =>
  Number(
    (
      await sql<{ n: string }>(`SELECT count(*) AS n FROM ingested_events WHERE connection_id = $1 AND ($2::text IS NULL OR external_id = $2)`, [
        localConnectionId,
        externalId ?? null,
      ])
    )[0].n,
  );
const nonceMarkers = async (nonce: string) =>
  Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM plugin_state WHERE connection_id = $1 AND key LIKE $2`, [localConnectionId, `nonce:${nonce}:%`]))[0].n);
const customerByOpenid = async (openid: string) =>
  (await t.gql(`query($v: String!) { customerByIdentity(type: WECHAT_OPENID, value: $v) { id phone identities { type value } } }`, { v: openid })).data
    .customerByIdentity as { id: string; phone: string | null; identities: { type: string; value: string }[] } | null;

const LOGIN = `mutation($input: WechatMiniProgramLoginInput!) { wechatMiniProgramLogin(input: $input) { customerId openid unionid userErrors { field code message } } }`;
const BIND = `mutation($input: WechatMiniProgramBindPhoneInput!) { wechatMiniProgramBindPhone(input: $input) { customerId userErrors { field code message } } }`;
const login = (code: string, key?: string, id = connectionId) => t.gql(LOGIN, { input: { connectionId: id, code } }, key);
const bind = (customerId: string, code: string, key?: string, id = connectionId) => t.gql(BIND, { input: { connectionId: id, customerId, code } }, key);

describe("wechat-miniprogram message push", () => {
  it("answers WeChat's URL verification with echostr, and 401 to a wrong signature", async () => {
    const ok = await deliver({ ...plainPush(APP, ""), query: { ...plainPush(APP, "").query, echostr: "6584396170593459285" } }, { method: "GET" });
    expect(ok).toEqual({ status: 200, contentType: "text/plain; charset=utf-8", text: "6584396170593459285" });
    const q = plainPush({ token: "notOurToken" }, "").query;
    const bad = await deliver({ query: { ...q, echostr: "6584396170593459285" }, body: Buffer.alloc(0) }, { method: "GET" });
    expect(bad.status).toBe(401);
    expect(bad.text).not.toContain("6584396170593459285");
  });

  it("answers the safe-mode URL verification with the decrypted echostr", async () => {
    const echostr = wechatEncrypt(AES_KEY, APP_ID, "7044815562935261330");
    const q = plainPush(APP, "").query;
    const r = await deliver({ query: { ...q, echostr, msg_signature: sha1Signature([TOKEN, q.timestamp, q.nonce, echostr]) }, body: Buffer.alloc(0) }, { method: "GET" });
    expect(r).toEqual({ status: 200, contentType: "text/plain; charset=utf-8", text: "7044815562935261330" });
  });

  it("takes a safe-mode text message: success, and the customer is found by openid with the message kept", async () => {
    const r = await deliver(safePush(APP, sample("text.xml")));
    expect(r).toEqual({ status: 200, contentType: "text/plain; charset=utf-8", text: "success" });
    const customer = await customerByOpenid(OPENID);
    expect(customer).not.toBeNull();
    expect(customer!.identities).toContainEqual({ type: "WECHAT_OPENID", value: OPENID });
    const [row] = await sql<{ type: string; payload: string; customer_id: string }>(
      `SELECT type, payload, customer_id FROM ingested_events WHERE connection_id = $1 AND external_id = $2`,
      [localConnectionId, "msg:7305318569243146241"],
    );
    expect(row.type).toBe("message.received");
    expect(row.payload).toMatch(/^p1:/); // the message is kept encrypted
    expect(t.server.app.dataKeys.decryptJson<{ payload: unknown }>(row.payload).payload).toEqual({ threadId: OPENID, text: "你好，请问西湖龙井 250g 礼盒还有货吗？" });
    expect(Buffer.from(customer!.id, "base64url").toString()).toBe(`Customer:${row.customer_id}`);
  });

  it("answers WeChat's retry of the same message with success, and keeps one event", async () => {
    const again = await deliver(safePush(APP, sample("text.xml")));
    expect(again).toMatchObject({ status: 200, text: "success" });
    expect(await ingested("msg:7305318569243146241")).toBe(1);
  });

  it("takes plain-mode XML and JSON, keeping a MsgId beyond 2^53 exact", async () => {
    expect((await deliver(plainPush(APP, sample("image.xml")))).text).toBe("success");
    expect((await deliver(plainPush(APP, sample("text.json")), { contentType: "application/json" })).text).toBe("success");
    expect((await deliver(safePush(APP, sample("miniprogrampage.json")), { contentType: "application/json" })).text).toBe("success");
    expect(await ingested("msg:7305318569243146242")).toBe(1);
    expect(await ingested("msg:23473234567890123456")).toBe(1);
    expect(await ingested("msg:7305318569243146243")).toBe(1);
  });

  it("acknowledges kinds it does not read (voice) without writing anything", async () => {
    const before = await ingested();
    expect(await deliver(safePush(APP, sample("voice.xml")))).toMatchObject({ status: 200, text: "success" });
    expect(await ingested()).toBe(before);
  });

  it("takes WeChat's retry of a request (same nonce) that failed with 503 for want of the database", async () => {
    const message = sample("text.xml").toString().replace("7305318569243146241", "7305318569243149999").replace("还有货吗", "明天能发货吗");
    const push = safePush(APP, message);
    // A real failure inside the database for this one event: the ingest transaction rolls back.
    await sql(`CREATE FUNCTION refuse_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$`);
    await sql(`CREATE TRIGGER refuse_once BEFORE INSERT ON ingested_events FOR EACH ROW WHEN (NEW.external_id = 'msg:7305318569243149999') EXECUTE FUNCTION refuse_once()`);
    try {
      const failed = await deliver(push);
      expect(failed.status).toBe(503);
      expect(await ingested("msg:7305318569243149999")).toBe(0);
      expect(await nonceMarkers(push.query.nonce)).toBe(0); // released: the retry must not look like a replay
    } finally {
      await sql(`DROP TRIGGER refuse_once ON ingested_events`);
      await sql(`DROP FUNCTION refuse_once()`);
    }
    expect(await deliver(push)).toMatchObject({ status: 200, text: "success" });
    expect(await ingested("msg:7305318569243149999")).toBe(1);
    expect(await nonceMarkers(push.query.nonce)).toBe(1);
    expect((await deliver(push)).status).toBe(401); // and now it is a replay
  });

  describe("refuses, writing nothing", () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => Push, number, string][] = [
      ["a forged signature", () => safePush({ ...APP, token: "forgedToken1" }, sample("text-without-sender.xml").toString().replace("没有发送者的消息", "伪造")), 401, "msg_signature does not match"],
      ["a forged plain signature", () => plainPush({ token: "forgedToken1" }, sample("image.xml")), 401, "signature does not match"],
      ["a stale timestamp", () => safePush(APP, sample("user-enter-tempsession.xml"), { timestamp: String(now() - 600) }), 401, "stale timestamp"],
      ["a timestamp from the future", () => safePush(APP, sample("user-enter-tempsession.xml"), { timestamp: String(now() + 600) }), 401, "ahead of the server clock"],
      ["another app's message", () => safePush(APP, sample("user-enter-tempsession.xml"), { appId: "wx0000000000000000" }), 401, "another app id"],
      [
        "bad padding",
        () => {
          // Correctly framed and signed, but padded with zero bytes instead of PKCS#7.
          const f = framed(sample("user-enter-tempsession.xml"), APP_ID);
          const encrypt = aesCbcRaw(AES_KEY, Buffer.concat([f, Buffer.alloc(32 - (f.length % 32), 0)])).toString("base64");
          return safePush(APP, "", { encrypt, format: "xml" });
        },
        401,
        "bad padding",
      ],
      ["a truncated ciphertext", () => safePush(APP, "", { encrypt: wechatEncrypt(AES_KEY, APP_ID, sample("user-enter-tempsession.xml")).slice(0, -24), format: "xml" }), 401, "cannot decrypt"],
      ["malformed XML in plain mode", () => plainPush(APP, sample("malformed.xml")), 400, "malformed XML"],
      ["malformed XML inside a safe-mode envelope", () => safePush(APP, sample("malformed.xml")), 400, "malformed XML"],
      ["a message without sender", () => safePush(APP, sample("text-without-sender.xml")), 400, "FromUserName: required"],
    ];
    it.each(cases)("%s", async (_name, build, status, reason) => {
      const before = await ingested();
      const customers = (await t.gql(`{ customers { totalCount } }`)).data.customers.totalCount;
      const push = build();
      const r = await deliver(push);
      expect(r.status).toBe(status);
      expect((JSON.parse(r.text) as { reason: string }).reason).toContain(reason);
      expect(await ingested()).toBe(before);
      expect((await t.gql(`{ customers { totalCount } }`)).data.customers.totalCount).toBe(customers);
      // Unauthenticated requests leave no replay marker either; authentic ones (400) do.
      expect(await nonceMarkers(push.query.nonce)).toBe(status === 401 ? 0 : 1);
    });

    it("a replay of an accepted request (same nonce and timestamp)", async () => {
      const push = safePush(APP, sample("user-enter-tempsession.xml"));
      expect((await deliver(push)).text).toBe("success");
      const before = await ingested();
      const replay = await deliver(push);
      expect(replay.status).toBe(401);
      expect(replay.text).toContain("replayed request");
      expect(await ingested()).toBe(before);
    });
  });
});

describe("wechatMiniProgramLogin", () => {
  it("exchanges the code, creates or updates the customer by openid and unionid, and never exposes session_key", async () => {
    const r = await login("code-wang");
    expect(r.errors).toBeUndefined();
    const payload = r.data.wechatMiniProgramLogin;
    expect(payload).toMatchObject({ openid: OPENID, unionid: "oU1bZ0x9Wq8VnRt7YsKp3LmJ6hGf", userErrors: [] });
    // The customer the earlier message created, now with the unionid too.
    const customer = await customerByOpenid(OPENID);
    expect(payload.customerId).toBe(customer!.id);
    expect(customer!.identities).toEqual(
      expect.arrayContaining([
        { type: "WECHAT_OPENID", value: OPENID },
        { type: "WECHAT_UNIONID", value: "oU1bZ0x9Wq8VnRt7YsKp3LmJ6hGf" },
      ]),
    );
    const call = wechat.calls.find((c) => c.path === "/sns/jscode2session" && c.query.get("js_code") === "code-wang")!;
    expect(Object.fromEntries(call.query)).toEqual({ appid: APP_ID, secret: APP_SECRET, js_code: "code-wang", grant_type: "authorization_code" });

    expect(JSON.stringify(r.body)).not.toMatch(/session_key|sessionKey/i);
    expect(JSON.stringify(r.body)).not.toContain(SESSION_KEY);
  });

  it("leaves session_key in no table of the database", async () => {
    const tables = await sql<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    );
    expect(tables.map((x) => x.table_name)).toEqual(expect.arrayContaining(["plugin_state", "ingested_events", "customers", "customer_identities"]));
    for (const { table_name } of tables) {
      const [row] = await sql<{ n: string }>(`SELECT count(*) AS n FROM "${table_name}" x WHERE strpos(x::text, $1) > 0 OR strpos(x::text, 'session_key') > 0`, [SESSION_KEY]);
      expect([table_name, Number(row.n)]).toEqual([table_name, 0]);
    }
    // The plugin did write state (replay markers, the login record), so the scan looked at real rows.
    expect(Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM plugin_state WHERE connection_id = $1`, [localConnectionId]))[0].n)).toBeGreaterThan(0);
  });

  it("gives a repeated login the same customer", async () => {
    const again = await login("code-wang");
    expect(again.data.wechatMiniProgramLogin.customerId).toBe((await customerByOpenid(OPENID))!.id);
  });

  it.each([
    ["code-used", { field: ["code"], code: "INVALID" }, "40029"],
    ["code-busy", { field: null, code: "RATE_LIMITED" }, "45011"],
    ["code-risky", { field: null, code: "REFUSED" }, "40226"],
  ])("turns WeChat's refusal of %s into a userError carrying the errcode", async (code, expected, errcode) => {
    const before = await ingested();
    const r = await login(code);
    const payload = r.data.wechatMiniProgramLogin;
    expect(payload).toMatchObject({ customerId: null, openid: null, unionid: null });
    expect(payload.userErrors).toEqual([{ ...expected, message: expect.stringContaining(`errcode ${errcode}`) }]);
    expect(await ingested()).toBe(before);
  });

  it("refuses an unknown connection id, and another tenant's, with NOT_FOUND", async () => {
    const unknown = Buffer.from("ChannelConnection:00000000-0000-4000-8000-000000000000").toString("base64url");
    expect((await login("code-li", undefined, unknown)).data.wechatMiniProgramLogin.userErrors).toEqual([
      { field: ["connectionId"], code: "NOT_FOUND", message: "No such wechat-miniprogram connection" },
    ]);
    const other = await createTenant(t, "别家茶庄");
    const calls = wechat.calls.length;
    const r = await login("code-li", other.key);
    expect(r.data.wechatMiniProgramLogin.userErrors).toEqual([{ field: ["connectionId"], code: "NOT_FOUND", message: "No such wechat-miniprogram connection" }]);
    expect(wechat.calls.length).toBe(calls);
  });

  it("is FORBIDDEN to a key without the ingest scope, before WeChat is called", async () => {
    const { key } = await createKey(t, ["customers:read", "customers:write"]);
    const calls = wechat.calls.length;
    const r = await login("code-li", key);
    expect(r.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(r.data?.wechatMiniProgramLogin ?? null).toBeNull();
    expect(wechat.calls.length).toBe(calls);
    const ingestOnly = await createKey(t, ["ingest"]);
    expect((await login("code-li", ingestOnly.key)).data.wechatMiniProgramLogin.userErrors).toEqual([]);
  });
});

describe("wechatMiniProgramBindPhone", () => {
  const loggedIn = async (code: string) => {
    const r = await login(code);
    expect(r.data.wechatMiniProgramLogin.userErrors).toEqual([]);
    return r.data.wechatMiniProgramLogin.customerId as string;
  };

  it("fetches one access token for three concurrent binds, and attaches each verified phone", async () => {
    const [li, zhao, sun] = await Promise.all([loggedIn("code-li"), loggedIn("code-zhao"), loggedIn("code-sun")]);
    expect(wechat.tokenCalls()).toBe(0);
    const results = await Promise.all([bind(li, "phone-li"), bind(zhao, "phone-zhao"), bind(sun, "phone-sun")]);
    expect(results.map((r) => r.data.wechatMiniProgramBindPhone)).toEqual([
      { customerId: li, userErrors: [] },
      { customerId: zhao, userErrors: [] },
      { customerId: sun, userErrors: [] },
    ]);
    expect(wechat.tokenCalls()).toBe(1);
    const phoneCall = wechat.calls.find((c) => c.path === "/wxa/business/getuserphonenumber")!;
    expect(phoneCall.query.get("access_token")).toBe("ACCESS_TOKEN_1");
    expect(JSON.parse(phoneCall.body)).toEqual({ code: expect.stringMatching(/^phone-/) });
    const c = (await t.gql(`{ customerByIdentity(type: PHONE, value: "+8613800138003") { id phone attributes identities { type value sourceChannel } } }`)).data.customerByIdentity;
    expect(c.id).toBe(zhao);
    expect(c.phone).toBe("+8613800138003");
    expect(c.attributes).toMatchObject({ wechatPhoneVerifiedAt: "2025-11-20T02:41:40.000Z" });
    expect(c.identities).toContainEqual({ type: "PHONE", value: "+8613800138003", sourceChannel: "wechat-miniprogram" });
    // The cached token serves the next call too.
    expect((await bind(await loggedIn("code-wang"), "phone-wang")).data.wechatMiniProgramBindPhone.userErrors).toEqual([]);
    expect(wechat.tokenCalls()).toBe(1);
    // The token never appears in the API, and is kept only in the plugin's own state.
    expect(JSON.stringify(results.map((r) => r.body))).not.toContain("ACCESS_TOKEN");
  });

  it("refreshes an access token WeChat no longer accepts, once", async () => {
    wechat.revokeTokens();
    const r = await bind((await customerByOpenid(OPENID))!.id, "phone-wang");
    expect(r.data.wechatMiniProgramBindPhone.userErrors).toEqual([]);
    expect(wechat.tokenCalls()).toBe(2);
  });

  it("merges the customer with one who already has the phone", async () => {
    // A customer known only by the phone, from another channel.
    const other = await t.gql(`mutation { upsertCustomer(input: {identity: {type: PHONE, value: "+8613800138009"}, displayName: "王芳"}) { customer { id } userErrors { code } } }`);
    expect(other.data.upsertCustomer.userErrors).toEqual([]);
    PHONES["phone-merge"] = { phone: "13800138009" };
    const li = (await customerByOpenid("oQ7x45Lq3bS8vTz1mNcR9pLkW2dF"))!.id;
    const r = await bind(li, "phone-merge");
    expect(r.data.wechatMiniProgramBindPhone.userErrors).toEqual([]);
    // Both are now one customer, holding the openid and both phones.
    const merged = await customerByOpenid("oQ7x45Lq3bS8vTz1mNcR9pLkW2dF");
    expect(r.data.wechatMiniProgramBindPhone.customerId).toBe(merged!.id);
    expect((await t.gql(`{ customerByIdentity(type: PHONE, value: "+8613800138009") { id } }`)).data.customerByIdentity.id).toBe(merged!.id);
    expect(merged!.identities.filter((i) => i.type === "PHONE").map((i) => i.value).sort()).toEqual(["+8613800138002", "+8613800138009"]);
  });

  it("refuses a phone WeChat issued for another app (watermark), attaching nothing", async () => {
    const zhao = (await customerByOpenid("oQ7x45Zq3bS8vTz1mNcR9pLkW2dG"))!.id;
    const before = await ingested();
    const r = await bind(zhao, "phone-other-app");
    expect(r.data.wechatMiniProgramBindPhone).toEqual({
      customerId: null,
      userErrors: [{ field: ["code"], code: "INVALID", message: "WeChat issued this phone number for another app (watermark appid differs); nothing was attached" }],
    });
    expect(await ingested()).toBe(before);
    expect((await t.gql(`{ customerByIdentity(type: PHONE, value: "+8613800138009") { id } }`)).data.customerByIdentity.id).not.toBe(zhao);
  });

  it("turns an invalid phone code into a userError with WeChat's errcode", async () => {
    const zhao = (await customerByOpenid("oQ7x45Zq3bS8vTz1mNcR9pLkW2dG"))!.id;
    const r = await bind(zhao, "phone-unknown");
    expect(r.data.wechatMiniProgramBindPhone.userErrors).toEqual([{ field: ["code"], code: "INVALID", message: expect.stringContaining("errcode 40029") }]);
  });

  it("needs a customer who logged in through this mini program", async () => {
    const stranger = await t.gql(`mutation { upsertCustomer(input: {identity: {type: EMAIL, value: "chen@example.cn"}}) { customer { id } } }`);
    const calls = wechat.calls.length;
    const r = await bind(stranger.data.upsertCustomer.customer.id, "phone-zhao");
    expect(r.data.wechatMiniProgramBindPhone.userErrors).toEqual([{ field: ["customerId"], code: "NOT_FOUND", message: expect.stringContaining("wechatMiniProgramLogin first") }]);
    expect((await bind("not-a-customer-id", "phone-zhao")).data.wechatMiniProgramBindPhone.userErrors[0]).toMatchObject({ field: ["customerId"], code: "NOT_FOUND" });
    expect(wechat.calls.length).toBe(calls);
  });

  it("is NOT_FOUND for another tenant's connection and FORBIDDEN without the ingest scope", async () => {
    const zhao = (await customerByOpenid("oQ7x45Zq3bS8vTz1mNcR9pLkW2dG"))!.id;
    const other = await createTenant(t, "隔壁茶庄");
    expect((await bind(zhao, "phone-zhao", other.key)).data.wechatMiniProgramBindPhone.userErrors).toEqual([
      { field: ["connectionId"], code: "NOT_FOUND", message: "No such wechat-miniprogram connection" },
    ]);
    const { key } = await createKey(t, ["customers:read"]);
    expect((await bind(zhao, "phone-zhao", key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("after a merge, asks for a new login, which then names the survivor", async () => {
    const sun = (await customerByOpenid("oQ7x45Sq3bS8vTz1mNcR9pLkW2dH"))!.id;
    const survivor = (await t.gql(`mutation { upsertCustomer(input: {identity: {type: EMAIL, value: "sun@example.cn"}, displayName: "孙丽"}) { customer { id } } }`)).data
      .upsertCustomer.customer.id as string;
    const m = await t.gql(`mutation($t: ID!, $s: ID!) { mergeCustomers(input: {targetId: $t, sourceId: $s}) { userErrors { code message } } }`, { t: survivor, s: sun });
    expect(m.data.mergeCustomers.userErrors).toEqual([]);
    PHONES["phone-sun-2"] = { phone: "13800138005" };
    const calls = wechat.calls.length;
    // The merged-away id still has its login record, but no longer owns the openid.
    expect((await bind(sun, "phone-sun-2")).data.wechatMiniProgramBindPhone.userErrors).toEqual([
      { field: ["customerId"], code: "CONFLICT", message: "The customer changed since the login (merged or erased); call wechatMiniProgramLogin again" },
    ]);
    // The survivor never logged in itself.
    expect((await bind(survivor, "phone-sun-2")).data.wechatMiniProgramBindPhone.userErrors[0]).toMatchObject({ field: ["customerId"], code: "NOT_FOUND" });
    expect(wechat.calls.length).toBe(calls);
    expect((await login("code-sun")).data.wechatMiniProgramLogin.customerId).toBe(survivor);
    expect((await bind(survivor, "phone-sun-2")).data.wechatMiniProgramBindPhone).toEqual({ customerId: survivor, userErrors: [] });
    expect((await t.gql(`{ customerByIdentity(type: PHONE, value: "+8613800138005") { id } }`)).data.customerByIdentity.id).toBe(survivor);
  });

  it("forgets the login of a customer deleted (erased) since, and attaches nothing to them", async () => {
    const zhao = (await customerByOpenid("oQ7x45Zq3bS8vTz1mNcR9pLkW2dG"))!.id;
    const key = `customer:${Buffer.from(zhao, "base64url").toString().split(":")[1]}`;
    const records = async () => Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM plugin_state WHERE connection_id = $1 AND key = $2`, [localConnectionId, key]))[0].n);
    expect(await records()).toBe(1);
    const d = await t.gql(`mutation($id: ID!) { deleteCustomer(input: {id: $id}) { userErrors { code } } }`, { id: zhao });
    expect(d.data.deleteCustomer.userErrors).toEqual([]);
    // The plugin hears customer.erased and deletes the login record (openid, unionid) it kept.
    for (let i = 0; i < 100 && (await records()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await records()).toBe(0);
    const before = await ingested();
    expect((await bind(zhao, "phone-zhao")).data.wechatMiniProgramBindPhone.userErrors[0]).toMatchObject({ field: ["customerId"], code: "NOT_FOUND" });
    expect(await ingested()).toBe(before);
  });
});
