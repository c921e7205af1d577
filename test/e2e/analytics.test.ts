import { fixedClock } from "../../src/core/calendar";
import { expectedAverageValue, expectedPurchases, probabilityAlive } from "../../src/modules/analytics/value-model";
import { rng } from "../fixtures/events";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * RFM, lifecycle stages and the customer-value model through the API, on customers whose orders are
 * written out below with every expected figure worked out by hand (quintile ranks, cells, stages, the
 * models' inputs x / t_x / T). The model's mathematics is checked against published figures in
 * test/unit/value-model.test.ts; here, that the server feeds it the right histories and serves what it says.
 *
 * "Now" is 2026-12-01 12:00 in Shanghai; every order is placed at 10:00 local time, `d` days before.
 */
const NOW = "2026-12-01T04:00:00Z";
const day = (d: number) => new Date(Date.parse("2026-12-01T02:00:00Z") - d * 86_400_000).toISOString();
let t: TestServer;
let connectionId: string;

beforeAll(async () => {
  t = await createTestServer({}, { clock: fixedClock(NOW) });
  const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`);
  connectionId = conn.data.createChannelConnection.connection.id;
});
afterAll(() => t.close());

async function ingest(events: unknown[]) {
  for (let i = 0; i < events.length; i += 500) {
    const r = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status reason } userErrors { message } } }`, { input: { connectionId, events: events.slice(i, i + 500) } });
    expect(r.errors).toBeUndefined();
    expect(r.data.ingestEvents.results.filter((x: { status: string }) => x.status !== "ACCEPTED")).toEqual([]);
  }
}

const phoneOf = (name: string) => `139${String(10_000_000 + [...name].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 9_000_000, 7)).padStart(8, "0")}`;
function person(name: string, orders: [daysAgo: number, total: number][], tags = ["fixture"]) {
  const phone = phoneOf(name);
  return [
    { type: "customer.upserted", externalId: `c-${name}`, occurredAt: day(500), identities: [{ type: "phone", value: phone }], payload: { displayName: name, tags } },
    ...orders.map(([d, total], i) => ({
      type: "order.paid",
      externalId: `${name}-${i}`,
      occurredAt: day(d),
      identities: [{ type: "phone", value: phone }],
      payload: { orderId: `${name}-${i}`, currency: "CNY", total, items: [] },
    })),
  ];
}

/**
 * In the 365-day window (F1, R1…R5), ranks give scores 1 + floor(5 × percent_rank), ties sharing the lower:
 *            last order   orders   spent      R  F  M   FM   cell          stage
 *   F1         10 d ago     1      20,000     5  1  1   1    NEW           FIRST_PURCHASE
 *   R1        300 d         1      50,000     1  1  3   2    LOST          DORMANT (> 180 d)
 *   R2        150 d         2      20,000     2  3  1   2    HIBERNATING   AT_RISK (> 90 d)
 *   R3         60 d         4      95,000     3  4  4   4    LOYAL         REPEAT
 *   R4         20 d         4     100,000     4  4  5   5    CHAMPIONS     REPEAT
 *   R5          1 d         5     200,000     5  5  5   5    CHAMPIONS     LOYAL (5 orders)
 *   O         400 d         1      99,000     —  outside the window —      CHURNED (> 365 d)
 *   P           —           0           0     —                            PROSPECT
 * R3's first day has two orders (30,000 and 5,000: one purchase): purchase days 120, 90, 60 d ago → x = 2,
 * t_x = 60, T = 120, mean repeat value m = 30,000.
 */
const PEOPLE = {
  F1: person("F1", [[10, 20_000]]),
  R1: person("R1", [[300, 50_000]]),
  R2: person("R2", [[200, 10_000], [150, 10_000]]),
  R3: person("R3", [[120, 30_000], [120, 5_000], [90, 30_000], [60, 30_000]]),
  R4: person("R4", [[80, 25_000], [60, 25_000], [40, 25_000], [20, 25_000]]),
  R5: person("R5", [[5, 40_000], [4, 40_000], [3, 40_000], [2, 40_000], [1, 40_000]]),
  O: person("O", [[400, 99_000]]),
  P: person("P", []),
};

async function idOf(name: string): Promise<string> {
  const r = await t.gql(`query($p: String!) { customers(first: 2, filter: {phone: $p}) { nodes { id } } }`, { p: phoneOf(name) });
  return r.data.customers.nodes[0].id;
}

const CARD = `rfm { recency frequency monetary score segment } lifecycleStage`;

describe("RFM and lifecycle stages", () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    await ingest(Object.values(PEOPLE).flat());
    for (const name of Object.keys(PEOPLE)) ids[name] = await idOf(name);
  });

  it("moves lifecycle stages with every ingested order, before any refresh", async () => {
    const stages: Record<string, string> = {};
    for (const [name, id] of Object.entries(ids)) stages[name] = (await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { lifecycleStage rfm { score } } } }`, { id })).data.node.lifecycleStage;
    expect(stages).toEqual({ F1: "FIRST_PURCHASE", R1: "DORMANT", R2: "AT_RISK", R3: "REPEAT", R4: "REPEAT", R5: "LOYAL", O: "CHURNED", P: "PROSPECT" });
  });

  it("scores RFM by quintile of rank and names each cell, after refreshCustomerAnalytics", async () => {
    const r = await t.gql(`mutation { refreshCustomerAnalytics { scoredCustomers userErrors { code } } }`);
    expect(r.data.refreshCustomerAnalytics).toEqual({ scoredCustomers: 6, userErrors: [] });
    const got: Record<string, unknown> = {};
    for (const [name, id] of Object.entries(ids)) got[name] = (await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { ${CARD} } } }`, { id })).data.node.rfm;
    expect(got).toEqual({
      F1: { recency: 5, frequency: 1, monetary: 1, score: 511, segment: "NEW" },
      R1: { recency: 1, frequency: 1, monetary: 3, score: 113, segment: "LOST" },
      R2: { recency: 2, frequency: 3, monetary: 1, score: 231, segment: "HIBERNATING" },
      R3: { recency: 3, frequency: 4, monetary: 4, score: 344, segment: "LOYAL" },
      R4: { recency: 4, frequency: 4, monetary: 5, score: 445, segment: "CHAMPIONS" },
      R5: { recency: 5, frequency: 5, monetary: 5, score: 555, segment: "CHAMPIONS" },
      O: null,
      P: null,
    });
  });

  it("serves them to segments (rfm_segment, lifecycle_stage)", async () => {
    const preview = async (q: string) => {
      const r = await t.gql(`query($q: String) { previewSegment(query: $q) { sample(first: 50) { displayName } userErrors { message } } }`, { q });
      expect(r.data.previewSegment.userErrors).toEqual([]);
      return r.data.previewSegment.sample.map((c: { displayName: string }) => c.displayName).sort();
    };
    expect(await preview('rfm_segment = "CHAMPIONS"')).toEqual(["R4", "R5"]);
    expect(await preview('rfm_segment IN ("LOST", "HIBERNATING")')).toEqual(["R1", "R2"]);
    expect(await preview('tag = "fixture" AND lifecycle_stage = "REPEAT"')).toEqual(["R3", "R4"]);
    expect(await preview('tag = "fixture" AND lifecycle_stage IN ("PROSPECT", "CHURNED")')).toEqual(["O", "P"]);
    expect(await preview('tag = "fixture" AND NOT rfm_segment = "CHAMPIONS"')).toEqual(["F1", "O", "P", "R1", "R2", "R3"]);
  });

  it("takes thresholds per tenant, validated", async () => {
    const bad = await t.gql(`mutation { updateCustomerAnalyticsSettings(input: {atRiskDays: 400}) { settings { atRiskDays } userErrors { field code } } }`);
    expect(bad.data.updateCustomerAnalyticsSettings).toEqual({ settings: null, userErrors: [{ field: ["dormantDays"], code: "INVALID" }] });
    const good = await t.gql(`mutation { updateCustomerAnalyticsSettings(input: {loyalOrders: 4}) { settings { loyalOrders atRiskDays } userErrors { field } } }`);
    expect(good.data.updateCustomerAnalyticsSettings).toEqual({ settings: { loyalOrders: 4, atRiskDays: 90 }, userErrors: [] });
    await t.gql(`mutation { refreshCustomerAnalytics { scoredCustomers } }`);
    // R4 (4 orders, 20 days ago) is loyal now; R3 (4 orders, 60 days) too.
    expect((await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { lifecycleStage } } }`, { id: ids.R4 })).data.node.lifecycleStage).toBe("LOYAL");
    await t.gql(`mutation { updateCustomerAnalyticsSettings(input: {loyalOrders: null}) { userErrors { field } } }`);
    await t.gql(`mutation { refreshCustomerAnalytics { scoredCustomers } }`);
  });
});

describe("value tiers and insights", () => {
  it("creates the four value tiers at the first refresh, as editable rule segments over RFM", async () => {
    const r = await t.gql(`{ segments(first: 50) { nodes { systemKey name kind query size } } }`);
    const tiers = Object.fromEntries(r.data.segments.nodes.filter((s: { systemKey: string | null }) => s.systemKey).map((s: { systemKey: string; kind: string; size: number }) => [s.systemKey, [s.kind, s.size]]));
    // From the RFM table above: LOYAL R3, CHAMPIONS R4 R5; NEW F1; none in the middle; LOST R1, HIBERNATING R2.
    expect(tiers).toEqual({ HIGH_VALUE: ["RULE", 3], POTENTIAL: ["RULE", 1], ORDINARY: ["RULE", 0], DORMANT: ["RULE", 2] });
  });

  it("describes a segment in totals and distributions worked out by hand", async () => {
    const r = await t.gql(
      `query($q: String) { segmentInsights(query: $q) { customers orders revenue averageOrderValue repurchaseRate discountSensitivity
         gender { key customers share } ageBand { key customers } province { key customers } channel { key customers } lifecycleStage { key customers }
         rfmSegment { key customers } averageOrderValueBand { key customers } predictedValueBand { key customers } } }`,
      { q: 'tag = "fixture"' },
    );
    expect(r.errors).toBeUndefined();
    const i = r.data.segmentInsights;
    // Counted orders: F1 1, R1 1, R2 2, R3 4, R4 4, R5 5, O 1 = 18; spent 20,000 + 50,000 + 20,000 + 95,000 + 100,000 + 200,000 + 99,000.
    expect(i).toMatchObject({ customers: 8, orders: 18, revenue: 584_000, averageOrderValue: 32_444, repurchaseRate: 4 / 7, discountSensitivity: 0 });
    expect(i.gender).toEqual([{ key: "UNKNOWN", customers: 8, share: 1 }]);
    expect(i.ageBand).toEqual([...["0-18", "18-25", "25-30", "30-35", "35-40", "40-50", "50+"].map((key) => ({ key, customers: 0 })), { key: "NONE", customers: 8 }]);
    expect(i.province).toEqual([{ key: "NONE", customers: 8 }]);
    expect(i.channel).toEqual([{ key: "http-json", customers: 7 }]);
    expect(i.lifecycleStage).toEqual([
      { key: "REPEAT", customers: 2 },
      { key: "AT_RISK", customers: 1 },
      { key: "CHURNED", customers: 1 },
      { key: "DORMANT", customers: 1 },
      { key: "FIRST_PURCHASE", customers: 1 },
      { key: "LOYAL", customers: 1 },
      { key: "PROSPECT", customers: 1 },
    ]);
    expect(i.rfmSegment).toEqual([
      { key: "CHAMPIONS", customers: 2 },
      { key: "NONE", customers: 2 },
      { key: "HIBERNATING", customers: 1 },
      { key: "LOST", customers: 1 },
      { key: "LOYAL", customers: 1 },
      { key: "NEW", customers: 1 },
    ]);
    // Average order values: R2 10,000; F1 20,000, R3 23,750, R4 25,000, R5 40,000; R1 50,000, O 99,000; P none.
    expect(i.averageOrderValueBand).toEqual([
      { key: "0-5000", customers: 0 },
      { key: "5000-10000", customers: 0 },
      { key: "10000-20000", customers: 1 },
      { key: "20000-50000", customers: 4 },
      { key: "50000-100000", customers: 2 },
      { key: "100000+", customers: 0 },
      { key: "NONE", customers: 1 },
    ]);
    expect(i.predictedValueBand).toEqual([
      { key: "0-10000", customers: 0 },
      { key: "10000-50000", customers: 0 },
      { key: "50000-200000", customers: 0 },
      { key: "200000-500000", customers: 0 },
      { key: "500000+", customers: 0 },
      { key: "NONE", customers: 8 },
    ]);
  });

  it("compares two segments side by side, with their overlap", async () => {
    const r = await t.gql(`{ segments(first: 50) { nodes { id systemKey } } }`);
    const by = Object.fromEntries(r.data.segments.nodes.filter((s: { systemKey: string | null }) => s.systemKey).map((s: { systemKey: string; id: string }) => [s.systemKey, s.id]));
    const c = await t.gql(`query($a: ID!, $b: ID!) { compareSegments(a: $a, b: $b) { a { customers revenue } b { customers revenue } overlap } }`, { a: by.HIGH_VALUE, b: by.DORMANT });
    // High value: R3 95,000 + R4 100,000 + R5 200,000; dormant: R1 50,000 + R2 20,000.
    expect(c.data.compareSegments).toEqual({ a: { customers: 3, revenue: 395_000 }, b: { customers: 2, revenue: 70_000 }, overlap: 0 });
    const self = await t.gql(`query($a: ID!) { compareSegments(a: $a, b: $a) { overlap } }`, { a: by.HIGH_VALUE });
    expect(self.data.compareSegments.overlap).toBe(3);
    const bad = await t.gql(`query { segmentInsights(query: "orders_count >> 3") { customers } }`);
    expect(bad.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("the customer-value model", () => {
  it("refuses to fit without 50 repeat customers, and is absent until fitted", async () => {
    expect((await t.gql(`{ customerValueModel { fittedAt } }`)).data.customerValueModel).toBeNull();
    const r = await t.gql(`mutation { refreshCustomerValueModel { model { fittedAt } userErrors { code message } } }`);
    expect(r.data.refreshCustomerValueModel.model).toBeNull();
    expect(r.data.refreshCustomerValueModel.userErrors).toEqual([{ code: "INSUFFICIENT_DATA", message: expect.stringContaining("there are 4") }]);
    const c = await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { predictions { probabilityAlive } } } }`, { id: await idOf("R3") });
    expect(c.data.node.predictions).toBeNull();
  });

  it("fits on the tenant's histories and predicts from them with the closed forms", async () => {
    // 60 more repeat buyers, 2–5 purchase days each over the last 300 days.
    const r = rng(7);
    const more = Array.from({ length: 60 }, (_, i) => {
      const n = 2 + Math.floor(r() * 4);
      const days = [...new Set(Array.from({ length: n }, () => 1 + Math.floor(r() * 300)))].sort((a, b) => b - a);
      return person(`S${i}`, days.map((d) => [d, 5_000 + Math.floor(r() * 50_000)] as [number, number]), ["synthetic"]);
    });
    await ingest(more.flat());
    const repeaters = 4 + more.filter((events) => events.length - 1 >= 2).length; // R2–R5 and every S with two purchase days or more
    const fit = await t.gql(`mutation { refreshCustomerValueModel { model { fittedAt customers repeatCustomers bgnbd { r alpha a b } gammaGamma { p q v } } userErrors { code message } } }`);
    expect(fit.data.refreshCustomerValueModel.userErrors).toEqual([]);
    const model = fit.data.refreshCustomerValueModel.model;
    // Customers with a paid order: F1, R1–R5, O and the 60.
    expect(model).toMatchObject({ fittedAt: new Date(NOW).toISOString(), customers: 7 + 60, repeatCustomers: repeaters });
    for (const v of [model.bgnbd.r, model.bgnbd.alpha, model.bgnbd.a, model.bgnbd.b, model.gammaGamma.p, model.gammaGamma.q, model.gammaGamma.v]) expect(v).toBeGreaterThan(0);
    expect((await t.gql(`{ customerValueModel { fittedAt bgnbd { r } } }`)).data.customerValueModel).toEqual({ fittedAt: model.fittedAt, bgnbd: { r: model.bgnbd.r } });

    // R3: purchase days 120 (two orders, one purchase), 90 and 60 days ago → x = 2, t_x = 60, T = 120, m = 30,000.
    const id = await idOf("R3");
    const p = await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { predictions { probabilityAlive expectedOrders(days: 30) expectedOrderValue predictedClv(days: 365) } } } }`, { id });
    const value = Math.round(expectedAverageValue(model.gammaGamma, 2, 30_000));
    expect(p.data.node.predictions).toEqual({
      probabilityAlive: probabilityAlive(model.bgnbd, 2, 60, 120),
      expectedOrders: expectedPurchases(model.bgnbd, 30, 2, 60, 120),
      expectedOrderValue: value,
      predictedClv: Math.round(expectedPurchases(model.bgnbd, 365, 2, 60, 120) * value),
    });
    expect(p.data.node.predictions.probabilityAlive).toBeGreaterThan(0);
    expect(p.data.node.predictions.probabilityAlive).toBeLessThanOrEqual(1);
    // A customer without a paid order has no predictions; F1 (one purchase) has P(alive) 1.
    expect((await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { predictions { probabilityAlive } } } }`, { id: await idOf("P") })).data.node.predictions).toBeNull();
    expect((await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { predictions { probabilityAlive } } } }`, { id: await idOf("F1") })).data.node.predictions.probabilityAlive).toBe(1);
  });

  it("stores a year's predictions for segments (probability_alive, predicted_clv_365d)", async () => {
    const r = await t.gql(`query { previewSegment(query: "tag = \\"fixture\\" AND probability_alive >= 0.999") { sample(first: 50) { displayName } } }`);
    // x = 0 histories (F1, R1, O) are alive with probability 1 under BG/NBD; P has no prediction.
    expect(r.data.previewSegment.sample.map((c: { displayName: string }) => c.displayName).sort()).toEqual(expect.arrayContaining(["F1", "O", "R1"]));
    expect(r.data.previewSegment.sample.map((c: { displayName: string }) => c.displayName)).not.toContain("P");
    const clv = await t.gql(`query { previewSegment(query: "tag = \\"fixture\\" AND predicted_clv_365d > 0") { sample(first: 50) { displayName } } }`);
    expect(clv.data.previewSegment.sample.map((c: { displayName: string }) => c.displayName)).not.toContain("P");
  });

  it("keeps models, predictions, scores and insights to their tenant", async () => {
    const other = await createTenant(t, "analytics-other");
    expect((await t.gql(`{ customerValueModel { fittedAt } }`, {}, other.key)).data.customerValueModel).toBeNull();
    const i = await t.gql(`query { segmentInsights(query: "orders_count >= 0") { customers revenue } }`, {}, other.key);
    expect(i.data.segmentInsights).toEqual({ customers: 0, revenue: 0 });
    // The first tenant's customer is not the other's to read, through any field.
    const peek = await t.gql(`query($id: ID!) { node(id: $id) { ... on Customer { rfm { score } predictions { probabilityAlive } } } }`, { id: await idOf("R3") }, other.key);
    expect(peek.data.node).toBeNull();
    const refit = await t.gql(`mutation { refreshCustomerValueModel { model { customers } userErrors { code } } }`, {}, other.key);
    expect(refit.data.refreshCustomerValueModel).toEqual({ model: null, userErrors: [{ code: "INSUFFICIENT_DATA" }] });
    expect((await t.gql(`{ customerValueModel { customers } }`)).data.customerValueModel.customers).toBe(67);
  });

  it("is not readable without customers:read, and refitted only by admins", async () => {
    const k = await createKey(t, ["orders:read"]);
    expect((await t.gql(`{ customerValueModel { fittedAt } }`, {}, k.key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const reader = await createKey(t, ["customers:read"]);
    expect((await t.gql(`mutation { refreshCustomerValueModel { userErrors { code } } }`, {}, reader.key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});
