import type { SelectQueryBuilder } from "typeorm";
import { getManyFast } from "../../../src/db/hydrate";
import { Customer, CustomerIdentity } from "../../../src/modules/customers";
import { Order } from "../../../src/modules/orders";
import { appWithTenant, ingestAll } from "../../helpers/app";

/**
 * The fast hydration of list pages against TypeORM's own `getMany` (the second implementation) on the same queries:
 * same classes, same values — dates, bigint and decimal transformers, jsonb, arrays, nulls — on PostgreSQL and PGlite.
 */
describe("getManyFast", () => {
  let env: Awaited<ReturnType<typeof appWithTenant>>;
  beforeAll(async () => {
    env = await appWithTenant();
    const at = (m: number) => new Date(Date.UTC(2026, 10, 11, 2, m)).toISOString();
    await ingestAll(env.app, env.ctx, [
      { type: "customer.upserted", externalId: "u1", occurredAt: at(0), identities: [{ type: "phone", value: "13800001234" }, { type: "external", value: "E-1" }], payload: { displayName: "林晓", birthday: "1990-07-15", tags: ["会员", "新客"], attributes: { 等级: 3, note: null }, region: { country: "CN", city: "杭州" } } },
      { type: "customer.upserted", externalId: "u2", occurredAt: at(1), identities: [{ type: "email", value: "a@shop.example.cn" }], payload: {} },
      { type: "order.paid", externalId: "o1", occurredAt: at(2), identities: [{ type: "phone", value: "13800001234" }], payload: { orderId: "A-1", currency: "CNY", total: 9_007_199_254_740, subtotal: 10, items: [{ sku: "TEA", quantity: "0.42", unit: "kg", unitPrice: 100 }] } },
      { type: "order.refunded", externalId: "r1", occurredAt: at(3), identities: [{ type: "phone", value: "13800001234" }], payload: { orderId: "A-1", refundId: "R-1", amount: 5 } },
      { type: "order.placed", externalId: "o2", occurredAt: at(4), identities: [], payload: { orderId: "B-2", currency: "USD", total: 0 } },
    ]);
  });
  afterAll(() => env.close());

  it("builds the same entities as getMany for customers, identities and orders", async () => {
    const m = env.app.db.dataSource.manager;
    const queries: (() => SelectQueryBuilder<any>)[] = [
      () => m.createQueryBuilder(Customer, "c").where("c.tenantId = :t", { t: env.tenantId }).orderBy("c.id"),
      () => m.createQueryBuilder(CustomerIdentity, "i").where("i.tenantId = :t", { t: env.tenantId }).orderBy("i.id"),
      () => m.createQueryBuilder(Order, "o").where("o.tenantId = :t", { t: env.tenantId }).orderBy("o.id").limit(10),
    ];
    for (const q of queries) {
      const slow = await q().getMany();
      const fast = await getManyFast(q());
      expect(slow.length).toBeGreaterThan(0);
      expect(fast.map((e) => e.constructor)).toEqual(slow.map((e) => e.constructor));
      expect(fast).toEqual(slow);
    }
  });

  it("leaves a query with a join or an extra selection to getMany", async () => {
    const m = env.app.db.dataSource.manager;
    const withSelect = m.createQueryBuilder(Customer, "c").addSelect("1", "one").where("c.tenantId = :t", { t: env.tenantId }).orderBy("c.id");
    expect(await getManyFast(withSelect.clone())).toEqual(await withSelect.getMany());
  });
});
