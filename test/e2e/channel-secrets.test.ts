import { randomBytes } from "node:crypto";
import { signHttpJson } from "../../adapters/http-json";
import { parseSecretKeys } from "../../src/core/secrets";
import { startServer, type RunningServer } from "../../src/server";
import { reopenableDatabase, silentLog } from "../helpers/database";
import { randomKey } from "../helpers/test-server";

/**
 * Channel secrets at rest: sealed with CRM_SECRET_KEY (AES-256-GCM) in the database, opened for the
 * plugin, rotated with a key list, and recoverable by sending the secret again when a key is lost.
 */

jest.setTimeout(120_000);

const K1 = randomBytes(32).toString("base64");
const K2 = randomBytes(32).toString("hex");
const SECRET = "erp-secret-0123456789abcdef";
const adminKey = randomKey();

let db: Awaited<ReturnType<typeof reopenableDatabase>>;
let server: RunningServer;
let connectionId: string;
let localId: string;

async function start(secretKey?: string): Promise<void> {
  server = await startServer(
    { ...db.config, port: 0, bootstrapTenantKey: adminKey, secretKeys: parseSecretKeys(secretKey) as Buffer[] },
    { log: silentLog, database: await db.open(), print: () => undefined },
  );
}

async function gql(query: string, variables: Record<string, unknown> = {}): Promise<{ data: any; errors?: unknown[] }> {
  const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: any; errors?: unknown[] };
}

let n = 0;
async function push(secret: string): Promise<number> {
  const body = JSON.stringify({
    events: [{ type: "customer.upserted", externalId: `s${++n}`, occurredAt: "2026-08-01T00:00:00Z", identities: [{ type: "phone", value: `139 0000 8${String(n).padStart(3, "0")}` }], payload: {} }],
  });
  const res = await fetch(`http://127.0.0.1:${server.port}/channels/http-json/${localId}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-crm-signature": signHttpJson(secret, body) },
    body,
  });
  return res.status;
}

const stored = async (): Promise<Record<string, unknown>> => (await server.app.db.dataSource.query(`SELECT config FROM channel_connections WHERE id = $1`, [localId]))[0].config;

beforeAll(async () => {
  db = await reopenableDatabase();
  await start(K1);
});
afterAll(async () => {
  await server?.close();
  await db?.dispose();
});

it("seals a connection's secret in the database and opens it for the plugin", async () => {
  const r = await gql(`mutation($config: JSONObject!) { createChannelConnection(input: {channel: "http-json", name: "ERP", config: $config}) { connection { id config } userErrors { code } } }`, {
    config: { secret: SECRET },
  });
  connectionId = r.data.createChannelConnection.connection.id;
  localId = Buffer.from(connectionId, "base64url").toString().split(":")[1];
  expect(r.data.createChannelConnection.connection.config).toEqual({});
  const row = await stored();
  expect(row.secret).toMatch(/^enc:v1:[0-9a-f]{8}:/);
  expect(JSON.stringify(row)).not.toContain(SECRET);
  expect(await push(SECRET)).toBe(200);
  expect(await push("not-the-secret-0123456789")).toBe(401);
});

it("reads secrets stored before encryption was switched on, and seals them when the config is written", async () => {
  await server.app.db.dataSource.query(`UPDATE channel_connections SET config = $2 WHERE id = $1`, [localId, JSON.stringify({ secret: SECRET })]);
  expect(await push(SECRET)).toBe(200);
  const r = await gql(`mutation($id: ID!) { updateChannelConnection(input: {id: $id, config: {secret: "${SECRET}-2"}}) { userErrors { code } } }`, { id: connectionId });
  expect(r.data.updateChannelConnection.userErrors).toEqual([]);
  expect((await stored()).secret).toMatch(/^enc:v1:/);
  expect(await push(`${SECRET}-2`)).toBe(200);
  expect(await push(SECRET)).toBe(401);
});

it("rotates keys: a new first key seals, the old one still opens", async () => {
  const before = (await stored()).secret as string;
  await server.close();
  await start(`${K2},${K1}`);
  expect(await push(`${SECRET}-2`)).toBe(200); // sealed under K1, opened with it
  await gql(`mutation($id: ID!) { updateChannelConnection(input: {id: $id, config: {secret: "${SECRET}-3"}}) { userErrors { code } } }`, { id: connectionId });
  const after = (await stored()).secret as string;
  expect(after.split(":")[2]).not.toBe(before.split(":")[2]); // another key id
  await server.close();
  await start(K2); // K1 retired
  expect(await push(`${SECRET}-3`)).toBe(200);
});

it("answers 503 when the key that sealed a secret is gone, and takes the secret again through the API", async () => {
  await server.close();
  await start(K1); // K2 lost
  expect(await push(`${SECRET}-3`)).toBe(503);
  const renamed = await gql(`mutation($id: ID!) { updateChannelConnection(input: {id: $id, config: {note: "x"}}) { userErrors { field code message } } }`, { id: connectionId });
  expect(renamed.data.updateChannelConnection.userErrors).toMatchObject([{ field: ["config"], code: "INVALID" }]);
  const again = await gql(`mutation($id: ID!) { updateChannelConnection(input: {id: $id, config: {secret: "${SECRET}-4"}}) { userErrors { code } } }`, { id: connectionId });
  expect(again.data.updateChannelConnection.userErrors).toEqual([]);
  expect(await push(`${SECRET}-4`)).toBe(200);
});

it("seals what plugins keep in their state (access tokens), and reads older plain values", async () => {
  const plugin = server.app.plugins.get("http-json")!;
  const state = server.app.plugins.context(plugin).state(localId);
  await state.set("access_token", { token: "ACCESS_TOKEN_令牌", expiresAt: 1 }, 600);
  const [row] = await server.app.db.dataSource.query(`SELECT value FROM plugin_state WHERE connection_id = $1 AND key = 'access_token'`, [localId]);
  expect(row.value).toMatch(/^enc:v1:/);
  expect(await state.get("access_token")).toEqual({ token: "ACCESS_TOKEN_令牌", expiresAt: 1 });
  await server.app.db.dataSource.query(`UPDATE plugin_state SET value = '{"token":"plain"}' WHERE connection_id = $1 AND key = 'access_token'`, [localId]);
  expect(await state.get("access_token")).toEqual({ token: "plain" });
  expect(await state.setIfAbsent("nonce:1", true, 60)).toBe(true);
  expect(await state.setIfAbsent("nonce:1", true, 60)).toBe(false);
});
