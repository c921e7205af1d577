import { serverAudits } from "graphql-http";
import { createTestServer, type TestServer } from "../helpers/test-server";

/**
 * The GraphQL over HTTP spec's server audit (graphql-http), every MUST and every SHOULD, against the
 * real server. The audit's requests carry an API key, as every request here must.
 */
let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t.close());

const audits = serverAudits({
  url: () => `${t.url}/graphql`,
  fetchFn: (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${t.adminKey}`);
    return fetch(input, { ...init, headers });
  },
});

it("runs the whole audit (MUSTs and SHOULDs)", () => {
  expect(audits.length).toBeGreaterThan(40);
});

it.each(audits.map((a) => [a.name, a] as const))("%s", async (_name, audit) => {
  const result = await audit.fn();
  if (result.status !== "ok") throw new Error(`${result.status}: ${result.reason}`);
});
