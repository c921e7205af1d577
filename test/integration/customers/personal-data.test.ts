import { inTransaction } from "../../../src/core/transaction";
import { PersonalDataHookFailed } from "../../../src/modules/customers";
import { appWithTenant, ingestAll } from "../../helpers/app";

/**
 * The registry the privacy issue builds `exportCustomerData` and `eraseCustomer` on: every module's
 * part, set-based, in one transaction. The export is checked against what the test itself put in.
 */
describe("personal data hooks", () => {
  let env: Awaited<ReturnType<typeof appWithTenant>>;
  beforeEach(async () => {
    env = await appWithTenant();
  });
  afterEach(() => env.close());

  it("collect what each module holds about a person: profile, identities, merges, orders with lines and refunds", async () => {
    const { app, ctx } = env;
    const at = (m: number) => new Date(Date.UTC(2026, 10, 11, 2, m)).toISOString();
    const results = await ingestAll(app, ctx, [
      { type: "customer.upserted", externalId: "u1", occurredAt: at(0), identities: [{ type: "phone", value: "13800001234" }], payload: { displayName: "林晓", tags: ["会员"] } },
      { type: "customer.upserted", externalId: "u2", occurredAt: at(1), identities: [{ type: "pos_member", value: "HZ-7" }], payload: { displayName: "林晓(门店)" } },
      // One event names both: the two are merged into the first.
      { type: "customer.upserted", externalId: "u3", occurredAt: at(2), identities: [{ type: "phone", value: "13800001234" }, { type: "pos_member", value: "HZ-7" }], payload: {} },
      { type: "order.paid", externalId: "o1", occurredAt: at(3), identities: [{ type: "phone", value: "13800001234" }], payload: { orderId: "A-1", currency: "CNY", total: 3_000, items: [{ sku: "TEA", quantity: 2, unitPrice: 1_500 }] } },
      { type: "order.refunded", externalId: "r1", occurredAt: at(4), identities: [{ type: "phone", value: "13800001234" }], payload: { orderId: "A-1", refundId: "R-1", amount: 1_500, items: [{ sku: "TEA", quantity: 1, amount: 1_500 }] } },
      { type: "customer.upserted", externalId: "other", occurredAt: at(5), identities: [{ type: "phone", value: "13900009999" }], payload: { displayName: "旁人" } },
    ]);
    expect(results.map((r) => r.status)).toEqual(["accepted", "accepted", "accepted", "accepted", "accepted", "accepted"]);
    const personId = (await app.customers.findByIdentity(ctx, "phone", "+8613800001234"))!.id;
    const otherId = (await app.customers.findByIdentity(ctx, "phone", "+8613900009999"))!.id;

    expect(app.customers.personalData.names).toEqual(["profile", "merges", "consentRecords", "events", "conflicts", "orders", "segments", "analytics"]);
    const docs = await app.customers.personalData.export(ctx, [personId, otherId]);
    const person = JSON.parse(JSON.stringify(docs.get(personId)));
    // The newer name survives the merge (u2 came after u1).
    expect(person.profile).toMatchObject({ displayName: "林晓(门店)", phone: "+8613800001234", tags: ["会员"] });
    expect(person.profile.identities.map((i: { type: string; value: string }) => [i.type, i.value])).toEqual([
      ["phone", "+8613800001234"],
      ["pos_member", "HZ-7"],
    ]);
    expect(person.merges).toHaveLength(1);
    expect(person.merges[0]).toMatchObject({ role: "target", reason: "identity" });
    expect(JSON.stringify(person.merges[0].snapshot)).toContain("林晓(门店)"); // the merged-away profile is personal data too
    expect(person.orders).toEqual([
      {
        channel: "http-json",
        externalOrderId: "A-1",
        status: expect.any(String),
        currency: "CNY",
        total: 3_000,
        items: [expect.objectContaining({ sku: "TEA", quantity: "2", unitPrice: 1_500 })],
        placedAt: null,
        refunds: [{ refundId: "R-1", amount: 1_500, items: [{ sku: "TEA", quantity: "1", amount: 1_500 }], occurredAt: at(4) }],
      },
    ]);
    // The events as received, the merged-away customer's included (they were re-pointed at the survivor).
    expect(person.events.map((e: { externalId: string }) => e.externalId)).toEqual(expect.arrayContaining(["u1", "u2"]));
    // Someone the modules hold nothing else about has a profile section and their own events only.
    expect(Object.keys(docs.get(otherId)!)).toEqual(["profile", "events"]);
  });

  it("erase in the caller's transaction, each hook once for all the customers, and a failing hook rolls everything back", async () => {
    const { app, ctx } = env;
    await app.db.dataSource.query(`CREATE TABLE test_erased (customer_id uuid)`);
    const [a, b, c] = ["00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c"];
    const calls: string[][] = [];
    app.customers.personalData.register({
      name: "first",
      async erase(tx, ids) {
        calls.push([...ids]);
        await tx.manager.query(`INSERT INTO test_erased SELECT unnest($1::uuid[])`, [ids]);
      },
    });
    await inTransaction(ctx, (tx) => app.customers.personalData.erase(tx, [a, b]));
    expect(calls).toEqual([[a, b]]);
    expect(await app.db.dataSource.query(`SELECT customer_id FROM test_erased ORDER BY 1`)).toEqual([{ customer_id: a }, { customer_id: b }]);

    app.customers.personalData.register({
      name: "broken",
      erase: async () => {
        throw new Error("cannot reach the archive");
      },
    });
    const failed = inTransaction(ctx, (tx) => app.customers.personalData.erase(tx, [c]));
    await expect(failed).rejects.toBeInstanceOf(PersonalDataHookFailed);
    await expect(failed).rejects.toThrow(/broken failed: cannot reach the archive/);
    expect(await app.db.dataSource.query(`SELECT count(*)::int AS n FROM test_erased`)).toEqual([{ n: 2 }]); // c's row went with the rollback
    expect(() => app.customers.personalData.register({ name: "orders" })).toThrow(/Two personal data hooks are named "orders"/);
  });
});
