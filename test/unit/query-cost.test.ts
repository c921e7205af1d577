import "reflect-metadata";
import { parse } from "graphql";
import { createSchema } from "../../src/graphql/schema";
import { operationCost } from "../../src/graphql/cost";

/** Costs worked out by hand from the model in src/graphql/cost.ts (objects 1, scalars 0, pages multiply). */
describe("operation cost", () => {
  const cost = async (query: string, variables?: Record<string, unknown>, operationName?: string) => operationCost(await createSchema(), parse(query), operationName, variables);

  it("charges a page by its size, nested pages multiplied, scalars nothing", async () => {
    // 1 + 250 × (node 1 + identities 1 + stats 1 + orders (1 + 5 × (node 1 + items 1)))
    expect(await cost(`{ customers(first: 250) { nodes { id displayName identities { type value } stats { ordersCount } orders(first: 5) { nodes { id items { sku } } } } } }`)).toBe(3_501);
    // Through edges: 1 + 250 × (edges 1 + node 1 + 13)
    expect(await cost(`{ customers(first: 250) { edges { cursor node { id identities { type } stats { ordersCount } orders(first: 5) { nodes { id items { sku } } } } } } }`)).toBe(3_751);
    expect(await cost(`{ viewer { scopes } }`)).toBe(1);
  });

  it("reads page sizes from variables, defaults to 50 and caps at 250", async () => {
    const q = `query($n: Int) { customers(first: $n) { nodes { id stats { ordersCount } } } }`; // 1 + n × (1 + 1)
    expect(await cost(q, { n: 10 })).toBe(21);
    expect(await cost(q, {})).toBe(101);
    expect(await cost(`{ customers(last: 100000) { nodes { id } } }`)).toBe(251);
  });

  it("counts fragments and the named operation only", async () => {
    const doc = `
      query Small { viewer { scopes } }
      query Big { customers(first: 20) { nodes { ...F } } }
      fragment F on Customer { stats { ordersCount } ... on Customer { identities { type } } }`;
    expect(await cost(doc, {}, "Big")).toBe(1 + 20 * 3);
    expect(await cost(doc, {}, "Small")).toBe(1);
  });

  it("makes three nested pages of 250 cost millions", async () => {
    const q = `subscription { customerUpdated { orders(first: 250) { nodes { customer { orders(first: 250) { nodes { customer { orders(first: 250) { nodes { id } } } } } } } } } }`;
    expect(await cost(q)).toBe(15_813_252);
  });
});
