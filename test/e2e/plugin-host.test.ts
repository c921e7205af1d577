import path from "node:path";
import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { z } from "zod";
import { Arg, Authorized, Ctx, ID, Query, Resolver } from "type-graphql";
import { definePlugin, NormalizationError, pluginRequest, VerificationError, type Delivered, type PluginContext } from "../../src/plugins";
import { deliveryJobId } from "../../src/events/outbox";
import { aCustomer, createCustomer } from "../fixtures/customers";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

const delivered: Delivered[] = [];
const connectionEvents: Delivered[] = [];
let destroyedWith: PluginContext<{ token: string }> | null = null;
const jobRuns: number[] = [];
let flakyRuns = 0;
const manual = { runs: 0, fail: false, running: 0, overlapped: false };
let context: PluginContext<{ token: string }> | null = null;

/** A plugin's own GraphQL operation, reaching plugin services only through pluginRequest. */
@Resolver()
class ProbeResolver {
  @Authorized("admin")
  @Query(() => String, { nullable: true })
  async probeConnectionName(@Arg("id", () => ID) id: string, @Ctx() ctx: unknown): Promise<string | null> {
    const req = pluginRequest<{ token: string }>(ctx, "probe");
    const connection = await req.connection(id);
    return connection ? `${connection.name}@${req.tenantId === connection.tenantId ? "own" : "other"}` : null;
  }
}

const probe = definePlugin<{ token: string }>({
  name: "probe",
  resolvers: [ProbeResolver],
  version: "1.0.0",
  configSchema: z.object({ token: z.string().min(4) }),
  secretKeys: ["token"],
  init: (ctx) => {
    context = ctx;
  },
  destroy: (ctx) => {
    destroyedWith = ctx;
  },
  onEvent: {
    "customer.created": (event) => void delivered.push(event),
    "channel_connection.changed": (event) => void connectionEvents.push(event),
  },
  jobs: [
    { name: "tick", everyMs: 30, run: async () => void jobRuns.push(Date.now()) },
    {
      name: "manual",
      everyMs: 3_600_000, // never on its own during the tests: runs come from runPluginJob
      run: async () => {
        manual.runs++;
        if (++manual.running > 1) manual.overlapped = true;
        await new Promise((r) => setTimeout(r, 50));
        manual.running--;
        if (manual.fail) throw new Error("Youzan API 503");
      },
    },
    {
      name: "flaky",
      everyMs: 30,
      run: async () => {
        if (++flakyRuns <= 2) throw new Error("upstream unavailable");
      },
    },
  ],
  channel: {
    async verify(req, connection, ctx) {
      if (req.headers["x-token"] !== connection.config.token) throw new VerificationError("bad token");
      // Replay protection through the plugin's own state.
      const nonce = req.headers["x-nonce"] ?? "";
      if (!(await ctx.state(connection.id).setIfAbsent(`nonce:${nonce}`, true, 300))) throw new VerificationError("replayed nonce");
      return JSON.parse(req.rawBody.toString("utf8"));
    },
    normalize(payload) {
      const p = payload as { phone?: string; boom?: boolean; crash?: boolean };
      if (p.crash) throw new TypeError("plugin bug");
      if (!p.phone) throw new NormalizationError("phone is required");
      return [{ type: "customer.upserted", externalId: `probe:${p.phone}`, occurredAt: "2026-09-01T10:00:00Z", identities: [{ type: "phone", value: p.phone }], payload: { tags: ["探针"] } }];
    },
    handshake: (req) => ({ status: 200, body: req.query.echostr ?? "" }),
    acknowledge: () => ({ status: 200, body: "success" }),
    reject: (status, reason) => ({ status, body: { code: status, msg: reason } }),
  },
});

let t: TestServer;
let url: string;
let connectionId: string;
beforeAll(async () => {
  t = await createTestServer({ CRM_PLUGINS: path.join(__dirname, "../fixtures/plugins/loaded-plugin.ts") }, { plugins: [probe] });
  const r = await t.gql(`mutation { createChannelConnection(input: {channel: "probe", name: "探针", config: {token: "t0ken"}}) { connection { id webhookUrl } userErrors { code } } }`);
  connectionId = r.data.createChannelConnection.connection.id;
  url = `${t.url}${new URL(r.data.createChannelConnection.connection.webhookUrl).pathname}`;
});
afterAll(async () => {
  await t?.close();
  // destroy got the context init got.
  expect(destroyedWith).toBe(context);
});

const post = (body: unknown, headers: Record<string, string>) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

describe("plugin host", () => {
  it("answers a channel's GET handshake and POSTs in the channel's own forms", async () => {
    const hs = await fetch(`${url}?echostr=hello`);
    expect(await hs.text()).toBe("hello");
    const ok = await post({ phone: "139 2222 3333" }, { "x-token": "t0ken", "x-nonce": "n1" });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("success");
    const c = await t.gql(`{ customerByIdentity(type: PHONE, value: "13922223333") { tags } }`);
    expect(c.data.customerByIdentity.tags).toEqual(["探针"]);
  });

  it("maps VerificationError to 401, NormalizationError and plugin bugs to 400, in the channel's error form", async () => {
    const bad = await post({ phone: "139 2222 4444" }, { "x-token": "wrong", "x-nonce": "n2" });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ code: 401, msg: "bad token" });
    const replay = await post({ phone: "139 2222 3333" }, { "x-token": "t0ken", "x-nonce": "n1" });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { msg: string }).msg).toBe("replayed nonce");
    const invalid = await post({}, { "x-token": "t0ken", "x-nonce": "n3" });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { msg: string }).msg).toBe("phone is required");
    const crash = await post({ crash: true }, { "x-token": "t0ken", "x-nonce": "n4" });
    expect(crash.status).toBe(400);
    expect(JSON.stringify(await crash.json())).not.toMatch(/stack|at /);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('crm_channel_refusals_total{channel="probe",status="401"} 2');
    expect(metrics).toContain('crm_channel_refusals_total{channel="probe",status="400"} 2');
  });

  it("delivers committed domain events to plugins' handlers, and runs their jobs", async () => {
    const c = await createCustomer(t, aCustomer());
    await t.server.app.outbox.idle();
    const local = Buffer.from(c.id, "base64url").toString().split(":")[1];
    expect(delivered.some((e) => e.type === "customer.created" && (e as { customerId?: string }).customerId === local)).toBe(true);
    // Each delivery is a job on the plugin's own queue, named by the plugin: it completed.
    const [{ id: eventId }] = await t.server.app.db.dataSource.query(`SELECT id FROM outbox WHERE type = 'customer.created' AND payload->>'customerId' = $1`, [local]);
    const deliveries = await t.server.app.jobs.runs({ name: "crm.deliver.plugin_probe" }, 250);
    expect(deliveries.filter((j) => j.id === deliveryJobId(eventId, "plugin:probe")).map((j) => j.state)).toEqual(["completed"]);
    const runs = jobRuns.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(jobRuns.length).toBeGreaterThan(runs);
  });

  it("tells a plugin of changes to its own channel's connections only", async () => {
    const local = (id: string) => Buffer.from(id, "base64url").toString().split(":")[1];
    const M = `mutation($config: JSONObject!, $channel: String!) { createChannelConnection(input: {channel: $channel, name: "第二个", config: $config}) { connection { id } userErrors { code } } }`;
    const mine = (await t.gql(M, { channel: "probe", config: { token: "t0ken2" } })).data.createChannelConnection.connection.id;
    const other = (await t.gql(M, { channel: "http-json", config: { secret: "another-secret-0123456789" } })).data.createChannelConnection.connection.id;
    await t.gql(`mutation($id: ID!) { updateChannelConnection(input: {id: $id, name: "改名"}) { userErrors { code } } }`, { id: mine });
    await t.gql(`mutation($id: ID!) { disableChannelConnection(input: {id: $id}) { userErrors { code } } }`, { id: mine });
    await t.gql(`mutation($id: ID!) { updateChannelConnection(input: {id: $id, enabled: true}) { userErrors { code } } }`, { id: mine });
    await t.server.app.outbox.idle();
    const heard = connectionEvents.filter((e) => e.type === "channel_connection.changed").map((e) => e as Delivered & { connectionId: string; channel: string; change: string });
    expect(heard.filter((e) => e.connectionId === local(mine)).map((e) => e.change)).toEqual(["created", "updated", "disabled", "enabled"]);
    expect(heard.every((e) => e.channel === "probe")).toBe(true);
    expect(heard.some((e) => e.connectionId === local(other))).toBe(false);
  });

  it("lets a plugin read a customer's identities, within the tenant it names", async () => {
    const c = await createCustomer(t, aCustomer({ phone: "139 2222 5555" }));
    const local = Buffer.from(c.id, "base64url").toString().split(":")[1];
    const [{ id: tenantId }] = await t.server.app.db.dataSource.query(`SELECT tenant_id AS id FROM customers WHERE id = $1`, [local]);
    expect(await context!.customers.identities(tenantId, local)).toContainEqual({ type: "phone", value: "+8613922225555" });
    const other = await createTenant(t, "别家二");
    const [{ id: otherTenant }] = await t.server.app.db.dataSource.query(`SELECT id FROM tenants WHERE name = '别家二'`);
    expect(other.key).toBeTruthy();
    expect(await context!.customers.identities(otherTenant, local)).toBeNull();
    expect(await context!.customers.identities(tenantId, "not-a-uuid")).toBeNull();
  });

  it("gives a plugin a read-only snapshot of a customer: profile, identities, consent — within the tenant it names", async () => {
    const c = await createCustomer(
      t,
      aCustomer({ displayName: "快照客户", phone: "139 2222 6666", email: "snap@example.cn", tags: ["VIP"], attributes: { 等级: "金" }, marketingConsent: [{ channel: "SMS", granted: true }] }),
    );
    const local = Buffer.from(c.id, "base64url").toString().split(":")[1];
    const [{ id: tenantId }] = await t.server.app.db.dataSource.query(`SELECT tenant_id AS id FROM customers WHERE id = $1`, [local]);
    const snap = await context!.customers.get(tenantId, local);
    expect(snap).toEqual({
      id: local,
      displayName: "快照客户",
      phone: "+8613922226666",
      email: "snap@example.cn",
      gender: "UNKNOWN",
      birthday: null,
      locale: null,
      region: { country: null, province: null, city: null },
      tags: ["VIP"],
      attributes: { 等级: "金" },
      identities: expect.arrayContaining([
        { type: "phone", value: "+8613922226666", sourceChannel: null },
        { type: "email", value: "snap@example.cn", sourceChannel: null },
      ]),
      marketingConsent: [{ channel: "SMS", granted: true, updatedAt: expect.any(String) }],
      consents: [{ purpose: "MARKETING", channel: "SMS", granted: true, updatedAt: expect.any(String) }],
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
    });
    // A copy: changing it changes nothing.
    snap!.tags.push("改");
    expect((await context!.customers.get(tenantId, local))!.tags).toEqual(["VIP"]);
    const [{ id: otherTenant }] = await t.server.app.db.dataSource.query(`SELECT id FROM tenants WHERE name = '别家二'`);
    expect(await context!.customers.get(otherTenant, local)).toBeNull();
    expect(await context!.customers.get(tenantId, "not-a-uuid")).toBeNull();
  });

  it("keeps running a job that failed, and counts its failures for operators", async () => {
    const deadline = Date.now() + 5000;
    while (flakyRuns < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(flakyRuns).toBeGreaterThanOrEqual(4); // failed twice, then ran on
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('crm_plugin_job_failures_total{plugin="probe",job="flaky"} 2');
  });

  it("runs a plugin job on the platform key's request, one run at a time, and reports how it ended", async () => {
    const RUN = `mutation($plugin: String!, $job: String!) { runPluginJob(input: {plugin: $plugin, job: $job}) { run { plugin job startedAt durationMs succeeded error } userErrors { field code } } }`;
    const ok = await t.gql(RUN, { plugin: "probe", job: "manual" }, t.platformKey);
    expect(ok.data.runPluginJob).toEqual({
      run: { plugin: "probe", job: "manual", startedAt: expect.any(String), durationMs: expect.any(Number), succeeded: true, error: null },
      userErrors: [],
    });
    expect(manual.runs).toBe(1);
    const both = await Promise.all([t.gql(RUN, { plugin: "probe", job: "manual" }, t.platformKey), t.gql(RUN, { plugin: "probe", job: "manual" }, t.platformKey)]);
    expect(both.map((r) => r.data.runPluginJob.run.succeeded)).toEqual([true, true]);
    expect(manual.runs).toBe(3);
    expect(manual.overlapped).toBe(false);
    manual.fail = true;
    const failed = await t.gql(RUN, { plugin: "probe", job: "manual" }, t.platformKey);
    expect(failed.data.runPluginJob.run).toMatchObject({ succeeded: false, error: "Youzan API 503" });
    manual.fail = false;
    const missing = await t.gql(RUN, { plugin: "probe", job: "nope" }, t.platformKey);
    expect(missing.data.runPluginJob).toEqual({ run: null, userErrors: [{ field: ["job"], code: "NOT_FOUND" }] });
    // A tenant's admin key may not: jobs serve every tenant's connections.
    expect((await t.gql(RUN, { plugin: "probe", job: "manual" })).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(manual.runs).toBe(4);
  });

  it("gives plugins a state store with expiry and set-if-absent", async () => {
    const store = context!.state("00000000-0000-0000-0000-000000000001");
    expect(await store.get("cursor")).toBeUndefined();
    await store.set("cursor", { since: "2026-09-01" });
    expect(await store.get("cursor")).toEqual({ since: "2026-09-01" });
    expect(await store.setIfAbsent("cursor", 1)).toBe(false);
    await store.set("short", 1, 1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await store.get("short")).toBeUndefined();
    expect(await store.setIfAbsent("short", 2, 60)).toBe(true);
    await store.delete("cursor");
    expect(await store.get("cursor")).toBeUndefined();
  });

  it("serves a plugin's own GraphQL operations, scoped to the caller's tenant and scopes", async () => {
    const q = `query($id: ID!) { probeConnectionName(id: $id) }`;
    expect((await t.gql(q, { id: connectionId })).data.probeConnectionName).toBe("探针@own");
    const other = await createTenant(t, "别家");
    expect((await t.gql(q, { id: connectionId }, other.key)).data.probeConnectionName).toBeNull();
    const { key } = await createKey(t, ["customers:read"]);
    expect((await t.gql(q, { id: connectionId }, key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("serves a plugin's own GraphQL operations over graphql-ws too", async () => {
    const client = createClient({ url: t.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${t.adminKey}` } });
    try {
      const result = await new Promise<{ data?: any; errors?: unknown[] }>((resolve, reject) => {
        let got: { data?: any; errors?: unknown[] } | undefined;
        client.subscribe(
          { query: `query($id: ID!) { probeConnectionName(id: $id) }`, variables: { id: connectionId } },
          { next: (r) => void (got = r as typeof got), error: reject, complete: () => resolve(got!) },
        );
      });
      expect(result.errors).toBeUndefined();
      expect(result.data.probeConnectionName).toBe("探针@own");
    } finally {
      await client.dispose();
    }
  });

  it("loads partner plugins named in CRM_PLUGINS", async () => {
    const r = await t.gql(`mutation { createChannelConnection(input: {channel: "loaded-from-env", name: "x", config: {token: "abcd"}}) { connection { webhookUrl config } userErrors { code } } }`);
    expect(r.data.createChannelConnection.connection.config).toEqual({});
    const u = `${t.url}${new URL(r.data.createChannelConnection.connection.webhookUrl).pathname}`;
    const res = await fetch(u, { method: "POST", headers: { "x-token": "abcd" }, body: "{}" });
    expect(await res.text()).toBe("success");
  });
});
