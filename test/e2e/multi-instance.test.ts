import WebSocket from "ws";
import { createClient, type Client } from "graphql-ws";
import { loadConfig } from "../../src/config";
import { openDatabase } from "../../src/db/data-source";
import { startServer, type RunningServer } from "../../src/server";
import { silentLog } from "../helpers/database";
import { freshPostgresDatabase, randomKey } from "../helpers/test-server";

/**
 * Two instances of the server on one PostgreSQL database with REDIS_URL: a graphql-ws subscriber on
 * one hears changes made and dispatched on the other, and revoking a key through one closes that key's
 * sockets on the other at once. Needs both DATABASE_URL and REDIS_URL (`.ci/run` sets them when the
 * machine's Redis answers); without them there is nothing to share between instances and it is skipped.
 */

const enabled = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);
const describeShared = enabled ? describe : describe.skip;
if (!enabled) console.info("multi-instance suite skipped: set DATABASE_URL and REDIS_URL to run it");

jest.setTimeout(60_000);

describeShared("two instances sharing PostgreSQL and Redis", () => {
  const adminKey = randomKey();
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let a: RunningServer;
  let b: RunningServer;
  const clients: Client[] = [];

  beforeAll(async () => {
    db = await freshPostgresDatabase();
    const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", DATABASE_URL: db.url, REDIS_URL: process.env.REDIS_URL, OUTBOX_POLL_MS: "200" });
    const start = async () => startServer({ ...config, port: 0, bootstrapTenantKey: adminKey }, { log: silentLog, database: await openDatabase({ databaseUrl: db.url, log: silentLog }), print: () => undefined });
    a = await start();
    b = await start();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const gql = async (server: RunningServer, query: string, variables: Record<string, unknown> = {}, key = adminKey) => {
    const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data: any; errors?: unknown[] };
  };

  const waitFor = async (predicate: () => boolean, what: string, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  function subscribeOn(server: RunningServer, key: string) {
    const heard: string[] = [];
    const closes: number[] = [];
    const client = createClient({
      url: `ws://127.0.0.1:${server.port}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${key}` },
      on: { closed: (e) => void closes.push((e as { code: number }).code) },
    });
    clients.push(client);
    client.subscribe(
      { query: `subscription { customerUpdated { displayName } }` },
      { next: (r) => void heard.push((r.data as any)?.customerUpdated?.displayName), error: () => undefined, complete: () => undefined },
    );
    return { heard, closes };
  }

  /** Changes a customer through `server` until `heard` has its new name (the subscription may not be live yet). */
  async function changeUntilHeard(server: RunningServer, id: string, heard: string[]) {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const name = `跨实例${attempt}`;
      await gql(server, `mutation($id: ID!, $n: String!) { updateCustomer(input: {id: $id, displayName: $n}) { userErrors { code } } }`, { id, n: name });
      try {
        await waitFor(() => heard.includes(name), "the event", 500);
        return name;
      } catch {
        /* not subscribed yet: again */
      }
    }
    throw new Error("the other instance's subscriber heard nothing");
  }

  it("reports Redis in /readyz", async () => {
    for (const server of [a, b]) {
      const ready = await fetch(`http://127.0.0.1:${server.port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: "ready", pubsub: "redis" });
    }
  });

  it("delivers a change made on one instance to a subscriber on the other", async () => {
    const created = await gql(a, `mutation { createCustomer(input: {displayName: "周明", phone: "139 0000 6001"}) { customer { id } } }`);
    const id = created.data.createCustomer.customer.id;
    const onB = subscribeOn(b, adminKey);
    const name = await changeUntilHeard(a, id, onB.heard);
    expect(onB.heard).toContain(name);
  });

  it("closes a revoked key's sockets on the other instance at once", async () => {
    const made = await gql(a, `mutation { createApiKey(input: {name: "看板", scopes: ["customers:read"]}) { apiKey key { id } } }`);
    const { apiKey, key } = made.data.createApiKey;
    const created = await gql(a, `mutation { createCustomer(input: {displayName: "吴芳", phone: "139 0000 6002"}) { customer { id } } }`);
    const onB = subscribeOn(b, apiKey);
    await changeUntilHeard(a, created.data.createCustomer.customer.id, onB.heard); // B's socket is live
    const revoked = await gql(a, `mutation($id: ID!) { revokeApiKey(input: {id: $id}) { userErrors { code } } }`, { id: key.id });
    expect(revoked.data.revokeApiKey.userErrors).toEqual([]);
    await waitFor(() => onB.closes.includes(4403), "B to close the revoked key's socket with 4403", 5000);
  });
});
