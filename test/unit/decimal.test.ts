import { graphql, GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import { canonicalDecimal, DecimalScalar, fromMilli, minDecimal, toMilli } from "../../src/core/decimal";
import { parseNormalizedEvent } from "../../src/plugins/events";

describe("decimal quantities", () => {
  it.each([
    [0.42, "0.42"],
    ["0.420", "0.42"],
    ["007", "7"],
    [2, "2"],
    ["2.000", "2"],
    ["1000000", "1000000"],
    [" 1.5 ", "1.5"],
    [0.001, "0.001"],
    ["0", "0"],
  ])("reads %p as %p", (input, expected) => {
    expect(canonicalDecimal(input)).toBe(expected);
  });

  it.each([[0.1 + 0.2], ["0.0001"], [1e-7], ["1e3"], ["-1"], [-0.5], ["1,5"], [""], [Number.NaN], [Infinity], [null], [{}], ["0x10"], ["1.2.3"]])("refuses %p", (input) => {
    expect(canonicalDecimal(input)).toBeNull();
  });

  it("computes in thousandths, exactly", () => {
    expect(toMilli("0.42")).toBe(420n);
    expect(toMilli(3)).toBe(3000n);
    expect(fromMilli(1250n)).toBe("1.25");
    expect(fromMilli(toMilli("0.1") + toMilli("0.2"))).toBe("0.3"); // where floats give 0.30000000000000004
    expect(minDecimal("1.25", 2)).toBe("1.25");
    expect(minDecimal("3", "2.999")).toBe("2.999");
  });

  it("is a GraphQL scalar serialized as a string, reading strings and numbers", async () => {
    const schema = new GraphQLSchema({
      query: new GraphQLObjectType({
        name: "Query",
        fields: {
          echo: { type: DecimalScalar, args: { q: { type: DecimalScalar } }, resolve: (_s, a: { q: string }) => a.q },
          stored: { type: DecimalScalar, resolve: () => 2 },
          bad: { type: GraphQLString },
        },
      }),
    });
    expect(await graphql({ schema, source: `{ a: echo(q: "0.420") b: echo(q: 1.5) c: echo(q: 3) stored }` })).toEqual({ data: { a: "0.42", b: "1.5", c: "3", stored: "2" } });
    const refused = await graphql({ schema, source: `query($q: Decimal) { echo(q: $q) }`, variableValues: { q: "0.0001" } });
    expect(refused.errors?.[0].message).toMatch(/three fractional digits/);
  });
});

describe("quantities in normalized events", () => {
  const paid = (items: unknown[]) => ({
    type: "order.paid",
    externalId: "q-1",
    occurredAt: "2026-11-20T10:30:02+08:00",
    payload: { orderId: "Q1", currency: "CNY", total: 538, items },
  });

  it("accepts a JSON number or a decimal string and carries the canonical string, with the unit", () => {
    const r = parseNormalizedEvent(paid([{ sku: "APPLE", quantity: 0.42, unit: "kg", unitPrice: 1280 }, { sku: "TEA", quantity: "2.000", unitPrice: 4900 }]));
    if (!r.ok) throw new Error(r.reason);
    expect(r.event.type === "order.paid" && r.event.payload.items).toEqual([
      { sku: "APPLE", quantity: "0.42", unit: "kg", unitPrice: 1280 },
      { sku: "TEA", quantity: "2", unitPrice: 4900 },
    ]);
  });

  it.each([
    [0, /greater than 0/],
    ["0.0001", /at most 3 fractional digits/],
    [0.1 + 0.2, /at most 3 fractional digits/],
    [1_000_000.5, /at most 1000000/],
    ["-1", /at most 3 fractional digits/],
  ])("rejects quantity %p with the reason", (quantity, reason) => {
    const r = parseNormalizedEvent(paid([{ sku: "APPLE", quantity, unitPrice: 1280 }]));
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/^payload\.items\.0\.quantity: /) });
    expect(!r.ok && r.reason).toMatch(reason);
  });
});
