import { createTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({ GRAPHQL_MAX_DEPTH: "4", GRAPHQL_MAX_ALIASES: "5", GRAPHQL_MAX_TOKENS: "300" });
});
afterAll(() => t?.close());

const auth = () => ({ authorization: `Bearer ${t.adminKey}` });

describe("GraphQL over HTTP", () => {
  it("answers POST with application/graphql-response+json when the client accepts it", async () => {
    const res = await fetch(`${t.url}/graphql`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({ query: "{ viewer { isPlatform } }" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/graphql-response\+json/);
    expect(await res.json()).toEqual({ data: { viewer: { isPlatform: false } } });
  });

  it("answers POST with application/json by default", async () => {
    const res = await fetch(`${t.url}/graphql`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body: JSON.stringify({ query: "{ viewer { scopes } }" }),
    });
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(((await res.json()) as any).data.viewer.scopes).toEqual(["admin"]);
  });

  it("runs queries over GET and refuses mutations over GET with 405", async () => {
    const q = encodeURIComponent("{ viewer { isPlatform } }");
    const ok = await fetch(`${t.url}/graphql?query=${q}`, { headers: auth() });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as any).data.viewer.isPlatform).toBe(false);
    const m = encodeURIComponent('mutation { createCustomer(input: {displayName: "x"}) { customer { id } } }');
    const refused = await fetch(`${t.url}/graphql?query=${m}`, { headers: auth() });
    expect(refused.status).toBe(405);
    const count = await t.gql("{ customers { totalCount } }");
    expect(count.data.customers.totalCount).toBe(0);
  });

  it("answers a body that is not JSON with 400 and a reason", async () => {
    const res = await fetch(`${t.url}/graphql`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: "{not json" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.errors[0].message).toMatch(/JSON/);
    expect(JSON.stringify(body)).not.toMatch(/stack|at .*\.js/);
  });

  it("refuses a body with invalid UTF-8 with 400 and writes nothing (no U+FFFD stored)", async () => {
    const query = Buffer.from(`{"query":"mutation { createCustomer(input: {displayName: \\"王`, "utf8");
    const body = Buffer.concat([query, Buffer.from([0xe7, 0x8e]), Buffer.from(`\\"}) { customer { id } } }"}`, "utf8")]);
    const res = await fetch(`${t.url}/graphql`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/json/);
    const json = (await res.json()) as any;
    expect(json).toEqual({ errors: [{ message: "Request body is not valid UTF-8", extensions: { code: "BAD_REQUEST" } }] });
    const count = await t.gql("{ customers { totalCount } }");
    expect(count.data.customers.totalCount).toBe(0);
    // The same body, well-formed, is taken: the check is about the bytes, not the content.
    const good = Buffer.concat([query, Buffer.from("芳", "utf8"), Buffer.from(`\\"}) { customer { displayName } } }"}`, "utf8")]);
    const ok = await fetch(`${t.url}/graphql`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: good });
    expect(((await ok.json()) as any).data.createCustomer.customer.displayName).toBe("王芳");
  });

  /** POST as a client accepting `accept` (fetch's default is any type). */
  const post = async (query: string, variables: Record<string, unknown> | undefined, accept: string) => {
    const res = await fetch(`${t.url}/graphql`, { method: "POST", headers: { ...auth(), "content-type": "application/json", accept }, body: JSON.stringify({ query, variables }) });
    return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as any };
  };

  it("answers request errors with 200 to JSON clients and 400 to graphql-response+json clients (GraphQL over HTTP)", async () => {
    const cases: [string, Record<string, unknown> | undefined, string][] = [
      ["{ viewer { ", undefined, "GRAPHQL_PARSE_FAILED"],
      ["{ nope }", undefined, "GRAPHQL_VALIDATION_FAILED"],
      ["query($n: Int) { customers(first: $n) { totalCount } }", { n: "many" }, "BAD_USER_INPUT"],
    ];
    for (const [query, variables, code] of cases) {
      for (const accept of ["application/json", "*/*"]) {
        const json = await post(query, variables, accept);
        expect({ query, accept, status: json.status, type: json.type }).toEqual({ query, accept, status: 200, type: expect.stringMatching(/^application\/json/) });
        expect(json.body.data).toBeUndefined();
        expect(json.body.errors[0].extensions.code).toBe(code);
      }
      const strict = await post(query, variables, "application/graphql-response+json");
      expect({ query, status: strict.status, type: strict.type }).toEqual({ query, status: 400, type: expect.stringMatching(/^application\/graphql-response\+json/) });
      expect(strict.body.errors[0].extensions.code).toBe(code);
    }
    // An unauthenticated request is not a request error: 401 whatever it accepts.
    const unauth = await fetch(`${t.url}/graphql`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ query: "{ viewer { isPlatform } }" }) });
    expect(unauth.status).toBe(401);
  });

  it("limits query depth, aliases and tokens", async () => {
    const ok = await t.gql("{ customers { edges { node { id } } } }");
    expect(ok.errors).toBeUndefined();
    const tooDeep = await t.gql("{ customers { edges { node { identities { id } } } } }");
    expect(tooDeep.status).toBe(200); // a request error, answered in the body to JSON clients
    expect(tooDeep.errors?.[0].message).toMatch(/depth/i);
    const aliases = await t.gql(`{ ${Array.from({ length: 6 }, (_, i) => `a${i}: viewer { isPlatform }`).join(" ")} }`);
    expect(aliases.status).toBe(200);
    expect(aliases.errors?.[0].message).toMatch(/alias/i);
    const tokens = await t.gql(`{ viewer { ${"isPlatform ".repeat(400)} } }`);
    expect(tokens.status).toBe(200);
    expect(tokens.errors?.[0].extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
  });

  it("carries a request id: echoes a valid X-Request-Id and makes one up otherwise", async () => {
    const given = await fetch(`${t.url}/healthz`, { headers: { "x-request-id": "req-123" } });
    expect(given.headers.get("x-request-id")).toBe("req-123");
    const made = await fetch(`${t.url}/healthz`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("serves /healthz, /readyz and a JSON 404", async () => {
    expect((await (await fetch(`${t.url}/healthz`)).json()) as any).toEqual({ status: "ok" });
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await ready.json()) as any).toMatchObject({ status: "ready", pubsub: "in-process" });
    const missing = await fetch(`${t.url}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as any).error).toBe("not_found");
  });

  it("serves a GraphQL explorer to browsers", async () => {
    const res = await fetch(`${t.url}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toMatch(/sandbox|graphql/i);
  });
});
