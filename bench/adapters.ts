import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { signCrmRequest, type ChannelRequest, type PluginDefinition } from "../src/plugins";
import { benchApp, redact } from "./database";

/**
 * `npm run bench -- adapters`: events/s through each channel adapter's verify + normalize + the
 * ingestion pipeline, one request at a time as webhooks arrive (BENCH_REQUESTS per adapter, default
 * 1,000), on a fresh PostgreSQL database. The http-json channel, whose adapter does almost nothing,
 * is the baseline the others are compared with. Requests are built before timing. Taobao is measured
 * through its replay webhook (TMC messages re-fed over HTTP), the consumer path's normalize + ingest.
 */
type Spec = { channel: string; config: Record<string, unknown>; request(i: number): ChannelRequest };

const fixtures = path.resolve(__dirname, "../../test/fixtures");
const now = () => new Date();
const phone = (i: number) => `139${String(20000000 + i).slice(-8)}`;

function specs(): Spec[] {
  const HTTP_SECRET = "bench-http-json-secret-0001";
  const POS_SECRET = "bench-pos-secret-000000001";
  const youzan = { clientId: "a3f9c2e17b5d4e8f06", clientSecret: "7e1b9d2c4f6a8e0b3d5c7a9f1e2d4c6b" };
  const youzanTemplate = JSON.parse(readFileSync(path.join(fixtures, "youzan/push-trade-paid.json"), "utf8")) as Record<string, unknown>;
  const youzanMsg = decodeURIComponent(String(youzanTemplate.msg));
  const token = "benchToken2026";
  const TAOBAO_SECRET = "bench-taobao-app-secret-0001";
  return [
    {
      channel: "http-json",
      config: { secret: HTTP_SECRET },
      request: (i) => {
        const at = new Date(Date.UTC(2026, 10, 1, 0, 0, i)).toISOString();
        const identities = [{ type: "phone", value: phone(i) }];
        const body = JSON.stringify({
          events: [
            { type: "customer.upserted", externalId: `c-${i}`, occurredAt: at, identities, payload: { displayName: `会员${i}`, tags: ["小程序"] } },
            { type: "order.paid", externalId: `o-${i}`, occurredAt: at, identities, payload: { orderId: `T${i}`, currency: "CNY", total: 12900, items: [{ sku: "LJ-250", quantity: 1, unitPrice: 12900 }] } },
          ],
        });
        return { method: "POST", headers: { "x-crm-signature": signCrmRequest(HTTP_SECRET, body) }, query: {}, rawBody: Buffer.from(body), receivedAt: now() };
      },
    },
    {
      channel: "pos",
      config: { secret: POS_SECRET },
      request: (i) => {
        const body = JSON.stringify({
          storeId: "HZ001",
          registerId: "01",
          transactionId: `01-${i}`,
          businessDay: "2026-11-21",
          occurredAt: "2026-11-21T15:00:00+08:00",
          type: "sale",
          member: { cardNumber: `88600${i}`, phone: phone(i) },
          lines: [{ sku: "LJ-250", title: "西湖龙井 250g", quantity: 1, unitPrice: 12900 }],
          tenders: [{ type: "cash", amount: 12900 }],
          currency: "CNY",
        });
        return { method: "POST", headers: { "content-type": "application/json", "x-crm-signature": signCrmRequest(POS_SECRET, body) }, query: {}, rawBody: Buffer.from(body), receivedAt: now() };
      },
    },
    {
      channel: "youzan",
      config: youzan,
      request: (i) => {
        // A different buyer per request (all of the buyer's ids, not only the phone), as for the other adapters:
        // the same open/fans/union ids with a new phone each time made one customer collect every phone.
        const n = String(i).padStart(8, "0");
        const msg = encodeURIComponent(
          youzanMsg
            .replace(/E20261120101530012300045/g, `E2026112010153${String(i).padStart(10, "0")}`)
            .replace(/13857123456/g, phone(i))
            .replace(/8801234567890123456/g, `88012345${n}000`)
            .replace(/"fans_id":5732108/g, `"fans_id":${5_000_000 + i}`)
            .replace(/kTqL3mXq8wYzRb2eN5vH7pC1/g, `kTqL3mXq8wYzRb2e${n}`)
            .replace(/oKx5s1Wc7eH2jZr9TqB3mN6pV0aY/g, `oKx5s1Wc7eH2jZr9TqB3${n}`),
        );
        const sign = createHash("md5").update(youzan.clientId + msg + youzan.clientSecret).digest("hex");
        const body = JSON.stringify({ ...youzanTemplate, id: `bench-${i}`, msg, sign });
        return { method: "POST", headers: { "content-type": "application/json" }, query: {}, rawBody: Buffer.from(body), receivedAt: now() };
      },
    },
    {
      // TMC delivers over its WebSocket; the webhook takes replays of TMC messages signed with the app secret.
      channel: "taobao",
      config: { appKey: "12497914", appSecret: TAOBAO_SECRET },
      request: (i) => {
        const tid = (4012345678901234567n + BigInt(i)).toString();
        const content = JSON.stringify({ buyer_open_uid: `AAHk5d-EAAe${String(i).padStart(13, "0")}`, payment: "268.00", post_fee: "10.00", tid: "TID", type: "guarantee_trade" }).replace('"TID"', tid);
        const body = `{"id":${2140500001234567002n + BigInt(i)},"topic":"taobao_trade_TradeBuyerPay","pub_app_key":"12497914","pub_time":"2026-11-11 00:01:12","user_id":2200701234567,"user_nick":"茶香旗舰店","content":${JSON.stringify(content)}}`;
        return { method: "POST", headers: { "content-type": "application/json", "x-crm-signature": signCrmRequest(TAOBAO_SECRET, body) }, query: {}, rawBody: Buffer.from(body), receivedAt: now() };
      },
    },
    {
      channel: "wechat-miniprogram",
      config: { appId: "wx4f4bc4dec97d474b", appSecret: "0123456789abcdef0123456789abcdef", token },
      request: (i) => {
        const timestamp = String(Math.floor(Date.now() / 1000));
        const nonce = `${i}${randomUUID().slice(0, 8)}`;
        const signature = createHash("sha1").update([token, timestamp, nonce].sort().join("")).digest("hex");
        const body = `{"ToUserName":"gh_6a4e5f2b9c1d","FromUserName":"oBench${String(i).padStart(22, "0")}","CreateTime":${timestamp},"MsgType":"text","Content":"你好，我想问一下发货时间","MsgId":${7305318569243146243n + BigInt(i)}}`;
        return { method: "POST", headers: { "content-type": "application/json" }, query: { signature, timestamp, nonce }, rawBody: Buffer.from(body), receivedAt: now() };
      },
    },
  ];
}

export async function adaptersBench(): Promise<number> {
  const n = Math.max(10, Number(process.env.BENCH_REQUESTS ?? 1000));
  const { app, ctx, url, close } = await benchApp("crm_bench_adapters");
  const figures: { channel: string; requests: number; events: number; eventsPerSecond: number; relativeToHttpJson: number }[] = [];
  try {
    console.log(`database: fresh ${redact(url)} (dropped at the end); ${n} requests per adapter, one at a time; outbox dispatch not measured`);
    for (const spec of specs()) {
      const plugin = app.plugins.get(spec.channel) as PluginDefinition<unknown>;
      const created = await app.channels.create(ctx, { channel: spec.channel, name: spec.channel, config: spec.config });
      if (!created.ok) throw new Error(`${spec.channel}: ${created.errors.map((e) => e.message).join("; ")}`);
      const connection = app.channels.info(created.value);
      const pctx = app.plugins.context(plugin);
      const requests = Array.from({ length: n }, (_, i) => spec.request(i));
      let events = 0;
      let rejected = 0;
      const started = process.hrtime.bigint();
      for (const req of requests) {
        const payload = await plugin.channel!.verify(req, connection, pctx);
        const normalized = await plugin.channel!.normalize(payload, connection);
        const results = await app.ingestion.ingest(ctx, { channel: spec.channel, connectionId: connection.id }, normalized);
        events += results.length;
        rejected += results.filter((r) => r.status === "rejected").length;
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (rejected) throw new Error(`${spec.channel}: ${rejected} events rejected`);
      const eventsPerSecond = Math.round(events / seconds);
      const base = figures[0]?.eventsPerSecond ?? eventsPerSecond;
      figures.push({ channel: spec.channel, requests: n, events, eventsPerSecond, relativeToHttpJson: Math.round((eventsPerSecond / base) * 1000) / 1000 });
      console.log(`${spec.channel}: ${n} requests, ${events} events in ${seconds.toFixed(2)} s = ${eventsPerSecond} events/s (${(n / seconds).toFixed(0)} requests/s)`);
    }
  } finally {
    await close();
  }
  console.log(JSON.stringify({ bench: "adapters", results: figures }));
  return 0;
}
