import { createTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t?.close());

const PAGE = (n: number, orders: number) =>
  `{ customers(first: ${n}) { edges { node { id displayName phone tags identities { type value } stats { ordersCount totalSpent lastOrderAt } orders(first: ${orders}) { nodes { id total status items { sku quantity } } } } } } }`;

describe("the cost limit (GRAPHQL_MAX_COST, 50,000 by default)", () => {
  it("lets the documented largest page through, with nested pages of orders", async () => {
    for (const [n, orders] of [
      [250, 5],
      [50, 50],
      [250, 10],
    ]) {
      const r = await t.gql(PAGE(n, orders));
      expect({ n, orders, errors: r.errors }).toEqual({ n, orders, errors: undefined });
    }
  });

  it("refuses what would multiply past it with QUERY_TOO_COSTLY, naming the cost and the limit, before running it", async () => {
    const before = t.server.app.db.sql.statements;
    const r = await t.gql(`query($n: Int) { customers(first: $n) { nodes { orders(first: 250) { nodes { customer { identities { type } } } } } } }`, { n: 250 });
    expect(r.status).toBe(400);
    expect(r.errors).toHaveLength(1);
    // 1 + 250 × (1 + 1 + 250 × (1 + 1 + 1))
    expect(r.errors![0].extensions).toMatchObject({ code: "QUERY_TOO_COSTLY", cost: 188_001, maxCost: 50_000 });
    expect(r.errors![0].message).toBe("The query costs 188,001, more than the limit of 50,000 (GRAPHQL_MAX_COST): ask for smaller pages (first/last) or fewer nested lists");
    expect(r.data).toBeUndefined();
    // Authentication reads the key; nothing else ran.
    expect(t.server.app.db.sql.statements - before).toBeLessThanOrEqual(1);
  });
});
