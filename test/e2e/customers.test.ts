import { aCustomer, createCustomer, CUSTOMER_FIELDS } from "../fixtures/customers";
import { createKey, createTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t?.close());

const CREATE = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { ${CUSTOMER_FIELDS} } userErrors { field code message } } }`;
const UPDATE = `mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { ${CUSTOMER_FIELDS} } userErrors { field code message } } }`;
const COUNT = `{ customers { totalCount } }`;

async function total(): Promise<number> {
  return (await t.gql(COUNT)).data.customers.totalCount;
}

describe("createCustomer", () => {
  it("normalizes phone to E.164 and e-mail to lower case, and attaches both as identities", async () => {
    const c = await createCustomer(t, aCustomer({ displayName: " 张伟 ", phone: "138 0013 8000", email: "  Zhang.Wei@Example.COM " }));
    expect(c.displayName).toBe("张伟");
    expect(c.phone).toBe("+8613800138000");
    expect(c.email).toBe("zhang.wei@example.com");
    expect(c.identities.map((i: any) => [i.type, i.value]).sort()).toEqual([
      ["EMAIL", "zhang.wei@example.com"],
      ["PHONE", "+8613800138000"],
    ]);
    expect(c.gender).toBe("UNKNOWN");
    expect(new Date(c.firstSeenAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it("stores profile fields, consent, attributes and extra identities", async () => {
    const c = await createCustomer(
      t,
      aCustomer({
        gender: "FEMALE",
        birthday: "1990-05-17",
        locale: "zh-CN",
        region: { country: "cn", province: "浙江省", city: "杭州市" },
        attributes: { 会员卡: "A-1001", source: "门店" },
        marketingConsent: [{ channel: "SMS", granted: true }, { channel: "WECHAT", granted: false }],
        identities: [{ type: "WECHAT_UNIONID", value: "oUnion_abc123" }],
      }),
    );
    expect(c).toMatchObject({
      gender: "FEMALE",
      birthday: "1990-05-17",
      locale: "zh-CN",
      region: { country: "CN", province: "浙江省", city: "杭州市" },
      attributes: { 会员卡: "A-1001", source: "门店" },
    });
    expect(c.marketingConsent.map((m: any) => [m.channel, m.granted]).sort()).toEqual([
      ["SMS", true],
      ["WECHAT", false],
    ]);
    expect(c.identities.map((i: any) => i.type).sort()).toEqual(["EMAIL", "PHONE", "WECHAT_UNIONID"]);
  });

  it("rejects an invalid phone and e-mail with userErrors and writes nothing", async () => {
    const before = await total();
    const r = await t.gql(CREATE, { input: aCustomer({ phone: "12345", email: "not-an-email" }) });
    expect(r.data.createCustomer.customer).toBeNull();
    expect(r.data.createCustomer.userErrors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: ["phone"], code: "INVALID" }),
        expect.objectContaining({ field: ["email"], code: "INVALID" }),
      ]),
    );
    expect(await total()).toBe(before);
  });

  it("rejects an identity that belongs to another customer, and writes nothing", async () => {
    const first = await createCustomer(t);
    const before = await total();
    const r = await t.gql(CREATE, { input: aCustomer({ phone: first.phone }) });
    expect(r.data.createCustomer.userErrors).toEqual([expect.objectContaining({ field: ["phone"], code: "TAKEN" })]);
    expect(await total()).toBe(before);
  });

  it("rejects over-long names, bad tags, birthdays in the future and bad locales", async () => {
    const r = await t.gql(CREATE, {
      input: aCustomer({ displayName: "名".repeat(201), tags: ["ok", " ", "x".repeat(65)], birthday: "2999-01-01", locale: "中文" }),
    });
    const errs = r.data.createCustomer.userErrors.map((e: any) => `${e.field.join(".")}:${e.code}`).sort();
    expect(errs).toEqual(["birthday:INVALID", "displayName:TOO_LONG", "locale:INVALID", "tags.1:REQUIRED", "tags.2:TOO_LONG"]);
  });

  it("lets exactly one of two concurrent creates with the same new phone win", async () => {
    const input = aCustomer();
    const results = await Promise.all([t.gql(CREATE, { input }), t.gql(CREATE, { input: { ...input, email: null } })]);
    const winners = results.filter((r) => r.data.createCustomer.customer);
    const losers = results.filter((r) => r.data.createCustomer.userErrors.length);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0].data.createCustomer.userErrors[0].code).toBe("TAKEN");
  });
});

describe("updateCustomer", () => {
  it("changes only the given fields, clears fields set to null, and keeps phone identity in step", async () => {
    const c = await createCustomer(t, aCustomer({ locale: "zh-CN", gender: "MALE" }));
    const r = await t.gql(UPDATE, { input: { id: c.id, phone: "+86 186 0000 0001", locale: null } });
    const u = r.data.updateCustomer.customer;
    expect(r.data.updateCustomer.userErrors).toEqual([]);
    expect(u.phone).toBe("+8618600000001");
    expect(u.locale).toBeNull();
    expect(u.gender).toBe("MALE");
    expect(u.displayName).toBe(c.displayName);
    const phones = u.identities.filter((i: any) => i.type === "PHONE").map((i: any) => i.value);
    expect(phones).toEqual(["+8618600000001"]);
    const byOld = await t.gql(`query($v: String!) { customerByIdentity(type: PHONE, value: $v) { id } }`, { v: c.phone });
    expect(byOld.data.customerByIdentity).toBeNull();
    expect(new Date(u.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(c.updatedAt).getTime());
  });

  it("refuses a phone owned by another customer and leaves the customer unchanged", async () => {
    const a = await createCustomer(t);
    const b = await createCustomer(t);
    const r = await t.gql(UPDATE, { input: { id: b.id, phone: a.phone, displayName: "改名" } });
    expect(r.data.updateCustomer.userErrors).toEqual([expect.objectContaining({ field: ["phone"], code: "TAKEN" })]);
    const after = await t.gql(`query($id: ID!) { customer(id: $id) { displayName phone } }`, { id: b.id });
    expect(after.data.customer).toEqual({ displayName: b.displayName, phone: b.phone });
  });

  it("merges marketing consent per channel", async () => {
    const c = await createCustomer(t, aCustomer({ marketingConsent: [{ channel: "SMS", granted: true }] }));
    const r = await t.gql(UPDATE, { input: { id: c.id, marketingConsent: [{ channel: "EMAIL", granted: true }] } });
    expect(r.data.updateCustomer.customer.marketingConsent.map((m: any) => m.channel).sort()).toEqual(["EMAIL", "SMS"]);
  });

  it("answers NOT_FOUND for unknown and malformed ids", async () => {
    for (const id of ["bm9wZQ", "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"]) {
      const r = await t.gql(UPDATE, { input: { id, displayName: "x" } });
      expect(r.data.updateCustomer.userErrors).toEqual([expect.objectContaining({ field: ["id"], code: "NOT_FOUND" })]);
    }
  });
});

describe("tags, identities and delete", () => {
  it("adds and removes tags idempotently", async () => {
    const c = await createCustomer(t, aCustomer({ tags: ["新客"] }));
    const add = await t.gql(`mutation($id: ID!) { addCustomerTags(input: {id: $id, tags: ["VIP", " 新客 ", "VIP"]}) { customer { tags } userErrors { code } } }`, { id: c.id });
    expect(add.data.addCustomerTags.customer.tags).toEqual(["新客", "VIP"]);
    const rm = await t.gql(`mutation($id: ID!) { removeCustomerTags(input: {id: $id, tags: ["新客", "absent"]}) { customer { tags } } }`, { id: c.id });
    expect(rm.data.removeCustomerTags.customer.tags).toEqual(["VIP"]);
  });

  it("attaches an identity (idempotently), finds the customer by it, and detaches it", async () => {
    const c = await createCustomer(t);
    const attach = `mutation($id: ID!) { attachCustomerIdentity(input: {customerId: $id, type: WECHAT_OPENID, value: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", sourceChannel: "wechat-miniprogram"}) { identity { type value sourceChannel } userErrors { code } } }`;
    const a1 = await t.gql(attach, { id: c.id });
    const a2 = await t.gql(attach, { id: c.id });
    expect(a1.data.attachCustomerIdentity.identity).toEqual({ type: "WECHAT_OPENID", value: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", sourceChannel: "wechat-miniprogram" });
    expect(a2.data.attachCustomerIdentity.userErrors).toEqual([]);
    const found = await t.gql(`{ customerByIdentity(type: WECHAT_OPENID, value: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M") { id } }`);
    expect(found.data.customerByIdentity.id).toBe(c.id);
    const byPhone = await t.gql(`query($v: String!) { customerByIdentity(type: PHONE, value: $v) { id } }`, { v: c.phone.replace("+86", "") });
    expect(byPhone.data.customerByIdentity.id).toBe(c.id);
    const d = await t.gql(`mutation($id: ID!) { detachCustomerIdentity(input: {customerId: $id, type: WECHAT_OPENID, value: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}) { customer { identities { type } } userErrors { code } } }`, { id: c.id });
    expect(d.data.detachCustomerIdentity.customer.identities.map((i: any) => i.type).sort()).toEqual(["EMAIL", "PHONE"]);
    const gone = await t.gql(`{ customerByIdentity(type: WECHAT_OPENID, value: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M") { id } }`);
    expect(gone.data.customerByIdentity).toBeNull();
  });

  it("detaching the primary phone clears the phone field", async () => {
    const c = await createCustomer(t);
    const d = await t.gql(`mutation($id: ID!, $v: String!) { detachCustomerIdentity(input: {customerId: $id, type: PHONE, value: $v}) { customer { phone } } }`, { id: c.id, v: c.phone });
    expect(d.data.detachCustomerIdentity.customer.phone).toBeNull();
  });

  it("refuses to attach an identity another customer owns", async () => {
    const a = await createCustomer(t);
    const b = await createCustomer(t);
    const r = await t.gql(`mutation($id: ID!, $v: String!) { attachCustomerIdentity(input: {customerId: $id, type: EMAIL, value: $v}) { identity { id } userErrors { field code } } }`, { id: b.id, v: a.email.toUpperCase() });
    expect(r.data.attachCustomerIdentity).toEqual({ identity: null, userErrors: [{ field: ["value"], code: "TAKEN" }] });
  });

  it("deletes a customer with every identity", async () => {
    const c = await createCustomer(t);
    const r = await t.gql(`mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId userErrors { code } } }`, { id: c.id });
    expect(r.data.deleteCustomer.deletedCustomerId).toBe(c.id);
    expect((await t.gql(`query($id: ID!) { customer(id: $id) { id } }`, { id: c.id })).data.customer).toBeNull();
    // The phone is free again.
    await createCustomer(t, aCustomer({ phone: c.phone }));
    const again = await t.gql(`mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId userErrors { code } } }`, { id: c.id });
    expect(again.data.deleteCustomer.userErrors).toEqual([{ code: "NOT_FOUND" }]);
  });
});

describe("scopes", () => {
  it("a read-only key can read but gets FORBIDDEN on writes, and nothing is written", async () => {
    const { key } = await createKey(t, ["customers:read"]);
    const before = await total();
    const r = await t.gql(CREATE, { input: aCustomer() }, key);
    expect(r.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(r.data).toBeNull();
    expect(await total()).toBe(before);
    expect((await t.gql(COUNT, {}, key)).data.customers.totalCount).toBe(before);
  });

  it("a write-only key cannot list customers", async () => {
    const { key } = await createKey(t, ["customers:write"]);
    const r = await t.gql(COUNT, {}, key);
    expect(r.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

describe("detach", () => {
  it("answers NOT_FOUND for an identity the customer does not have", async () => {
    const c = await createCustomer(t);
    const r = await t.gql(`mutation($id: ID!) { detachCustomerIdentity(input: {customerId: $id, type: POS_MEMBER, value: "M-404"}) { customer { id } userErrors { field code } } }`, { id: c.id });
    expect(r.data.detachCustomerIdentity).toEqual({ customer: null, userErrors: [{ field: ["value"], code: "NOT_FOUND" }] });
  });
});
