import WebSocket from "ws";
import { createClient, type Client } from "graphql-ws";
import { aCustomer, createCustomer } from "../fixtures/customers";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";
import { localId } from "../../src/core/global-id";

/**
 * `customerUpdated` over a real graphql-ws socket (the real client, `ws` as transport) against a
 * real server. Changes are made through HTTP; events reach subscribers through the outbox.
 *
 * graphql-ws has no "subscribed" acknowledgement, so before relying on a subscription each test
 * primes it: it makes a change the subscription must see (retrying until one arrives). Proofs of
 * "nothing was delivered" are by order: one subscription delivers events in the order they were
 * dispatched, so once a later change arrives, an earlier one that was going to arrive has arrived.
 */

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t?.close());

const SUBSCRIPTION = `subscription($id: ID) { customerUpdated(id: $id) { id displayName phone email tags identities { type value } } }`;
const UPDATE = `mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { id } userErrors { field code message } } }`;
const ADD_TAGS = `mutation($id: ID!, $tags: [String!]!) { addCustomerTags(input: {id: $id, tags: $tags}) { customer { id } userErrors { code message } } }`;
const REVOKE = `mutation($id: ID!) { revokeApiKey(input: {id: $id}) { key { id revokedAt } userErrors { code message } } }`;

/** Resolves once `predicate` holds; rejects after `timeoutMs`. */
async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface CloseLike {
  code: number;
  reason?: string;
}

interface Connection {
  client: Client;
  /** Close events the client saw on its socket(s). */
  closes: CloseLike[];
  /** The socket's connection was acknowledged (onConnect accepted the key). */
  acked: boolean;
}

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
});

/** A graphql-ws client authenticating with `key` (no connectionParams at all when null). */
function connect(key: string | null): Connection {
  const conn: Connection = { client: undefined as unknown as Client, closes: [], acked: false };
  conn.client = createClient({
    url: t.wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    ...(key ? { connectionParams: { authorization: `Bearer ${key}` } } : {}),
    on: {
      connected: () => {
        conn.acked = true;
      },
      closed: (event) => {
        const e = event as CloseLike;
        conn.closes.push({ code: e.code, reason: e.reason });
      },
    },
  });
  clients.push(conn.client);
  return conn;
}

interface Sub {
  /** Every `next` payload, in order. */
  results: { data?: any; errors?: any[] }[];
  /** What sink.error received: GraphQL errors (array) or a close event. */
  error: unknown;
  completed: boolean;
  /** Customers delivered so far (data only). */
  customers(): any[];
  unsubscribe(): void;
}

function subscribe(conn: Connection, variables: Record<string, unknown> = {}): Sub {
  const sub: Sub = {
    results: [],
    error: undefined,
    completed: false,
    customers: () => sub.results.map((r) => r.data?.customerUpdated).filter(Boolean),
    unsubscribe: () => undefined,
  };
  sub.unsubscribe = conn.client.subscribe(
    { query: SUBSCRIPTION, variables },
    {
      next: (r) => void sub.results.push(r as Sub["results"][number]),
      error: (e) => {
        sub.error = e;
      },
      complete: () => {
        sub.completed = true;
      },
    },
  );
  return sub;
}

/**
 * Makes `change()` (which returns the global id of the customer it changed) until `sub` delivers an
 * event for that very change. Each attempt waits 500 ms; at most 5 s in all.
 */
async function prime(sub: Sub, change: (attempt: number) => Promise<string>): Promise<string> {
  const deadline = Date.now() + 5000;
  for (let attempt = 1; ; attempt++) {
    const before = sub.results.length;
    const id = await change(attempt);
    await t.server.app.outbox.idle();
    try {
      await waitFor(() => sub.error !== undefined || sub.results.slice(before).some((r) => r.data?.customerUpdated?.id === id), 500);
    } catch {
      if (Date.now() > deadline) throw new Error(`The subscription delivered nothing within 5 s (${sub.results.length} results)`);
      continue;
    }
    if (sub.error !== undefined) throw new Error(`The subscription failed while priming: ${JSON.stringify(sub.error)}`);
    return id;
  }
}

/** Primes an unfiltered subscription by creating new customers (each event names a new id). */
const primeByCreating = (sub: Sub, key?: string) => prime(sub, async () => (await createCustomer(t, aCustomer(), key)).id);

async function update(input: Record<string, unknown>, key?: string): Promise<void> {
  const r = await t.gql(UPDATE, { input }, key);
  expect(r.errors).toBeUndefined();
  expect(r.data.updateCustomer.userErrors).toEqual([]);
}

async function addTags(id: string, tags: string[], key?: string): Promise<void> {
  const r = await t.gql(ADD_TAGS, { id, tags }, key);
  expect(r.errors).toBeUndefined();
  expect(r.data.addCustomerTags.userErrors).toEqual([]);
}

const sortIdentities = (ids: { type: string; value: string }[]) => [...ids].sort((a, b) => a.type.localeCompare(b.type));

function errorCodes(errors: unknown): string[] {
  return Array.isArray(errors) ? errors.map((e: any) => e?.extensions?.code) : [];
}

describe("customerUpdated subscription", () => {
  it("refuses a connection with an unknown key or without a key at connection_init, closing the socket with 4403", async () => {
    for (const key of ["not-a-real-key", null]) {
      const conn = connect(key);
      const sub = subscribe(conn);
      await waitFor(() => sub.error !== undefined, 5000, `the refusal of key ${key}`);
      expect((sub.error as CloseLike).code).toBe(4403);
      await waitFor(() => conn.closes.length > 0, 5000, "the close event");
      expect(conn.closes[0].code).toBe(4403);
      expect(conn.acked).toBe(false);
      expect(sub.results).toEqual([]);
    }
  });

  it("delivers the current customer, with its identities, after updateCustomer and addCustomerTags over HTTP", async () => {
    const sub = subscribe(connect(t.adminKey));
    const id = await primeByCreating(sub);
    const created = sub.customers().find((c) => c.id === id);
    expect(created.identities.length).toBeGreaterThan(0);

    const seen = sub.results.length;
    await update({ id, displayName: "周杰", phone: "+86 186 1234 5678" });
    await waitFor(() => sub.customers().some((c) => c.id === id && c.displayName === "周杰"), 5000, "the updateCustomer event");
    const updated = sub.results.slice(seen).map((r) => r.data?.customerUpdated).find((c) => c?.id === id && c.displayName === "周杰");
    expect(updated.phone).toBe("+8618612345678");
    expect(sortIdentities(updated.identities)).toEqual([
      { type: "EMAIL", value: created.email },
      { type: "PHONE", value: "+8618612345678" },
    ]);

    await addTags(id, ["VIP", "会员"]);
    await waitFor(() => sub.customers().some((c) => c.id === id && c.tags.includes("VIP")), 5000, "the addCustomerTags event");
    const tagged = sub.customers().find((c) => c.id === id && c.tags.includes("VIP"))!;
    expect(tagged.tags).toEqual(["新客", "VIP", "会员"]);
    expect(tagged.displayName).toBe("周杰");
    expect(sortIdentities(tagged.identities)).toEqual(sortIdentities(updated.identities));
    expect(sub.error).toBeUndefined();
    expect(sub.results.every((r) => r.errors === undefined)).toBe(true);
  });

  it("with an id, delivers only that customer's changes", async () => {
    const x = await createCustomer(t);
    const other = await createCustomer(t);
    const sub = subscribe(connect(t.adminKey), { id: x.id });
    await prime(sub, async (n) => {
      await addTags(x.id, [`ready-${n}`]);
      return x.id;
    });
    const seen = sub.results.length;

    await update({ id: other.id, displayName: "别人" });
    await t.server.app.outbox.idle();
    await update({ id: x.id, displayName: "只有我" });
    await waitFor(() => sub.customers().some((c) => c.displayName === "只有我"), 5000, "the event of the followed customer");

    const after = sub.results.slice(seen).map((r) => r.data?.customerUpdated);
    expect(after[0]).toMatchObject({ id: x.id, displayName: "只有我" });
    expect(sub.customers().map((c) => c.id)).not.toContain(other.id);
    expect(sub.customers().every((c) => c.id === x.id)).toBe(true);
  });

  it("never delivers another tenant's changes, while its own still arrive", async () => {
    const b = await createTenant(t, `B-${Date.now()}`);
    const a = await createCustomer(t); // tenant "default" (A)
    const sub = subscribe(connect(b.key));
    await primeByCreating(sub, b.key);
    const bCustomer = await createCustomer(t, aCustomer(), b.key);

    await update({ id: a.id, displayName: "甲方客户" });
    await addTags(a.id, ["A-only"]);
    const aNew = await createCustomer(t);
    await t.server.app.outbox.idle();
    await update({ id: bCustomer.id, displayName: "乙方客户" }, b.key);
    await waitFor(() => sub.customers().some((c) => c.id === bCustomer.id && c.displayName === "乙方客户"), 5000, "tenant B's own change");

    const ids = sub.customers().map((c) => c.id);
    expect(ids).not.toContain(a.id);
    expect(ids).not.toContain(aNew.id);
    expect(sub.customers().some((c) => c.displayName === "甲方客户" || c.tags.includes("A-only"))).toBe(false);
    expect(sub.error).toBeUndefined();
  });

  it("closes the open subscription socket of a key with 4403 when the key is revoked, and only that key's", async () => {
    const reader = await createKey(t, ["customers:read"]);
    const conn = connect(reader.key);
    const sub = subscribe(conn);
    await primeByCreating(sub);
    const bystander = subscribe(connect(t.adminKey));
    await primeByCreating(bystander);
    expect(conn.closes).toEqual([]);

    const r = await t.gql(REVOKE, { id: reader.id });
    expect(r.data.revokeApiKey.userErrors).toEqual([]);
    expect(r.data.revokeApiKey.key.revokedAt).not.toBeNull();

    await waitFor(() => conn.closes.length > 0, 5000, "the revoked key's socket to close");
    expect(conn.closes[0].code).toBe(4403);
    await waitFor(() => sub.error !== undefined, 5000, "the subscription to end");
    expect((sub.error as CloseLike).code).toBe(4403);

    // The admin's socket is still open and delivering.
    const c = await createCustomer(t);
    await waitFor(() => bystander.customers().some((x) => x.id === c.id), 5000, "the bystander's event");
    expect(bystander.error).toBeUndefined();
  });

  it("closes a subscription's socket with 4403 when its key expires, at the expiry, and delivers nothing after it", async () => {
    const expiresAt = new Date(Date.now() + 2_500).toISOString();
    const made = await t.gql(
      `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key { id } apiKey userErrors { field code } } }`,
      { input: { name: "即将过期", scopes: ["customers:read"], expiresAt } },
    );
    expect(made.data.createApiKey.userErrors).toEqual([]);
    const conn = connect(made.data.createApiKey.apiKey);
    const sub = subscribe(conn);
    await primeByCreating(sub);
    expect(conn.closes).toEqual([]);

    await waitFor(() => conn.closes.length > 0, 6_000, "the socket to close at the key's expiry");
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    expect(conn.closes[0].code).toBe(4403);
    expect((sub.error as CloseLike).code).toBe(4403);
    const delivered = sub.results.length;
    await createCustomer(t, aCustomer({ displayName: "过期之后" }));
    await t.server.app.outbox.idle();
    expect(sub.results.length).toBe(delivered);
  });

  it("reads each event's customer once, whatever the number of subscribers (statements per event constant)", async () => {
    const reader = await createKey(t, ["customers:read"]);
    const target = await createCustomer(t, aCustomer({ displayName: "计数" }));
    const subs: Sub[] = [];
    const statementsWith = async (n: number, name: string) => {
      while (subs.length < n) {
        const sub = subscribe(connect(reader.key), { id: target.id });
        await prime(sub, async (attempt) => {
          await update({ id: target.id, displayName: `预热 ${subs.length} ${attempt}` });
          return target.id;
        });
        subs.push(sub);
      }
      const before = subs.map((x) => x.results.length);
      const statements = await t.countStatements(async () => {
        await update({ id: target.id, displayName: name });
        await t.server.app.outbox.idle();
        await waitFor(() => subs.every((x) => x.customers().slice(-1)[0]?.displayName === name), 5_000, `${n} deliveries`);
      });
      expect(subs.map((x, i) => x.results.length - before[i])).toEqual(subs.map(() => 1));
      return statements;
    };
    const one = await statementsWith(1, "一位订阅者");
    const twenty = await statementsWith(20, "二十位订阅者");
    // The update's own statements plus one read of the customer and one of its identities for all subscribers.
    expect(twenty).toBe(one);
  });

  it("runs one execution per event for identical subscriptions, and never shares one across different scopes", async () => {
    const target = await createCustomer(t, aCustomer({ displayName: "共享" }));
    const Q = `subscription($id: ID) { customerUpdated(id: $id) { id displayName orders { totalCount } } }`;
    const open = (key: string) => {
      const out: { results: any[] } = { results: [] };
      connect(key).client.subscribe({ query: Q, variables: { id: target.id } }, { next: (r) => void out.results.push(r), error: () => undefined, complete: () => undefined });
      return out;
    };
    const full = await createKey(t, ["customers:read", "orders:read"]);
    const other = await createKey(t, ["customers:read", "orders:read"]); // another key, the same scopes: the same group
    const narrow = await createKey(t, ["customers:read"]); // no orders:read: a group of its own
    const subs = [...Array.from({ length: 9 }, () => open(full.key)), open(other.key)];
    const narrowSub = open(narrow.key);
    const all = [...subs, narrowSub];
    // Prime until every subscription has heard a change.
    for (let i = 0; i < 50 && !all.every((x) => x.results.length > 0); i++) {
      await update({ id: target.id, displayName: `共享 ${i}` });
      await t.server.app.outbox.idle();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(all.every((x) => x.results.length > 0)).toBe(true);
    // Quiet: one more change that every subscriber has heard, so no priming delivery is still under way.
    await update({ id: target.id, displayName: "共享 静" });
    await t.server.app.outbox.idle();
    await waitFor(() => subs.every((x) => JSON.stringify(x.results.slice(-1)[0]).includes("共享 静")), 5_000, "the quiet change");
    // …and nothing more arrives (the narrow key's deliveries carry no name: its `orders` is refused).
    for (let stable = 0, last = ""; stable < 3; ) {
      await new Promise((r) => setTimeout(r, 100));
      const now = all.map((x) => x.results.length).join();
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
    const executions = async () => (await t.server.app.metrics.registry.getSingleMetric("crm_subscription_executions_total")!.get()).values[0].value;
    const serialized = async () => (await t.server.app.metrics.registry.getSingleMetric("crm_subscription_payloads_serialized_total")!.get()).values[0].value;
    const before = await executions();
    const serializedBefore = await serialized();
    const counts = all.map((x) => x.results.length);
    await update({ id: target.id, displayName: "共享之后" });
    await t.server.app.outbox.idle();
    await waitFor(() => all.every((x, i) => x.results.length > counts[i]), 5_000, "every subscriber's delivery");
    expect((await executions()) - before).toBe(2); // one per group, not one per subscriber
    expect((await serialized()) - serializedBefore).toBe(2); // and one JSON.stringify of each group's payload
    for (const x of subs) {
      expect(x.results.slice(-1)[0]).toEqual({ data: { customerUpdated: { id: target.id, displayName: "共享之后", orders: { totalCount: 0 } } } });
    }
    const mine = narrowSub.results.slice(-1)[0];
    expect(errorCodes(mine.errors)).toEqual(["FORBIDDEN"]);
    expect(JSON.stringify(mine.data ?? null)).not.toContain("totalCount");
  });

  it("never delivers an older state of a customer after a newer one, under concurrent changes", async () => {
    const target = await createCustomer(t, aCustomer({ displayName: "并发" }));
    const subs = [subscribe(connect(t.adminKey), { id: target.id }), subscribe(connect(t.adminKey), { id: target.id })];
    for (const sub of subs) await prime(sub, async (attempt) => (await update({ id: target.id, displayName: `并发 ${attempt}` }), target.id));
    // Tags only accumulate, so states are ordered by inclusion: a stale delivery would lack a tag an earlier one had.
    const tags = Array.from({ length: 12 }, (_, i) => `t${i}`);
    await Promise.all(tags.map((tag) => addTags(target.id, [tag])));
    await t.server.app.outbox.idle();
    for (const sub of subs) {
      await waitFor(() => tags.every((tag) => sub.customers().slice(-1)[0]?.tags?.includes(tag)), 5_000, "the last state");
      const states = sub.customers().map((c) => new Set<string>(c.tags.filter((x: string) => tags.includes(x))));
      for (let i = 1; i < states.length; i++) {
        const missing = [...states[i - 1]].filter((tag) => !states[i].has(tag));
        expect({ delivery: i, missing }).toEqual({ delivery: i, missing: [] });
      }
    }
  });

  it("serves no further reads or writes on an open socket once its key has expired", async () => {
    const key = await createKey(t, ["customers:read", "customers:write"]);
    const conn = connect(key.key);
    const sub = subscribe(conn);
    await primeByCreating(sub); // the socket is open and authenticated
    await t.server.app.db.dataSource.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [localId(key.id, "ApiKey")]);
    // Over HTTP the key is refused now.
    expect((await t.gql(`{ customers { totalCount } }`, {}, key.key)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");

    const input = aCustomer({ displayName: "过期密钥写入" });
    const ops = {
      read: { query: `{ customers { totalCount } }` },
      write: {
        query: `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }`,
        variables: { input },
      },
    };
    const outcome: Record<string, string> = {};
    for (const [name, op] of Object.entries(ops)) {
      const out: { results: any[]; error: unknown; done: boolean } = { results: [], error: undefined, done: false };
      conn.client.subscribe(op, {
        next: (r) => void out.results.push(r),
        error: (e) => {
          out.error = e;
          out.done = true;
        },
        complete: () => {
          out.done = true;
        },
      });
      await waitFor(() => out.done, 5000, `an answer to the ${name}`);
      // Refused either with a GraphQL error or by closing the socket with 4403 — but never served.
      const codes = Array.isArray(out.error) ? errorCodes(out.error) : out.results.flatMap((r) => errorCodes(r.errors));
      const closeCode = Array.isArray(out.error) ? undefined : (out.error as CloseLike | undefined)?.code;
      outcome[name] = out.results.some((r) => r.data)
        ? `served: ${JSON.stringify(out.results)}`
        : closeCode === 4403 || (codes.length > 0 && codes.every((c) => c === "FORBIDDEN" || c === "UNAUTHENTICATED"))
          ? "refused"
          : `unexpected: ${JSON.stringify(out)}`;
    }
    expect(outcome).toEqual({ read: "refused", write: "refused" });
    const phone = await t.gql(`query($v: String!) { customerByIdentity(type: PHONE, value: $v) { id } }`, { v: input.phone });
    expect(phone.data.customerByIdentity).toBeNull();
  });

  it("refuses to subscribe with a key that has customers:write but not customers:read (FORBIDDEN)", async () => {
    const writer = await createKey(t, ["customers:write"]);
    const sub = subscribe(connect(writer.key));
    await waitFor(() => sub.error !== undefined || sub.completed, 5000, "the subscription to be refused");
    const errors = Array.isArray(sub.error) ? sub.error : sub.results.flatMap((r) => r.errors ?? []);
    expect(errorCodes(errors)).toEqual(["FORBIDDEN"]);
    expect(sub.results.filter((r) => r.data?.customerUpdated)).toEqual([]);
  });
});
