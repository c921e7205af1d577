import fc from "fast-check";
import { signHttpJson } from "../../adapters/http-json";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
const SECRET = "s3cret-for-tests-0123456789";
let connectionId: string;
let webhook: string;

beforeAll(async () => {
  t = await createTestServer({ PUBLIC_URL: "https://crm.example.cn" });
  const r = await t.gql(
    `mutation($config: JSONObject!) { createChannelConnection(input: {channel: "http-json", name: "ERP 推送", config: $config}) { connection { id channel name enabled webhookUrl config } userErrors { field code message } } }`,
    { config: { secret: SECRET } },
  );
  expect(r.data.createChannelConnection.userErrors).toEqual([]);
  const c = r.data.createChannelConnection.connection;
  connectionId = c.id;
  const local = Buffer.from(c.id, "base64url").toString().split(":")[1];
  expect(c.webhookUrl).toBe(`https://crm.example.cn/channels/http-json/${local}`);
  expect(c.config).toEqual({}); // the secret is never returned
  webhook = `${t.url}/channels/http-json/${local}`;
});
afterAll(() => t?.close());

const at = (m: number) => new Date(Date.parse("2026-08-01T00:00:00Z") + m * 60_000).toISOString();
const event = (externalId: string, phone = "139 0000 0001") => ({
  type: "customer.upserted",
  externalId,
  occurredAt: at(1),
  identities: [{ type: "phone", value: phone }],
  payload: { displayName: "陈静" },
});

async function post(body: string, headers: Record<string, string> = {}, url = webhook) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

const signed = (body: string, secret = SECRET, ts?: number) => ({ "x-crm-signature": signHttpJson(secret, body, ts) });
const customers = async () => (await t.gql(`{ customers { totalCount } }`)).data.customers.totalCount as number;

describe("channel connections", () => {
  it("validates config with the plugin's schema and reports the key at fault", async () => {
    const r = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "x", config: {secret: "short"}}) { connection { id } userErrors { field code } } }`);
    expect(r.data.createChannelConnection).toEqual({ connection: null, userErrors: [{ field: ["config", "secret"], code: "INVALID" }] });
    const missing = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "x", config: {}}) { userErrors { field code } } }`);
    expect(missing.data.createChannelConnection.userErrors).toEqual([{ field: ["config", "secret"], code: "REQUIRED" }]);
    const unknown = await t.gql(`mutation { createChannelConnection(input: {channel: "fax", name: "x", config: {}}) { userErrors { field code } } }`);
    expect(unknown.data.createChannelConnection.userErrors).toEqual([{ field: ["channel"], code: "NOT_FOUND" }]);
  });

  it("lists connections without secrets, to admins only", async () => {
    const r = await t.gql(`{ channelConnections { totalCount nodes { id channel name config } } }`);
    expect(JSON.stringify(r.body)).not.toContain(SECRET);
    expect(r.data.channelConnections.nodes.map((c: any) => c.channel)).toContain("http-json");
    const { key } = await createKey(t, ["customers:read"]);
    expect((await t.gql(`{ channelConnections { nodes { id } } }`, {}, key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

describe("http-json webhook", () => {
  it("ingests signed events and answers per event in request order", async () => {
    const body = JSON.stringify({ events: [event("w1"), event("w1"), { type: "order.paid", externalId: "w2" }] });
    const r = await post(body, signed(body));
    expect(r.status).toBe(200);
    expect(r.json.results.map((x: any) => x.status)).toEqual(["accepted", "duplicate", "rejected"]);
    expect(r.json.results[2].reason).toBeTruthy();
    const c = await t.gql(`{ customerByIdentity(type: PHONE, value: "13900000001") { displayName identities { type sourceChannel } } }`);
    expect(c.data.customerByIdentity).toEqual({ displayName: "陈静", identities: [{ type: "PHONE", sourceChannel: "http-json" }] });
  });

  it("answers 401 and writes nothing for a forged, stale, future or missing signature", async () => {
    const before = await customers();
    const body = JSON.stringify({ events: [event("forged", "139 0000 0002")] });
    const now = Math.floor(Date.now() / 1000);
    // Margins well past the 300 s window: the server's clock reads later than `now`, so `now + 301` could fall inside it.
    for (const headers of [signed(body, "another-secret-0123456789"), signed(body, SECRET, now - 360), signed(body, SECRET, now + 360), {}, { "x-crm-signature": "garbage" }]) {
      const r = await post(body, headers);
      expect(r.status).toBe(401);
      expect(r.json.reason).toBeTruthy();
    }
    const tampered = body.replace("forged", "forgeD");
    expect((await post(tampered, signed(body))).status).toBe(401);
    expect(await customers()).toBe(before);
  });

  it("answers 404 for unknown, malformed and disabled connections", async () => {
    const body = JSON.stringify({ events: [] });
    expect((await post(body, signed(body), `${t.url}/channels/http-json/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
    expect((await post(body, signed(body), `${t.url}/channels/http-json/not-a-uuid`)).status).toBe(404);
    expect((await post(body, signed(body), `${t.url}/channels/nope/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
    const c = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "临时", config: {secret: "${SECRET}"}}) { connection { id webhookUrl } } }`);
    const conn = c.data.createChannelConnection.connection;
    const url = `${t.url}${new URL(conn.webhookUrl).pathname}`;
    expect((await post(body, signed(body), url)).status).toBe(200);
    await t.gql(`mutation($id: ID!) { disableChannelConnection(input: {id: $id}) { connection { enabled } } }`, { id: conn.id });
    expect((await post(body, signed(body), url)).status).toBe(404);
  });

  it("answers 400 with a reason for a signed body that does not normalize", async () => {
    for (const body of ["{not json", JSON.stringify({ events: "nope" }), JSON.stringify([1, 2])]) {
      const r = await post(body, signed(body));
      expect(r.status).toBe(400);
      expect(r.json.reason).toBeTruthy();
    }
  });

  it("never answers 500 to malformed signed payloads, and never writes a rejected event", async () => {
    const before = await customers();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json(), fc.jsonValue().map((events) => JSON.stringify({ events: [events] })), fc.string()), async (body) => {
        const r = await post(body, signed(body));
        // Either refused whole with a reason, or answered per event with every event rejected: never a write.
        const outcome =
          r.status === 400 ? { status: 400, reasoned: typeof r.json.reason === "string" && r.json.reason.length > 0 } : { status: r.status, reasoned: r.json.results.every((x: any) => x.status === "rejected" && x.reason) };
        expect([{ status: 400, reasoned: true }, { status: 200, reasoned: true }]).toContainEqual(outcome);
      }),
      { numRuns: 60 },
    );
    expect(await customers()).toBe(before);
  });
});

describe("events the database cannot store", () => {
  it("a webhook batch with a NUL in one event answers per event: the good ones land", async () => {
    const before = await customers();
    const good = event("poison-good-1", "139 0000 0101");
    const bad = { ...event("poison-bad-1", "139 0000 0102"), payload: { displayName: "a\u0000b" } };
    const body = JSON.stringify({ events: [good, bad] });
    const r = await post(body, signed(body));
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([
      { externalId: "poison-good-1", status: "accepted" },
      { externalId: "poison-bad-1", status: "rejected", reason: expect.stringMatching(/^payload\.displayName: .*NUL/) },
    ]);
    expect(await customers()).toBe(before + 1);
    // The channel's retry of the same batch: the good one is a duplicate, the bad one rejected again — no 503 loop.
    const again = await post(body, signed(body));
    expect(again.status).toBe(200);
    expect(again.json.results.map((x: { status: string }) => x.status)).toEqual(["duplicate", "rejected"]);
  });

  it("takes a signed JSON body sent as text/plain or without a content type (the signature covers the bytes)", async () => {
    for (const [i, type] of [["1", "text/plain"], ["2", ""]] as const) {
      const body = JSON.stringify({ events: [event(`ctype-${i}`, `139 0000 011${i}`)] });
      const res = await fetch(webhook, { method: "POST", headers: { ...(type ? { "content-type": type } : {}), ...signed(body) }, body: Buffer.from(body) });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).results).toEqual([{ externalId: `ctype-${i}`, status: "accepted" }]);
    }
  });

  it("ingestEvents answers the same batch per event", async () => {
    const before = await customers();
    const r = await t.gql(
      `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { externalId status reason } userErrors { code } } }`,
      {
        input: {
          connectionId,
          events: [
            event("poison-good-2", "139 0000 0103"),
            { ...event("poison-bad-2", "139 0000 0104"), payload: { birthday: "0000-01-01" } },
            { ...event("poison-bad-3", "139 0000 0105"), payload: { attributes: JSON.parse('{"a":'.repeat(100) + "1" + "}".repeat(100)) } },
          ],
        },
      },
    );
    expect(r.errors).toBeUndefined();
    expect(r.data.ingestEvents.results.map((x: { status: string }) => x.status)).toEqual(["ACCEPTED", "REJECTED", "REJECTED"]);
    expect(r.data.ingestEvents.results[1].reason).toMatch(/^payload\.birthday/);
    expect(r.data.ingestEvents.results[2].reason).toMatch(/deeper than 32/);
    expect(await customers()).toBe(before + 1);
  });
});

describe("ingestEvents", () => {
  const M = `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { externalId status reason } userErrors { field code } } }`;

  it("gives trusted producers the webhook's semantics", async () => {
    const { key } = await createKey(t, ["ingest"]);
    const r = await t.gql(M, { input: { connectionId, events: [event("g1", "139 0000 0003"), event("g1", "139 0000 0003"), { nope: true }] } }, key);
    expect(r.data.ingestEvents.results.map((x: any) => x.status)).toEqual(["ACCEPTED", "DUPLICATE", "REJECTED"]);
    const replay = await t.gql(M, { input: { connectionId, events: [event("g1", "139 0000 0003")] } }, key);
    expect(replay.data.ingestEvents.results[0].status).toBe("DUPLICATE");
  });

  it("needs the ingest scope and a connection of the caller's tenant", async () => {
    const { key } = await createKey(t, ["customers:write"]);
    expect((await t.gql(M, { input: { connectionId, events: [] } }, key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const other = await createTenant(t, "其他商户");
    const r = await t.gql(M, { input: { connectionId, events: [event("x")] } }, other.key);
    expect(r.data.ingestEvents.userErrors).toEqual([{ field: ["connectionId"], code: "NOT_FOUND" }]);
  });
});
