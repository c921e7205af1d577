import { createHash } from "node:crypto";
import { aCustomer, createCustomer } from "../fixtures/customers";
import { createKey, createTestServer, randomKey, type TestServer } from "../helpers/test-server";
import { localId, toGlobalId } from "../../src/core/global-id";

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t?.close());

const CREATE_CUSTOMER = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }`;
const CREATE_TENANT = `mutation($name: String!) { createTenant(input: {name: $name}) { tenant { id name } apiKey userErrors { field code message } } }`;
const CREATE_KEY = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey key { id name prefix scopes expiresAt revokedAt createdAt } userErrors { field code message } }
}`;
const REVOKE_KEY = `mutation($id: ID!) { revokeApiKey(input: {id: $id}) { key { id revokedAt } userErrors { field code message } } }`;
const VIEWER = `{ viewer { isPlatform scopes tenant { id name } } }`;
const API_KEYS = `{ apiKeys { id name prefix scopes expiresAt revokedAt createdAt } }`;

/** A POST to /graphql with exactly the given headers (no helper-added Authorization). */
async function rawPost(headers: Record<string, string>, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${t.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) };
}

async function count(table: "customers" | "tenants" | "api_keys"): Promise<number> {
  const rows = await t.server.app.db.dataSource.query(`SELECT count(*)::int AS n FROM ${table}`);
  return Number(rows[0].n);
}

function sha256(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex");
}

/** Every object key anywhere in a JSON value. */
function allKeys(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => allKeys(x, out));
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      allKeys(x, out);
    }
  }
  return out;
}

function expectNoStackTrace(body: unknown) {
  const keys = allKeys(body).map((k) => k.toLowerCase());
  expect(keys).not.toContain("stacktrace");
  expect(keys).not.toContain("stack");
  expect(keys).not.toContain("exception");
  // No "at fn (/path/file.ts:12:3)" frames smuggled into a message either.
  expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(ts|js|cjs|mjs):\d+/);
}

async function viewerOf(key: string) {
  return (await t.gql(VIEWER, {}, key)).data?.viewer;
}

describe("unauthenticated requests", () => {
  // Functions, because t (and its keys) exist only once beforeAll has run.
  const cases: [string, () => Record<string, string>][] = [
    ["no Authorization header", () => ({})],
    ["an unknown bearer key", () => ({ authorization: `Bearer ${randomKey()}` })],
    ["a Basic header", () => ({ authorization: "Basic xyz" })],
    ["a Basic header carrying the real admin key", () => ({ authorization: `Basic ${t.adminKey}` })],
    ["the real admin key without a scheme", () => ({ authorization: t.adminKey })],
    ["a Bearer scheme with no token", () => ({ authorization: "Bearer" })],
    ["a Bearer header with two tokens", () => ({ authorization: "Bearer a b" })],
    ["an over-long bearer token", () => ({ authorization: `Bearer ${"x".repeat(600)}` })],
  ];

  it.each(cases)("rejects %s with HTTP 401 UNAUTHENTICATED, no data and no stack trace", async (_name, headers) => {
    const r = await rawPost(headers(), VIEWER);
    expect(r.status).toBe(401);
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect(r.body.data ?? null).toBeNull();
    expectNoStackTrace(r.body);
  });

  it("writes nothing when an unauthenticated caller sends mutations", async () => {
    const before = { customers: await count("customers"), tenants: await count("tenants"), keys: await count("api_keys") };
    const headerSets: Record<string, string>[] = [{}, { authorization: `Bearer ${randomKey()}` }, { authorization: `Basic ${t.platformKey}` }];
    for (const headers of headerSets) {
      const c = await rawPost(headers, CREATE_CUSTOMER, { input: aCustomer() });
      expect(c.status).toBe(401);
      expect(c.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
      expectNoStackTrace(c.body);
      const tn = await rawPost(headers, CREATE_TENANT, { name: `intruder-${Math.random()}` });
      expect(tn.status).toBe(401);
      const k = await rawPost(headers, CREATE_KEY, { input: { name: "x", scopes: ["admin"] } });
      expect(k.status).toBe(401);
    }
    expect({ customers: await count("customers"), tenants: await count("tenants"), keys: await count("api_keys") }).toEqual(before);
  });

  it("accepts the bearer scheme case-insensitively (control: a valid key authenticates)", async () => {
    const r = await rawPost({ authorization: `bearer ${t.adminKey}` }, VIEWER);
    expect(r.status).toBe(200);
    expect(r.body.data.viewer.tenant.name).toBe("default");
  });
});

describe("revoked and expired keys", () => {
  it("a revoked key gets 401 at once and disappears from apiKeys", async () => {
    const { key, id } = await createKey(t, ["customers:read"]);
    expect((await t.gql(`{ customers { totalCount } }`, {}, key)).status).toBe(200);
    const rv = await t.gql(REVOKE_KEY, { id });
    expect(rv.data.revokeApiKey.userErrors).toEqual([]);
    expect(rv.data.revokeApiKey.key.id).toBe(id);
    expect(rv.data.revokeApiKey.key.revokedAt).not.toBeNull();

    const r = await t.gql(`{ customers { totalCount } }`, {}, key);
    expect(r.status).toBe(401);
    expect(r.errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
    expectNoStackTrace(r.body);
    const list = await t.gql(API_KEYS);
    expect(list.data.apiKeys.map((k: any) => k.id)).not.toContain(id);
  });

  it("a key works until its expiresAt and gets 401 once it has passed", async () => {
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const r = await t.gql(CREATE_KEY, { input: { name: "temp", scopes: ["customers:read"], expiresAt } });
    expect(r.data.createApiKey.userErrors).toEqual([]);
    const { apiKey, key } = r.data.createApiKey;
    expect(new Date(key.expiresAt).getTime()).toBe(new Date(expiresAt).getTime());
    expect((await viewerOf(apiKey)).scopes).toEqual(["customers:read"]);

    const id = localId(key.id, "ApiKey");
    expect(id).not.toBeNull();
    await t.server.app.db.dataSource.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);

    const after = await t.gql(`{ customers { totalCount } }`, {}, apiKey);
    expect(after.status).toBe(401);
    expect(after.errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
    expect(after.data ?? null).toBeNull();
    expectNoStackTrace(after.body);
  });
});

describe("the platform key", () => {
  let acme: { id: string; key: string };

  beforeAll(async () => {
    const r = await t.gql(CREATE_TENANT, { name: "Acme 零售" }, t.platformKey);
    acme = { id: r.data.createTenant.tenant.id, key: r.data.createTenant.apiKey };
  });

  it("sees itself as the platform, with no tenant", async () => {
    expect(await viewerOf(t.platformKey)).toEqual({ isPlatform: true, scopes: ["platform"], tenant: null });
  });

  it("createTenant returns the tenant and an admin key that works for that tenant only", async () => {
    const r = await t.gql(CREATE_TENANT, { name: "  Beta 商城 " }, t.platformKey);
    const p = r.data.createTenant;
    expect(p.userErrors).toEqual([]);
    expect(p.tenant.name).toBe("Beta 商城");
    expect(localId(p.tenant.id, "Tenant")).not.toBeNull();
    expect(p.apiKey).toEqual(expect.any(String));
    expect(p.apiKey.length).toBeGreaterThanOrEqual(32);
    expect(await viewerOf(p.apiKey)).toEqual({ isPlatform: false, scopes: ["admin"], tenant: { id: p.tenant.id, name: "Beta 商城" } });
    // A fresh tenant starts with no customers.
    expect((await t.gql(`{ customers { totalCount } }`, {}, p.apiKey)).data.customers.totalCount).toBe(0);
  });

  it("refuses a duplicate tenant name (also after trimming) with TAKEN and creates nothing", async () => {
    const before = await count("tenants");
    for (const name of ["Acme 零售", "  Acme 零售  "]) {
      const r = await t.gql(CREATE_TENANT, { name }, t.platformKey);
      expect(r.data.createTenant).toEqual({
        tenant: null,
        apiKey: null,
        userErrors: [expect.objectContaining({ field: ["name"], code: "TAKEN" })],
      });
    }
    expect(await count("tenants")).toBe(before);
  });

  it("refuses an empty tenant name with REQUIRED", async () => {
    const r = await t.gql(CREATE_TENANT, { name: "   " }, t.platformKey);
    expect(r.data.createTenant.userErrors).toEqual([expect.objectContaining({ field: ["name"], code: "REQUIRED" })]);
    expect(r.data.createTenant.apiKey).toBeNull();
  });

  it("createApiKey with a tenantId creates a working key in that tenant", async () => {
    const r = await t.gql(CREATE_KEY, { input: { tenantId: acme.id, name: "crm-sync", scopes: ["customers:read", "customers:write"] } }, t.platformKey);
    const p = r.data.createApiKey;
    expect(p.userErrors).toEqual([]);
    expect(p.key).toMatchObject({ name: "crm-sync", scopes: ["customers:read", "customers:write"], revokedAt: null, expiresAt: null });
    expect(p.key.prefix).toBe(p.apiKey.slice(0, p.key.prefix.length));
    expect(await viewerOf(p.apiKey)).toEqual({
      isPlatform: false,
      scopes: expect.arrayContaining(["customers:read", "customers:write"]),
      tenant: { id: acme.id, name: "Acme 零售" },
    });
    // It writes into Acme, not into the default tenant.
    const c = await createCustomer(t, aCustomer(), p.apiKey);
    expect((await t.gql(`query($id: ID!) { customer(id: $id) { id } }`, { id: c.id }, acme.key)).data.customer).toEqual({ id: c.id });
    expect((await t.gql(`query($id: ID!) { customer(id: $id) { id } }`, { id: c.id })).data.customer).toBeNull();
  });

  it("createApiKey without tenantId answers REQUIRED and creates nothing", async () => {
    const before = await count("api_keys");
    const r = await t.gql(CREATE_KEY, { input: { name: "orphan", scopes: ["admin"] } }, t.platformKey);
    expect(r.data.createApiKey).toEqual({ apiKey: null, key: null, userErrors: [expect.objectContaining({ field: ["tenantId"], code: "REQUIRED" })] });
    expect(await count("api_keys")).toBe(before);
  });

  it("createApiKey for an unknown tenant, or with a non-Tenant id, answers NOT_FOUND", async () => {
    const ids = [toGlobalId("Tenant", "00000000-0000-0000-0000-000000000000"), toGlobalId("Customer", localId(acme.id, "Tenant")!), "garbage"];
    for (const tenantId of ids) {
      const r = await t.gql(CREATE_KEY, { input: { tenantId, name: "x", scopes: ["admin"] } }, t.platformKey);
      expect(r.data.createApiKey.apiKey).toBeNull();
      expect(r.data.createApiKey.userErrors).toEqual([expect.objectContaining({ field: ["tenantId"], code: "NOT_FOUND" })]);
    }
  });

  it("reads no tenant's data: customers and apiKeys are FORBIDDEN, node(customer) is null", async () => {
    const own = await createCustomer(t);
    const r = await t.gql(`{ customers { totalCount nodes { id } } }`, {}, t.platformKey);
    expect(r.status).toBe(200);
    expect(r.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(r.data).toBeNull();
    expectNoStackTrace(r.body);
    const c = await t.gql(`query($id: ID!) { customer(id: $id) { id } }`, { id: own.id }, t.platformKey);
    expect(c.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const k = await t.gql(API_KEYS, {}, t.platformKey);
    expect(k.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const n = await t.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: own.id }, t.platformKey);
    expect(n.errors).toBeUndefined();
    expect(n.data.node).toBeNull();
  });

  it("can revoke a tenant's key, which then gets 401", async () => {
    const { key, id } = await createKey(t, ["customers:read"], acme.key);
    const r = await t.gql(REVOKE_KEY, { id }, t.platformKey);
    expect(r.data.revokeApiKey.userErrors).toEqual([]);
    expect((await t.gql(VIEWER, {}, key)).status).toBe(401);
  });
});

describe("a tenant admin key", () => {
  it("createApiKey without tenantId creates a working key in its own tenant", async () => {
    const r = await t.gql(CREATE_KEY, { input: { name: " pos terminal ", scopes: ["customers:read", " customers:write"] } });
    const p = r.data.createApiKey;
    expect(p.userErrors).toEqual([]);
    expect(p.key).toMatchObject({ name: "pos terminal", scopes: ["customers:read", "customers:write"], revokedAt: null });
    expect(await viewerOf(p.apiKey)).toEqual({
      isPlatform: false,
      scopes: expect.arrayContaining(["customers:read", "customers:write"]),
      tenant: (await viewerOf(t.adminKey)).tenant,
    });
    // The new key can write but not manage keys.
    await createCustomer(t, aCustomer(), p.apiKey);
    expect((await t.gql(API_KEYS, {}, p.apiKey)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("createApiKey with its own tenant's id works too", async () => {
    const own = (await viewerOf(t.adminKey)).tenant.id;
    const r = await t.gql(CREATE_KEY, { input: { tenantId: own, name: "explicit", scopes: ["customers:read"] } });
    expect(r.data.createApiKey.userErrors).toEqual([]);
    expect((await viewerOf(r.data.createApiKey.apiKey)).tenant.id).toBe(own);
  });

  it("rejects an unknown scope with INVALID at its index, and creates nothing", async () => {
    const before = await count("api_keys");
    const r = await t.gql(CREATE_KEY, { input: { name: "bad", scopes: ["customers:delete"] } });
    expect(r.data.createApiKey).toEqual({ apiKey: null, key: null, userErrors: [expect.objectContaining({ field: ["scopes", "0"], code: "INVALID" })] });
    const r2 = await t.gql(CREATE_KEY, { input: { name: "bad", scopes: ["customers:read", "platform"] } });
    expect(r2.data.createApiKey.userErrors).toEqual([expect.objectContaining({ field: ["scopes", "1"], code: "INVALID" })]);
    expect(await count("api_keys")).toBe(before);
  });

  it("points an unknown scope's error at its index in the input even after a duplicate scope", async () => {
    const r = await t.gql(CREATE_KEY, { input: { name: "bad", scopes: ["admin", "admin", "superuser"] } });
    expect(r.data.createApiKey.apiKey).toBeNull();
    expect(r.data.createApiKey.userErrors).toEqual([expect.objectContaining({ field: ["scopes", "2"], code: "INVALID" })]);
  });

  it("rejects empty scopes with REQUIRED", async () => {
    const r = await t.gql(CREATE_KEY, { input: { name: "none", scopes: [] } });
    expect(r.data.createApiKey).toEqual({ apiKey: null, key: null, userErrors: [expect.objectContaining({ field: ["scopes"], code: "REQUIRED" })] });
  });

  it("rejects an empty name with REQUIRED", async () => {
    const r = await t.gql(CREATE_KEY, { input: { name: "  ", scopes: ["admin"] } });
    expect(r.data.createApiKey.userErrors).toEqual([expect.objectContaining({ field: ["name"], code: "REQUIRED" })]);
  });

  it("rejects an expiresAt in the past with INVALID and creates nothing", async () => {
    const before = await count("api_keys");
    const r = await t.gql(CREATE_KEY, { input: { name: "stale", scopes: ["customers:read"], expiresAt: new Date(Date.now() - 60_000).toISOString() } });
    expect(r.data.createApiKey).toEqual({ apiKey: null, key: null, userErrors: [expect.objectContaining({ field: ["expiresAt"], code: "INVALID" })] });
    expect(await count("api_keys")).toBe(before);
  });

  it("createTenant is FORBIDDEN and creates nothing", async () => {
    const before = await count("tenants");
    const r = await t.gql(CREATE_TENANT, { name: "sneaky" });
    expect(r.status).toBe(200);
    // Whole body, so a failure shows what an admin key got back (e.g. a new tenant's admin key).
    expect(r.body).toEqual({ data: null, errors: [expect.objectContaining({ extensions: { code: "FORBIDDEN" } })] });
    expectNoStackTrace(r.body);
    expect(await count("tenants")).toBe(before);
  });

  it("apiKeys lists the tenant's keys but never a secret or its hash", async () => {
    const r = await t.gql(CREATE_KEY, { input: { name: "listed", scopes: ["customers:write"] } });
    const { apiKey, key } = r.data.createApiKey;
    const list = await t.gql(API_KEYS);
    expect(list.errors).toBeUndefined();
    expect(list.data.apiKeys).toContainEqual(expect.objectContaining({ id: key.id, name: "listed", prefix: key.prefix, scopes: ["customers:write"] }));
    expect(list.data.apiKeys.map((k: any) => k.name)).toContain("bootstrap");
    const text = JSON.stringify(list.body);
    for (const secret of [apiKey, t.adminKey]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(sha256(secret));
    }
  });

  it("a customers:read key gets FORBIDDEN for createApiKey, revokeApiKey and apiKeys, and changes nothing", async () => {
    const reader = await createKey(t, ["customers:read"]);
    const target = await createKey(t, ["customers:read"]);
    const before = await count("api_keys");

    const c = await t.gql(CREATE_KEY, { input: { name: "escalate", scopes: ["admin"] } }, reader.key);
    expect(c.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(c.data).toBeNull();
    const rv = await t.gql(REVOKE_KEY, { id: target.id }, reader.key);
    expect(rv.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(rv.data).toBeNull();
    const self = await t.gql(REVOKE_KEY, { id: reader.id }, reader.key);
    expect(self.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect((await t.gql(API_KEYS, {}, reader.key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");

    expect(await count("api_keys")).toBe(before);
    expect((await viewerOf(target.key)).scopes).toEqual(["customers:read"]);
    expect((await viewerOf(reader.key)).scopes).toEqual(["customers:read"]);
  });

  it("a customers:write key cannot manage keys either", async () => {
    const writer = await createKey(t, ["customers:write"]);
    const c = await t.gql(CREATE_KEY, { input: { name: "escalate", scopes: ["admin"] } }, writer.key);
    expect(c.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

describe("key storage", () => {
  it("stores only a hash: no plaintext key appears in any column of api_keys", async () => {
    const created = await t.gql(CREATE_KEY, { input: { name: "stored", scopes: ["admin"] } });
    const tenant = await t.gql(CREATE_TENANT, { name: "Stored Co" }, t.platformKey);
    const secrets = [created.data.createApiKey.apiKey, tenant.data.createTenant.apiKey, t.adminKey];
    const rows = await t.server.app.db.dataSource.query(`SELECT * FROM api_keys`);
    const dump = JSON.stringify(rows);
    for (const secret of secrets) {
      expect(secret).toEqual(expect.any(String));
      expect(dump).not.toContain(secret);
      // Control: the row is there, under the key's SHA-256.
      expect(dump).toContain(sha256(secret));
    }
    // The platform key is configuration, never a row.
    expect(dump).not.toContain(t.platformKey);
    expect(dump).not.toContain(sha256(t.platformKey));
  });
});
