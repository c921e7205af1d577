import { randomUUID } from "node:crypto";
import { toGlobalId } from "../../src/core/global-id";
import { aCustomer, createCustomer } from "../fixtures/customers";
import { createKey, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * Identity resolution through the public API, over HTTP: upsertCustomer, mergeCustomers /
 * unmergeCustomer / customerMerges, merges and conflicts caused by ingested events, and the
 * tenant's identity settings. All in the bootstrap tenant, events through one http-json connection.
 */
let t: TestServer;
let connectionId: string;

// Full customer selection: everything a merge and an unmerge could touch (updatedAt aside, which any write moves).
const CUSTOMER = `id displayName gender birthday locale phone email tags attributes
  region { country province city } marketingConsent { channel granted updatedAt }
  createdAt firstSeenAt lastSeenAt
  identities { id type value sourceChannel firstSeenAt lastSeenAt }
  stats { ordersCount totalSpent averageOrderValue currency firstOrderAt lastOrderAt }
  orders { nodes { id externalId } }`;
const READ = `query($id: ID!) { customer(id: $id) { ${CUSTOMER} } }`;
const BY_IDENTITY = `query($type: IdentityType!, $value: String!) { customerByIdentity(type: $type, value: $value) { id } }`;
const COUNT = `{ customers { totalCount } }`;
const UPSERT = `mutation($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { created customer { ${CUSTOMER} } userErrors { field code message } } }`;
const MERGE_FIELDS = `id reason channel externalId targetCustomerId sourceCustomerId changedFields mergedAt unmergedAt`;
const MERGE = `mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) { customer { ${CUSTOMER} } merge { ${MERGE_FIELDS} } userErrors { field code message } } }`;
const UNMERGE = `mutation($mergeId: ID!) { unmergeCustomer(input: {mergeId: $mergeId}) { target { ${CUSTOMER} } source { ${CUSTOMER} } userErrors { field code message } } }`;
const MERGES = `query($id: ID!) { customerMerges(customerId: $id) { nodes { ${MERGE_FIELDS} } } }`;
const INGEST = `mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { externalId status reason } userErrors { field code message } } }`;
const CONFLICTS = `{ identityConflicts { nodes { id channel externalId identities customerIds reason createdAt } } }`;
const SETTINGS_FIELDS = `precedence limits { type max } blocked { type value }`;
const SETTINGS = `{ identitySettings { ${SETTINGS_FIELDS} } }`;
const UPDATE_SETTINGS = `mutation($input: UpdateIdentitySettingsInput!) { updateIdentitySettings(input: $input) { settings { ${SETTINGS_FIELDS} } userErrors { field code message } } }`;
const ORDER = `query($id: ID!) { order(id: $id) { id externalId status total customer { id } } }`;

const DEFAULT_PRECEDENCE = ["WECHAT_UNIONID", "PHONE", "EMAIL", "POS_MEMBER", "YOUZAN_BUYER", "TAOBAO_BUYER", "ZOHO_CONTACT", "EXTERNAL", "WECHAT_OPENID"];

let phoneSeq = 0;
/** A fresh valid mainland mobile number, national format "137 2xxx xxxx". */
function newPhone(): { national: string; e164: string; spaced: string } {
  const n = String(20000000 + ++phoneSeq * 7);
  const national = `137${n}`;
  return { national, e164: `+86${national}`, spaced: `137 ${n.slice(0, 4)} ${n.slice(4)}` };
}

const at = (m: number) => new Date(Date.parse("2026-08-01T00:00:00Z") + m * 60_000).toISOString();

/** A customer read back in a comparable form: identities in a stable order. */
function comparable(c: any): any {
  if (!c) return c;
  return {
    ...c,
    identities: [...c.identities].sort((x: any, y: any) => `${x.type}:${x.value}`.localeCompare(`${y.type}:${y.value}`)),
    orders: [...c.orders.nodes].sort((x: any, y: any) => x.id.localeCompare(y.id)),
  };
}

async function read(id: string, key?: string): Promise<any> {
  const r = await t.gql(READ, { id }, key);
  expect(r.errors).toBeUndefined();
  return comparable(r.data.customer);
}

async function count(): Promise<number> {
  return (await t.gql(COUNT)).data.customers.totalCount;
}

async function owner(type: string, value: string): Promise<string | null> {
  const r = await t.gql(BY_IDENTITY, { type: type.toUpperCase(), value });
  expect(r.errors).toBeUndefined();
  return r.data.customerByIdentity?.id ?? null;
}

async function ingest(events: unknown[], key?: string): Promise<any[]> {
  const r = await t.gql(INGEST, { input: { connectionId, events } }, key);
  expect(r.errors).toBeUndefined();
  expect(r.data.ingestEvents.userErrors).toEqual([]);
  return r.data.ingestEvents.results;
}

async function settings(): Promise<any> {
  const r = await t.gql(SETTINGS);
  expect(r.errors).toBeUndefined();
  return r.data.identitySettings;
}

async function conflicts(): Promise<any[]> {
  const r = await t.gql(CONFLICTS);
  expect(r.errors).toBeUndefined();
  return r.data.identityConflicts.nodes;
}

function paidOrder(externalId: string, orderId: string, phone: string, total: number, minute: number) {
  return {
    type: "order.paid",
    externalId,
    occurredAt: at(minute),
    identities: [{ type: "phone", value: phone }],
    payload: { orderId, currency: "CNY", total, subtotal: total, items: [{ sku: "TEA-1", title: "龙井茶", quantity: 1, unitPrice: total }] },
  };
}

async function orderIdOf(externalId: string): Promise<string> {
  const r = await t.gql(`{ orders(first: 250) { nodes { id externalId } } }`);
  const o = r.data.orders.nodes.find((n: any) => n.externalId === externalId);
  if (!o) throw new Error(`no order ${externalId}`);
  return o.id;
}

beforeAll(async () => {
  t = await createTestServer();
  const r = await t.gql(
    `mutation { createChannelConnection(input: {channel: "http-json", name: "ERP", config: {secret: "identity-test-secret-0123456789"}}) { connection { id } userErrors { field code } } }`,
  );
  expect(r.data.createChannelConnection.userErrors).toEqual([]);
  connectionId = r.data.createChannelConnection.connection.id;
});
afterAll(() => t?.close());

describe("upsertCustomer", () => {
  const phone = newPhone();
  let id: string;

  it("creates a customer holding the identity when nobody has it, with the phone stored as E.164", async () => {
    const before = await count();
    const r = await t.gql(UPSERT, { input: { identity: { type: "PHONE", value: phone.spaced }, displayName: "周杰", tags: ["新客"], attributes: { 来源: "门店" } } });
    expect(r.errors).toBeUndefined();
    const p = r.data.upsertCustomer;
    expect(p.userErrors).toEqual([]);
    expect(p.created).toBe(true);
    expect(p.customer).toMatchObject({ displayName: "周杰", phone: phone.e164, email: null, tags: ["新客"], attributes: { 来源: "门店" } });
    expect(p.customer.identities.map((i: any) => [i.type, i.value, i.sourceChannel])).toEqual([["PHONE", phone.e164, null]]);
    id = p.customer.id;
    expect(await count()).toBe(before + 1);
    expect(await owner("phone", phone.national)).toBe(id);
  });

  it("writes nothing of an update whose tags would pass the per-customer limit", async () => {
    const tooMany = Array.from({ length: 100 }, (_, i) => `标签${i}`);
    const r = await t.gql(UPSERT, { input: { identity: { type: "PHONE", value: phone.spaced }, displayName: "不该保存", tags: tooMany } });
    expect(r.data.upsertCustomer).toMatchObject({ customer: null, created: false, userErrors: [{ field: ["tags"], code: "TOO_MANY" }] });
    expect((await read(id)).displayName).toBe("周杰");
  });

  it("updates that same customer when the phone is given in another format, adding tags and creating no second customer", async () => {
    const before = await count();
    const r = await t.gql(UPSERT, { input: { identity: { type: "PHONE", value: `+86-${phone.national.slice(0, 3)}-${phone.national.slice(3, 7)}-${phone.national.slice(7)}` }, displayName: "周杰伦", tags: ["复购", "新客"] } });
    expect(r.errors).toBeUndefined();
    const p = r.data.upsertCustomer;
    expect(p.userErrors).toEqual([]);
    expect(p.created).toBe(false);
    expect(p.customer.id).toBe(id);
    expect(p.customer).toMatchObject({ displayName: "周杰伦", phone: phone.e164, attributes: { 来源: "门店" } });
    expect([...p.customer.tags].sort()).toEqual(["复购", "新客"].sort());
    expect(p.customer.identities.map((i: any) => [i.type, i.value])).toEqual([["PHONE", phone.e164]]);
    expect(await count()).toBe(before);
    expect((await read(id)).displayName).toBe("周杰伦");
  });

  it("answers INVALID at identity.value for a value that is not a valid phone, and writes nothing", async () => {
    const before = await count();
    for (const value of ["12345", "not a phone"]) {
      const r = await t.gql(UPSERT, { input: { identity: { type: "PHONE", value }, displayName: "无效号码客户", tags: ["无效"] } });
      expect(r.errors).toBeUndefined();
      expect(r.data.upsertCustomer).toEqual({ created: false, customer: null, userErrors: [{ field: ["identity", "value"], code: "INVALID", message: expect.any(String) }] });
    }
    const email = await t.gql(UPSERT, { input: { identity: { type: "EMAIL", value: "no-at-sign.example.cn" }, displayName: "无效邮箱客户" } });
    expect(email.data.upsertCustomer.userErrors).toEqual([{ field: ["identity", "value"], code: "INVALID", message: expect.any(String) }]);
    expect(await count()).toBe(before);
    const search = await t.gql(`{ customers(filter: {search: "无效"}) { totalCount } }`);
    expect(search.data.customers.totalCount).toBe(0);
  });

  it("three concurrent upserts of the same new identity end in exactly one customer carrying every call's tag", async () => {
    const p = newPhone();
    const before = await count();
    const results = await Promise.all(
      ["甲", "乙", "丙"].map((tag, i) =>
        t.gql(UPSERT, { input: { identity: { type: "PHONE", value: i === 0 ? p.spaced : i === 1 ? p.e164 : p.national }, displayName: "并发客户", tags: [tag] } }),
      ),
    );
    for (const r of results) {
      expect(r.errors).toBeUndefined();
      expect(r.data.upsertCustomer.userErrors).toEqual([]);
    }
    const payloads = results.map((r) => r.data.upsertCustomer);
    const ids = new Set(payloads.map((x) => x.customer.id));
    expect(ids.size).toBe(1);
    expect(payloads.filter((x) => x.created).length).toBe(1);
    expect(await count()).toBe(before + 1);
    const [cid] = [...ids];
    expect(await owner("phone", p.e164)).toBe(cid);
    const c = await read(cid);
    expect([...c.tags].sort()).toEqual(["丙", "乙", "甲"].sort());
    expect(c.identities.map((i: any) => [i.type, i.value])).toEqual([["PHONE", p.e164]]);
  });
});

describe("mergeCustomers and unmergeCustomer", () => {
  const tp = newPhone();
  const sp = newPhone();
  let target: any;
  let source: any;
  let targetBefore: any;
  let sourceBefore: any;
  let sourceOrderId: string;
  let mergeId: string;

  beforeAll(async () => {
    target = await createCustomer(
      t,
      aCustomer({
        displayName: "目标客户",
        phone: tp.national,
        email: "merge.target@shop.example.cn",
        gender: "FEMALE",
        tags: ["门店"],
        attributes: { 等级: "VIP1" },
        identities: [{ type: "POS_MEMBER", value: "M-TARGET-1" }],
      }),
    );
    source = await createCustomer(
      t,
      aCustomer({
        displayName: "来源客户",
        phone: sp.national,
        email: "merge.source@shop.example.cn",
        tags: ["小程序"],
        attributes: { 来源: "小程序" },
        region: { country: "CN", province: "浙江省", city: "杭州市" },
        identities: [{ type: "WECHAT_OPENID", value: "oOpen-source-1" }],
      }),
    );
    // One paid order each, through the ingestion pipeline, found by phone. An ingest-only key works.
    const { key } = await createKey(t, ["ingest"]);
    const results = await ingest([paidOrder("merge-src-order:paid", "SRC-1", sp.spaced, 10_000, 1), paidOrder("merge-tgt-order:paid", "TGT-1", tp.e164, 5_000, 2)], key);
    expect(results.map((r) => r.status)).toEqual(["ACCEPTED", "ACCEPTED"]);
    sourceOrderId = await orderIdOf("SRC-1");
    targetBefore = await read(target.id);
    sourceBefore = await read(source.id);
    expect(sourceBefore.stats).toMatchObject({ ordersCount: 1, totalSpent: 10_000 });
    expect(targetBefore.stats).toMatchObject({ ordersCount: 1, totalSpent: 5_000 });
    expect(sourceBefore.orders.map((o: any) => o.externalId)).toEqual(["SRC-1"]);
  });

  it("answers INVALID when a customer is merged into itself, and changes nothing", async () => {
    const r = await t.gql(MERGE, { input: { targetId: target.id, sourceId: target.id } });
    expect(r.errors).toBeUndefined();
    expect(r.data.mergeCustomers).toEqual({ customer: null, merge: null, userErrors: [{ field: ["sourceId"], code: "INVALID", message: expect.any(String) }] });
    expect(await read(target.id)).toEqual(targetBefore);
    expect((await t.gql(MERGES, { id: target.id })).data.customerMerges.nodes).toEqual([]);
  });

  it("answers NOT_FOUND at the unknown id for unknown or malformed customer ids", async () => {
    const unknown = toGlobalId("Customer", randomUUID());
    const cases: [Record<string, string>, string][] = [
      [{ targetId: unknown, sourceId: source.id }, "targetId"],
      [{ targetId: target.id, sourceId: unknown }, "sourceId"],
      [{ targetId: "not-an-id", sourceId: source.id }, "targetId"],
      [{ targetId: target.id, sourceId: toGlobalId("Order", sourceOrderIdLocal()) }, "sourceId"],
    ];
    for (const [input, field] of cases) {
      const r = await t.gql(MERGE, { input });
      expect(r.errors).toBeUndefined();
      expect({ input, payload: r.data.mergeCustomers }).toEqual({ input, payload: { customer: null, merge: null, userErrors: [{ field: [field], code: "NOT_FOUND", message: expect.any(String) }] } });
    }
    expect(await read(target.id)).toEqual(targetBefore);
    expect(await read(source.id)).toEqual(sourceBefore);
  });

  function sourceOrderIdLocal(): string {
    return Buffer.from(sourceOrderId, "base64url").toString().split(":")[1];
  }

  it("moves the source's identities and orders to the target, whose stats then include the source's order, and the source id resolves to null", async () => {
    const r = await t.gql(MERGE, { input: { targetId: target.id, sourceId: source.id } });
    expect(r.errors).toBeUndefined();
    const p = r.data.mergeCustomers;
    expect(p.userErrors).toEqual([]);
    mergeId = p.merge.id;
    expect(p.merge).toMatchObject({ reason: "manual", channel: null, externalId: null, targetCustomerId: target.id, sourceCustomerId: source.id, unmergedAt: null });
    expect(p.customer.id).toBe(target.id);

    const merged = await read(target.id);
    expect(comparable(p.customer).identities).toEqual(merged.identities);
    expect(merged.identities.map((i: any) => i.id).sort()).toEqual([...targetBefore.identities, ...sourceBefore.identities].map((i: any) => i.id).sort());
    expect([...merged.tags].sort()).toEqual(["小程序", "门店"].sort());
    expect(merged.attributes).toEqual({ 等级: "VIP1", 来源: "小程序" });
    expect(merged.stats).toMatchObject({ ordersCount: 2, totalSpent: 15_000, averageOrderValue: 7_500, currency: "CNY" });
    expect(merged.orders.map((o: any) => o.externalId).sort()).toEqual(["SRC-1", "TGT-1"]);

    expect(await read(source.id)).toBeNull();
    expect((await t.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: source.id })).data.node).toBeNull();
    for (const [type, value] of [["PHONE", sp.e164], ["EMAIL", "merge.source@shop.example.cn"], ["WECHAT_OPENID", "oOpen-source-1"], ["POS_MEMBER", "M-TARGET-1"]]) {
      expect({ type, owner: await owner(type, value) }).toEqual({ type, owner: target.id });
    }
    expect((await t.gql(ORDER, { id: sourceOrderId })).data.order).toMatchObject({ externalId: "SRC-1", customer: { id: target.id } });
  });

  it("customerMerges lists the merge, with reason manual and the target fields it changed; node(id) finds it", async () => {
    const r = await t.gql(MERGES, { id: target.id });
    expect(r.errors).toBeUndefined();
    expect(r.data.customerMerges.nodes).toEqual([
      {
        id: mergeId,
        reason: "manual",
        channel: null,
        externalId: null,
        targetCustomerId: target.id,
        sourceCustomerId: source.id,
        changedFields: expect.arrayContaining(["tags", "attributes"]),
        mergedAt: expect.any(String),
        unmergedAt: null,
      },
    ]);
    // The customers as objects: the target remains, the source is gone while the merge stands; one page of one.
    const objects = await t.gql(`query($id: ID!) { customerMerges(customerId: $id, first: 1) { totalCount pageInfo { hasNextPage } nodes { target { id } source { id } } } }`, { id: target.id });
    expect(objects.data.customerMerges).toEqual({ totalCount: 1, pageInfo: { hasNextPage: false }, nodes: [{ target: { id: target.id }, source: null }] });
    // The region came from the source only; tags and attributes gained the source's values.
    expect((await read(target.id)).region).toEqual({ country: "CN", province: "浙江省", city: "杭州市" });
    expect((await t.gql(`query($id: ID!) { node(id: $id) { __typename id ... on CustomerMerge { reason } } }`, { id: mergeId })).data.node).toEqual({
      __typename: "CustomerMerge",
      id: mergeId,
      reason: "manual",
    });
  });

  it("changedFields names fields of the Customer type only (the region as region, no internal columns)", async () => {
    const fields = (await t.gql(`{ __type(name: "Customer") { fields { name } } }`)).data.__type.fields.map((f: any) => f.name);
    const [merge] = (await t.gql(MERGES, { id: target.id })).data.customerMerges.nodes;
    expect(merge.changedFields).toEqual(expect.arrayContaining(["tags", "attributes"]));
    expect({ notCustomerFields: merge.changedFields.filter((f: string) => !fields.includes(f)), region: merge.changedFields.includes("region") }).toEqual({
      notCustomerFields: [],
      region: true,
    });
  });

  it("unmergeCustomer restores both customers exactly as before the merge, the order back on the source with its stats", async () => {
    const r = await t.gql(UNMERGE, { mergeId });
    expect(r.errors).toBeUndefined();
    const p = r.data.unmergeCustomer;
    expect(p.userErrors).toEqual([]);
    expect(p.target.id).toBe(target.id);
    expect(p.source.id).toBe(source.id);

    const strip = ({ updatedAt: _u, ...c }: any) => c;
    expect(strip(await read(target.id))).toEqual(strip(targetBefore));
    expect(strip(await read(source.id))).toEqual(strip(sourceBefore));
    expect((await t.gql(ORDER, { id: sourceOrderId })).data.order).toMatchObject({ externalId: "SRC-1", customer: { id: source.id } });
    expect(await owner("phone", sp.e164)).toBe(source.id);
    expect(await owner("wechat_openid", "oOpen-source-1")).toBe(source.id);
    expect(await owner("phone", tp.e164)).toBe(target.id);

    const merges = (await t.gql(MERGES, { id: target.id })).data.customerMerges.nodes;
    expect(merges).toEqual([expect.objectContaining({ id: mergeId, unmergedAt: expect.any(String) })]);
    const restored = await t.gql(`query($id: ID!) { customerMerges(customerId: $id) { nodes { source { id } } } }`, { id: target.id });
    expect(restored.data.customerMerges.nodes).toEqual([{ source: { id: source.id } }]);
  });

  it("a second unmerge of the same merge answers CONFLICT and changes nothing; an unknown merge answers NOT_FOUND", async () => {
    const targetNow = await read(target.id);
    const sourceNow = await read(source.id);
    const again = await t.gql(UNMERGE, { mergeId });
    expect(again.errors).toBeUndefined();
    expect(again.data.unmergeCustomer).toEqual({ target: null, source: null, userErrors: [{ field: ["mergeId"], code: "CONFLICT", message: expect.any(String) }] });
    for (const id of [toGlobalId("CustomerMerge", randomUUID()), "nonsense", target.id]) {
      const r = await t.gql(UNMERGE, { mergeId: id });
      expect(r.errors).toBeUndefined();
      expect({ id, payload: r.data.unmergeCustomer }).toEqual({ id, payload: { target: null, source: null, userErrors: [{ field: ["mergeId"], code: "NOT_FOUND", message: expect.any(String) }] } });
    }
    expect(await read(target.id)).toEqual(targetNow);
    expect(await read(source.id)).toEqual(sourceNow);
  });

  it("answers CONFLICT when each customer has a different wechat_unionid, and leaves both unchanged", async () => {
    const a = await createCustomer(t, aCustomer({ displayName: "微信甲", identities: [{ type: "WECHAT_UNIONID", value: "oUnion-merge-A" }] }));
    const b = await createCustomer(t, aCustomer({ displayName: "微信乙", identities: [{ type: "WECHAT_UNIONID", value: "oUnion-merge-B" }] }));
    const aBefore = await read(a.id);
    const bBefore = await read(b.id);
    const before = await count();
    const r = await t.gql(MERGE, { input: { targetId: a.id, sourceId: b.id } });
    expect(r.errors).toBeUndefined();
    expect(r.data.mergeCustomers).toEqual({ customer: null, merge: null, userErrors: [{ field: ["sourceId"], code: "CONFLICT", message: expect.any(String) }] });
    expect(await read(a.id)).toEqual(aBefore);
    expect(await read(b.id)).toEqual(bBefore);
    expect(await count()).toBe(before);
    expect((await t.gql(MERGES, { id: a.id })).data.customerMerges.nodes).toEqual([]);
    expect(await owner("wechat_unionid", "oUnion-merge-B")).toBe(b.id);
  });
});

describe("merges caused by events", () => {
  it("an event whose identities name two customers leaves one, the older, and customerMerges shows reason identity with the event's externalId", async () => {
    const yp = newPhone();
    const x = await createCustomer(t, aCustomer({ displayName: "会员客户", phone: null, email: null, identities: [{ type: "POS_MEMBER", value: "M-LINK-X" }] }));
    const y = await createCustomer(t, aCustomer({ displayName: "手机客户", phone: yp.national, email: null, tags: ["线上"] }));
    const before = await count();
    const results = await ingest([
      { type: "customer.upserted", externalId: "link-x-y-1", occurredAt: at(30), identities: [{ type: "pos_member", value: "M-LINK-X" }, { type: "phone", value: yp.spaced }], payload: { tags: ["合并"] } },
    ]);
    expect(results).toEqual([{ externalId: "link-x-y-1", status: "ACCEPTED", reason: null }]);
    expect(await count()).toBe(before - 1);
    expect(await read(y.id)).toBeNull();
    const survivor = await read(x.id);
    expect(survivor.identities.map((i: any) => `${i.type}:${i.value}`)).toEqual([`PHONE:${yp.e164}`, "POS_MEMBER:M-LINK-X"]);
    expect([...survivor.tags].sort()).toEqual(expect.arrayContaining(["合并", "线上"]));
    expect(await owner("phone", yp.e164)).toBe(x.id);

    const merges = (await t.gql(MERGES, { id: x.id })).data.customerMerges.nodes;
    expect(merges).toEqual([
      expect.objectContaining({ reason: "identity", channel: "http-json", externalId: "link-x-y-1", targetCustomerId: x.id, sourceCustomerId: y.id, unmergedAt: null }),
    ]);
  });
});

describe("identityConflicts", () => {
  it("an event carrying a second unionid for a customer who has one is accepted, the unionid is not attached, and a conflict names it and the customer", async () => {
    const p = newPhone();
    const c = await createCustomer(t, aCustomer({ displayName: "双联合ID客户", phone: p.national, email: null, identities: [{ type: "WECHAT_UNIONID", value: "oUnion-first" }] }));
    const before = await read(c.id);
    const results = await ingest([
      { type: "customer.upserted", externalId: "second-unionid-1", occurredAt: at(40), identities: [{ type: "phone", value: p.e164 }, { type: "wechat_unionid", value: "oUnion-second" }], payload: {} },
    ]);
    expect(results).toEqual([{ externalId: "second-unionid-1", status: "ACCEPTED", reason: null }]);
    const after = await read(c.id);
    expect(after.identities.map((i: any) => `${i.type}:${i.value}`)).toEqual([`PHONE:${p.e164}`, "WECHAT_UNIONID:oUnion-first"]);
    expect(after.identities.map((i: any) => i.id)).toEqual(before.identities.map((i: any) => i.id));
    expect(await owner("wechat_unionid", "oUnion-second")).toBeNull();

    const mine = (await conflicts()).filter((x) => x.externalId === "second-unionid-1");
    expect(mine).toEqual([
      { id: expect.any(String), channel: "http-json", externalId: "second-unionid-1", identities: ["wechat_unionid:oUnion-second"], customerIds: [c.id], reason: expect.stringContaining("wechat_unionid"), createdAt: expect.any(String) },
    ]);
  });

  it("an event naming two customers with different unionids merges neither and lists both in the conflict", async () => {
    const a = await createCustomer(t, aCustomer({ displayName: "联合甲", email: null, identities: [{ type: "WECHAT_UNIONID", value: "oUnion-conflict-A" }] }));
    const b = await createCustomer(t, aCustomer({ displayName: "联合乙", email: null, identities: [{ type: "WECHAT_UNIONID", value: "oUnion-conflict-B" }] }));
    const before = await count();
    const results = await ingest([
      {
        type: "customer.upserted",
        externalId: "two-unionids-1",
        occurredAt: at(41),
        identities: [{ type: "wechat_unionid", value: "oUnion-conflict-A" }, { type: "wechat_unionid", value: "oUnion-conflict-B" }],
        payload: {},
      },
    ]);
    expect(results.map((r) => r.status)).toEqual(["ACCEPTED"]);
    expect(await count()).toBe(before);
    expect(await owner("wechat_unionid", "oUnion-conflict-A")).toBe(a.id);
    expect(await owner("wechat_unionid", "oUnion-conflict-B")).toBe(b.id);
    expect((await t.gql(MERGES, { id: a.id })).data.customerMerges.nodes).toEqual([]);
    expect((await t.gql(MERGES, { id: b.id })).data.customerMerges.nodes).toEqual([]);
    const mine = (await conflicts()).filter((x) => x.externalId === "two-unionids-1");
    expect(mine).toHaveLength(1);
    expect([...mine[0].identities].sort()).toEqual(["wechat_unionid:oUnion-conflict-A", "wechat_unionid:oUnion-conflict-B"]);
    expect([...mine[0].customerIds].sort()).toEqual([a.id, b.id].sort());
  });

  it("resolveIdentityConflict closes a conflict after review, once, with a note; it then leaves identityConflicts", async () => {
    const RESOLVE = `mutation($input: ResolveIdentityConflictInput!) { resolveIdentityConflict(input: $input) { conflict { id externalId resolvedAt resolutionNote } userErrors { field code message } } }`;
    const [open] = (await conflicts()).filter((x) => x.externalId === "two-unionids-1");
    const tooLong = await t.gql(RESOLVE, { input: { id: open.id, note: "长".repeat(501) } });
    expect(tooLong.data.resolveIdentityConflict.userErrors).toMatchObject([{ field: ["note"], code: "TOO_LONG" }]);
    const { key } = await createKey(t, ["customers:read"]);
    expect((await t.gql(RESOLVE, { input: { id: open.id } }, key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect((await conflicts()).some((x) => x.id === open.id)).toBe(true); // nothing written so far

    const r = await t.gql(RESOLVE, { input: { id: open.id, note: "  两个微信号属于同一家庭，不合并  " } });
    expect(r.data.resolveIdentityConflict).toEqual({
      conflict: { id: open.id, externalId: "two-unionids-1", resolvedAt: expect.any(String), resolutionNote: "两个微信号属于同一家庭，不合并" },
      userErrors: [],
    });
    expect((await conflicts()).some((x) => x.id === open.id)).toBe(false);
    const again = await t.gql(RESOLVE, { input: { id: open.id } });
    expect(again.data.resolveIdentityConflict).toMatchObject({ conflict: null, userErrors: [{ field: ["id"], code: "CONFLICT" }] });
    for (const id of ["00000000-0000-0000-0000-000000000000", "not-an-id"]) {
      expect((await t.gql(RESOLVE, { input: { id } })).data.resolveIdentityConflict.userErrors).toMatchObject([{ field: ["id"], code: "NOT_FOUND" }]);
    }

    // Resolved, it is listed under RESOLVED and ALL; node(id) and the filters find it; its customers are objects.
    const list = `query($filter: IdentityConflictFilter) { identityConflicts(filter: $filter, first: 250) { totalCount nodes { id customers { id } customerIds } } }`;
    const ids = async (filter: Record<string, unknown>) => (await t.gql(list, { filter })).data.identityConflicts.nodes.map((c: { id: string }) => c.id);
    expect(await ids({ status: "RESOLVED" })).toContain(open.id);
    expect(await ids({ status: "ALL" })).toContain(open.id);
    expect(await ids({ status: "OPEN" })).not.toContain(open.id);
    expect(await ids({ status: "ALL", channel: "http-json" })).toContain(open.id);
    expect(await ids({ status: "ALL", channel: "youzan" })).not.toContain(open.id);
    const [one] = (await t.gql(list, { filter: { status: "RESOLVED" } })).data.identityConflicts.nodes.filter((c: { id: string }) => c.id === open.id);
    expect(one.customers.map((c: { id: string }) => c.id).sort()).toEqual([...one.customerIds].sort());
    expect(await ids({ status: "ALL", customerId: one.customerIds[0] })).toContain(open.id);
    expect(await ids({ status: "ALL", customerId: "not-a-customer" })).toEqual([]);
    const node = await t.gql(`query($id: ID!) { node(id: $id) { __typename ... on IdentityConflict { externalId resolutionNote } } }`, { id: open.id });
    expect(node.data.node).toEqual({ __typename: "IdentityConflict", externalId: "two-unionids-1", resolutionNote: "两个微信号属于同一家庭，不合并" });
  });
});

describe("identitySettings and updateIdentitySettings", () => {
  it("shows the defaults: one wechat_unionid per customer, precedence led by wechat_unionid, nothing blocked", async () => {
    expect(await settings()).toEqual({ precedence: DEFAULT_PRECEDENCE, limits: [{ type: "WECHAT_UNIONID", max: 1 }], blocked: [] });
    const { key } = await createKey(t, ["customers:read"]);
    expect((await t.gql(SETTINGS, {}, key)).data.identitySettings.precedence[0]).toBe("WECHAT_UNIONID");
  });

  it("is admin only: a customers:write key gets FORBIDDEN and the settings stay as they were", async () => {
    const before = await settings();
    const { key } = await createKey(t, ["customers:read", "customers:write"]);
    const r = await t.gql(UPDATE_SETTINGS, { input: { limits: [{ type: "YOUZAN_BUYER", max: 1 }], blocked: [{ type: "PHONE", value: "139 1111 2222" }] } }, key);
    expect(r.data).toBeNull();
    expect(r.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(await settings()).toEqual(before);
  });

  it("rejects max 0, a type listed twice in precedence and an invalid blocked phone with userErrors at the field, and changes nothing", async () => {
    const before = await settings();
    const cases: [Record<string, unknown>, string[]][] = [
      [{ limits: [{ type: "YOUZAN_BUYER", max: 1 }, { type: "POS_MEMBER", max: 0 }] }, ["limits", "1", "max"]],
      [{ limits: [{ type: "YOUZAN_BUYER", max: 101 }] }, ["limits", "0", "max"]],
      [{ precedence: ["PHONE", "WECHAT_UNIONID", "PHONE"] }, ["precedence"]],
      [{ blocked: [{ type: "PHONE", value: "139 1111 2222" }, { type: "PHONE", value: "12345" }] }, ["blocked", "1", "value"]],
    ];
    for (const [input, field] of cases) {
      const r = await t.gql(UPDATE_SETTINGS, { input });
      expect(r.errors).toBeUndefined();
      expect({ input, payload: r.data.updateIdentitySettings }).toEqual({ input, payload: { settings: null, userErrors: [{ field, code: "INVALID", message: expect.any(String) }] } });
    }
    // Several faults at once: each is reported, and the valid parts are not saved either.
    const all = await t.gql(UPDATE_SETTINGS, {
      input: { precedence: ["EMAIL", "EMAIL"], limits: [{ type: "YOUZAN_BUYER", max: 0 }], blocked: [{ type: "EMAIL", value: "not-an-email" }] },
    });
    expect(all.data.updateIdentitySettings.settings).toBeNull();
    expect(all.data.updateIdentitySettings.userErrors.map((e: any) => [e.field, e.code])).toEqual([
      [["precedence"], "INVALID"],
      [["limits", "0", "max"], "INVALID"],
      [["blocked", "0", "value"], "INVALID"],
    ]);
    expect(await settings()).toEqual(before);
  });

  it("with a youzan_buyer limit of 1, a second youzan_buyer for the same customer becomes a conflict and is not attached", async () => {
    const r = await t.gql(UPDATE_SETTINGS, { input: { limits: [{ type: "YOUZAN_BUYER", max: 1 }] } });
    expect(r.errors).toBeUndefined();
    expect(r.data.updateIdentitySettings.userErrors).toEqual([]);
    const limits = [...(await settings()).limits].sort((a: any, b: any) => a.type.localeCompare(b.type));
    expect(limits).toEqual([
      { type: "WECHAT_UNIONID", max: 1 },
      { type: "YOUZAN_BUYER", max: 1 },
    ]);

    const p = newPhone();
    const first = await ingest([
      { type: "customer.upserted", externalId: "yz-1", occurredAt: at(50), identities: [{ type: "youzan_buyer", value: "YZ-BUYER-1" }], payload: { phone: p.spaced, displayName: "有赞买家" } },
    ]);
    expect(first.map((x) => x.status)).toEqual(["ACCEPTED"]);
    const cid = await owner("youzan_buyer", "YZ-BUYER-1");
    expect(cid).not.toBeNull();
    expect(await owner("phone", p.e164)).toBe(cid);

    const second = await ingest([
      { type: "customer.upserted", externalId: "yz-2", occurredAt: at(51), identities: [{ type: "phone", value: p.e164 }, { type: "youzan_buyer", value: "YZ-BUYER-2" }], payload: {} },
    ]);
    expect(second.map((x) => x.status)).toEqual(["ACCEPTED"]);
    expect(await owner("youzan_buyer", "YZ-BUYER-2")).toBeNull();
    const c = await read(cid!);
    expect(c.identities.filter((i: any) => i.type === "YOUZAN_BUYER").map((i: any) => i.value)).toEqual(["YZ-BUYER-1"]);
    const mine = (await conflicts()).filter((x) => x.externalId === "yz-2");
    expect(mine).toEqual([expect.objectContaining({ identities: ["youzan_buyer:YZ-BUYER-2"], customerIds: [cid], reason: expect.stringContaining("youzan_buyer") })]);
  });

  it("a blocked phone never matches or attaches: two events with it and different pos_member ids make two customers, neither with the phone", async () => {
    const r = await t.gql(UPDATE_SETTINGS, { input: { blocked: [{ type: "PHONE", value: "139 1111 2222" }] } });
    expect(r.errors).toBeUndefined();
    expect(r.data.updateIdentitySettings.userErrors).toEqual([]);
    const now = await settings();
    expect(now.blocked).toEqual([{ type: "PHONE", value: "+8613911112222" }]);
    // Only blocked was given: the youzan_buyer limit set before stays.
    expect(now.limits).toEqual(expect.arrayContaining([{ type: "YOUZAN_BUYER", max: 1 }]));

    const before = await count();
    const results = await ingest([
      { type: "customer.upserted", externalId: "blocked-1", occurredAt: at(60), identities: [{ type: "pos_member", value: "M-BLOCK-1" }], payload: { phone: "139 1111 2222", displayName: "共用号码一" } },
      { type: "customer.upserted", externalId: "blocked-2", occurredAt: at(61), identities: [{ type: "pos_member", value: "M-BLOCK-2" }, { type: "phone", value: "+86 139 1111 2222" }], payload: { displayName: "共用号码二" } },
    ]);
    expect(results.map((x) => x.status)).toEqual(["ACCEPTED", "ACCEPTED"]);
    expect(await count()).toBe(before + 2);
    const one = await owner("pos_member", "M-BLOCK-1");
    const two = await owner("pos_member", "M-BLOCK-2");
    expect(one).not.toBeNull();
    expect(two).not.toBeNull();
    expect(one).not.toBe(two);
    for (const id of [one!, two!]) {
      const c = await read(id);
      expect(c.phone).toBeNull();
      expect(c.identities.map((i: any) => i.type)).toEqual(["POS_MEMBER"]);
    }
    expect(await owner("phone", "+8613911112222")).toBeNull();
  });

  it("a partial update keeps the other settings, and precedence lists the given types first then the rest in default order", async () => {
    const before = await settings();
    const r = await t.gql(UPDATE_SETTINGS, { input: { precedence: ["POS_MEMBER", "PHONE"] } });
    expect(r.data.updateIdentitySettings.userErrors).toEqual([]);
    expect(await settings()).toEqual({ ...before, precedence: ["POS_MEMBER", "PHONE", ...DEFAULT_PRECEDENCE.filter((x) => x !== "POS_MEMBER" && x !== "PHONE")] });
  });

  it("updateIdentitySettings answers with the settings now in force (the same as identitySettings reads)", async () => {
    const r = await t.gql(UPDATE_SETTINGS, { input: { precedence: ["EMAIL"], limits: [{ type: "YOUZAN_BUYER", max: 2 }] } });
    expect(r.errors).toBeUndefined();
    expect(r.data.updateIdentitySettings.userErrors).toEqual([]);
    const stored = await settings();
    expect(stored.precedence[0]).toBe("EMAIL");
    expect(stored.limits).toEqual(expect.arrayContaining([{ type: "YOUZAN_BUYER", max: 2 }]));
    expect(r.data.updateIdentitySettings.settings).toEqual(stored);
  });
});
