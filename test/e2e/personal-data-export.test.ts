import { fixedClock } from "../../src/core/calendar";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/** `exportCustomerData`: the person's copy, checked against what the test itself put in through the API. */
let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({}, { clock: fixedClock("2026-12-07T08:00:00Z") });
});
afterAll(() => t.close());

const EXPORT = `mutation($id: ID!) { exportCustomerData(input: {customerId: $id}) { document userErrors { field code } } }`;

describe("exportCustomerData", () => {
  it("returns everything held about the person — profile, identities, consent, merges, orders with lines and refunds", async () => {
    const conn = await t.gql(`mutation { createChannelConnection(input: {channel: "http-json", name: "erp", config: {secret: "a-long-random-secret-123"}}) { connection { id } } }`);
    const connectionId = conn.data.createChannelConnection.connection.id;
    const at = (m: number) => new Date(Date.UTC(2026, 10, 11, 2, m)).toISOString();
    const r = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status } } }`, {
      input: {
        connectionId,
        events: [
          { type: "customer.upserted", externalId: "u1", occurredAt: at(0), identities: [{ type: "phone", value: "13800001234" }], payload: { displayName: "林晓" } },
          { type: "customer.upserted", externalId: "u2", occurredAt: at(1), identities: [{ type: "external", value: "ERP-7" }], payload: { displayName: "林晓(ERP)" } },
          { type: "customer.upserted", externalId: "u3", occurredAt: at(2), identities: [{ type: "phone", value: "13800001234" }, { type: "external", value: "ERP-7" }], payload: {} },
          { type: "order.paid", externalId: "o1", occurredAt: at(3), identities: [{ type: "phone", value: "13800001234" }], payload: { orderId: "A-1", currency: "CNY", total: 3000, items: [{ sku: "TEA", quantity: "0.5", unit: "kg", unitPrice: 6000 }] } },
          { type: "order.refunded", externalId: "r1", occurredAt: at(4), identities: [{ type: "phone", value: "13800001234" }], payload: { orderId: "A-1", refundId: "R-1", amount: 600, items: [{ sku: "TEA", quantity: "0.1", amount: 600 }] } },
        ],
      },
    });
    expect(r.data.ingestEvents.results.map((x: { status: string }) => x.status)).toEqual(["ACCEPTED", "ACCEPTED", "ACCEPTED", "ACCEPTED", "ACCEPTED"]);
    const found = await t.gql(`{ customerByIdentity(type: PHONE, value: "13800001234") { id } }`);
    const id = found.data.customerByIdentity.id;
    const consent = await t.gql(`mutation($id: ID!) { updateCustomer(input: {id: $id, marketingConsent: [{channel: SMS, granted: true}]}) { userErrors { code } } }`, { id });
    expect(consent.data.updateCustomer.userErrors).toEqual([]);

    const out = await t.gql(EXPORT, { id });
    expect(out.data.exportCustomerData.userErrors).toEqual([]);
    const doc = out.data.exportCustomerData.document;
    expect(doc).toMatchObject({ customerId: id, exportedAt: "2026-12-07T08:00:00.000Z", sections: ["profile", "merges", "consentRecords", "events", "orders", "analytics"] });
    // Analytics holds the lifecycle stage the order moved them to (RFM only after its daily run).
    expect(doc.analytics).toEqual({ lifecycleStage: expect.stringMatching(/^(FIRST_PURCHASE|PROSPECT)$/), rfm: null, probabilityAlive: null, predictedClv365d: null });
    expect(doc.events.map((e: { externalId: string; type: string }) => `${e.externalId} ${e.type}`)).toEqual(["u1 customer.upserted", "u2 customer.upserted", "u3 customer.upserted", "o1 order.paid", "r1 order.refunded"]);
    expect(doc.events[0].payload).toMatchObject({ payload: { displayName: "林晓" } });
    expect(doc.profile).toMatchObject({ displayName: "林晓(ERP)", phone: "+8613800001234" });
    expect(doc.profile.identities.map((i: any) => `${i.type}:${i.value}`)).toEqual(["phone:+8613800001234", "external:ERP-7"]);
    expect(doc.profile.marketingConsent).toEqual([expect.objectContaining({ channel: "SMS", granted: true })]);
    expect(doc.consentRecords).toEqual([expect.objectContaining({ purpose: "MARKETING", channel: "SMS", granted: true, source: "updateCustomer" })]);
    expect(doc.merges).toHaveLength(1);
    expect(JSON.stringify(doc.merges[0].snapshot)).toMatch(/林晓/);
    expect(doc.orders).toEqual([
      expect.objectContaining({
        externalOrderId: "A-1",
        currency: "CNY",
        total: 3000,
        items: [expect.objectContaining({ sku: "TEA", quantity: "0.5", unit: "kg", unitPrice: 6000 })],
        refunds: [expect.objectContaining({ refundId: "R-1", amount: 600, items: [{ sku: "TEA", quantity: "0.1", amount: 600 }] })],
      }),
    ]);
  });

  it("answers NOT_FOUND for an unknown id and another tenant's customer, and FORBIDDEN without admin", async () => {
    const other = await createTenant(t, "别家");
    const mine = await t.gql(`mutation { createCustomer(input: {displayName: "本店", phone: "13900002222"}) { customer { id } } }`);
    const id = mine.data.createCustomer.customer.id;
    expect((await t.gql(EXPORT, { id }, other.key)).data.exportCustomerData).toEqual({ document: null, userErrors: [{ field: ["customerId"], code: "NOT_FOUND" }] });
    expect((await t.gql(EXPORT, { id: "Q3VzdG9tZXI6bm9uZQ" })).data.exportCustomerData.userErrors).toEqual([{ field: ["customerId"], code: "NOT_FOUND" }]);
    const reader = await createKey(t, ["customers:read", "customers:pii"]);
    expect((await t.gql(EXPORT, { id }, reader.key)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});
