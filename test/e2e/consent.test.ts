import { definePlugin } from "../../src/plugins";
import { ConsentPurpose } from "../../src/modules/customers";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

/**
 * Consent per purpose: grants and withdrawals through the API, in force at once (a plugin handling the change
 * reads the new state), kept as proof with source and text version, following the person through merges, in
 * their export, gone with their erasure.
 */
const heard: { purpose: string; channel: string | null; granted: boolean; snapshot: { purpose: string; channel: string | null; granted: boolean }[] }[] = [];
const sender = definePlugin({
  name: "consent-sender",
  version: "1.0.0",
  compatibility: "^1.3.0",
  onEvent: {
    "customer.consent_changed": async (e, ctx) => {
      const snapshot = await ctx.customers.get(e.tenantId, e.customerId);
      heard.push({ purpose: e.purpose, channel: e.channel, granted: e.granted, snapshot: (snapshot?.consents ?? []).map(({ purpose, channel, granted }) => ({ purpose, channel, granted })) });
    },
  },
});

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({}, { plugins: [sender] });
});
afterAll(() => t.close());

const sql = <T = any>(text: string, values: unknown[] = []): Promise<T[]> => t.server.app.db.dataSource.query(text, values);
const local = (id: string) => Buffer.from(id, "base64url").toString().split(":")[1];
const CONSENTS = `consents { purpose channel granted source textVersion updatedAt } marketingConsent { channel granted }`;
const GRANT = `mutation($input: GrantConsentInput!) { grantConsent(input: $input) { customer { id ${CONSENTS} } userErrors { field code } } }`;
const WITHDRAW = `mutation($input: WithdrawConsentInput!) { withdrawConsent(input: $input) { customer { id ${CONSENTS} } userErrors { field code } } }`;

async function customer(name: string, phone: string): Promise<string> {
  const r = await t.gql(`mutation($name: String!, $phone: String!) { createCustomer(input: {displayName: $name, phone: $phone}) { customer { id } } }`, { name, phone });
  return r.data.createCustomer.customer.id;
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
}

describe("grantConsent and withdrawConsent", () => {
  let id: string;
  beforeAll(async () => {
    id = await customer("孙八", "13900003333");
  });

  it("record consent per purpose, with source and text version, and marketing per channel", async () => {
    const sms = await t.gql(GRANT, { input: { customerId: id, purpose: "MARKETING", channel: "SMS", source: "store:HZ01", textVersion: "marketing-2026-10" } });
    expect(sms.data.grantConsent.userErrors).toEqual([]);
    await t.gql(GRANT, { input: { customerId: id, purpose: "SENSITIVE_DATA", source: "wechat-miniprogram:privacy-popup", textVersion: "privacy-2026-10" } });
    const last = await t.gql(GRANT, { input: { customerId: id, purpose: "CROSS_BORDER_TRANSFER", source: "wechat-miniprogram:privacy-popup", textVersion: "privacy-2026-10" } });
    const c = last.data.grantConsent.customer;
    expect(c.consents.map(({ updatedAt, ...rest }: { updatedAt: string }) => rest)).toEqual([
      { purpose: "CROSS_BORDER_TRANSFER", channel: null, granted: true, source: "wechat-miniprogram:privacy-popup", textVersion: "privacy-2026-10" },
      { purpose: "MARKETING", channel: "SMS", granted: true, source: "store:HZ01", textVersion: "marketing-2026-10" },
      { purpose: "SENSITIVE_DATA", channel: null, granted: true, source: "wechat-miniprogram:privacy-popup", textVersion: "privacy-2026-10" },
    ]);
    // Only marketing entries are marketing consent.
    expect(c.marketingConsent).toEqual([{ channel: "SMS", granted: true }]);
  });

  it("withdraw at once: the sender handling the change already reads it withdrawn", async () => {
    const r = await t.gql(WITHDRAW, { input: { customerId: id, purpose: "CROSS_BORDER_TRANSFER", source: "service-hotline" } });
    expect(r.data.withdrawConsent.userErrors).toEqual([]);
    expect(r.data.withdrawConsent.customer.consents.find((x: { purpose: string }) => x.purpose === "CROSS_BORDER_TRANSFER")).toMatchObject({ granted: false, source: "service-hotline", textVersion: null });
    const [{ tenant_id }] = await sql(`SELECT tenant_id FROM customers WHERE id = $1`, [local(id)]);
    const granted = await t.server.app.customers.consentGranted(tenant_id, [local(id)], ConsentPurpose.CROSS_BORDER_TRANSFER);
    expect(granted).toEqual(new Map([[local(id), false]]));
    const sensitive = await t.server.app.customers.consentGranted(tenant_id, [local(id)], ConsentPurpose.SENSITIVE_DATA);
    expect(sensitive).toEqual(new Map([[local(id), true]]));
    // (The grants of the test before may still be arriving: look at the withdrawal's delivery.)
    const withdrawal = () => heard.filter((h) => h.purpose === "CROSS_BORDER_TRANSFER" && !h.granted);
    await waitFor(() => withdrawal().length > 0);
    expect(withdrawal()).toEqual([
      {
        purpose: "CROSS_BORDER_TRANSFER",
        channel: null,
        granted: false,
        snapshot: expect.arrayContaining([{ purpose: "CROSS_BORDER_TRANSFER", channel: null, granted: false }]),
      },
    ]);
  });

  it("keep every statement as proof, once: saying again what is in force adds nothing", async () => {
    await t.gql(GRANT, { input: { customerId: id, purpose: "MARKETING", channel: "SMS", source: "store:HZ01", textVersion: "marketing-2026-10" } });
    await t.gql(WITHDRAW, { input: { customerId: id, purpose: "MARKETING", channel: "SMS", source: "sms:reply-TD" } });
    // A new version of the text is a new statement even when the answer is the same.
    await t.gql(GRANT, { input: { customerId: id, purpose: "SENSITIVE_DATA", source: "app", textVersion: "privacy-2027-01" } });
    const rows = await sql(`SELECT purpose, channel, granted, source, text_version, actor FROM consent_records WHERE customer_id = $1 ORDER BY at, id`, [local(id)]);
    expect(rows.map((r) => [r.purpose, r.channel, r.granted, r.source, r.text_version])).toEqual([
      ["MARKETING", "SMS", true, "store:HZ01", "marketing-2026-10"],
      ["SENSITIVE_DATA", null, true, "wechat-miniprogram:privacy-popup", "privacy-2026-10"],
      ["CROSS_BORDER_TRANSFER", null, true, "wechat-miniprogram:privacy-popup", "privacy-2026-10"],
      ["CROSS_BORDER_TRANSFER", null, false, "service-hotline", null],
      ["MARKETING", "SMS", false, "sms:reply-TD", null],
      ["SENSITIVE_DATA", null, true, "app", "privacy-2027-01"],
    ]);
    expect(new Set(rows.map((r) => r.actor))).toEqual(new Set([expect.stringMatching(/^api_key:/)]));
    // updateCustomer's marketingConsent (the older way) is recorded too, without a text version.
    await t.gql(`mutation($id: ID!) { updateCustomer(input: {id: $id, marketingConsent: [{channel: EMAIL, granted: true}]}) { userErrors { code } } }`, { id });
    expect((await sql(`SELECT source, text_version FROM consent_records WHERE customer_id = $1 AND channel = 'EMAIL'`, [local(id)]))).toEqual([{ source: "updateCustomer", text_version: null }]);
  });

  it("refuse bad input with typed errors, writing nothing", async () => {
    const before = (await sql(`SELECT count(*)::int AS n FROM consent_records`))[0].n;
    const cases: [object, { field: string[]; code: string }[]][] = [
      [{ purpose: "MARKETING", source: "x", textVersion: "v1" }, [{ field: ["channel"], code: "REQUIRED" }]],
      [{ purpose: "SENSITIVE_DATA", channel: "SMS", source: "x", textVersion: "v1" }, [{ field: ["channel"], code: "INVALID" }]],
      [{ purpose: "SENSITIVE_DATA", source: " ", textVersion: "" }, [{ field: ["source"], code: "REQUIRED" }, { field: ["textVersion"], code: "REQUIRED" }]],
      [{ purpose: "SENSITIVE_DATA", source: "x".repeat(101), textVersion: "v1" }, [{ field: ["source"], code: "TOO_LONG" }]],
    ];
    for (const [input, errors] of cases) {
      const r = await t.gql(GRANT, { input: { customerId: id, ...input } });
      expect(r.data.grantConsent).toEqual({ customer: null, userErrors: errors });
    }
    expect((await t.gql(GRANT, { input: { customerId: "Q3VzdG9tZXI6bm9uZQ", purpose: "SENSITIVE_DATA", source: "x", textVersion: "v1" } })).data.grantConsent.userErrors).toEqual([{ field: ["customerId"], code: "NOT_FOUND" }]);
    const other = await createTenant(t, "别家");
    expect((await t.gql(WITHDRAW, { input: { customerId: id, purpose: "SENSITIVE_DATA", source: "x" } }, other.key)).data.withdrawConsent.userErrors).toEqual([{ field: ["customerId"], code: "NOT_FOUND" }]);
    const reader = await createKey(t, ["customers:read"]);
    expect((await t.gql(WITHDRAW, { input: { customerId: id, purpose: "SENSITIVE_DATA", source: "x" } }, reader.key)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await sql(`SELECT count(*)::int AS n FROM consent_records`))[0].n).toBe(before);
  });
});

describe("consent through a person's life", () => {
  it("follows a merge (the latest word per purpose wins), is in the export, and goes with the erasure", async () => {
    const a = await customer("钱九", "13900004444");
    const b = await customer("钱九(门店)", "13900005555");
    await t.gql(GRANT, { input: { customerId: a, purpose: "MARKETING", channel: "WECHAT", source: "app", textVersion: "m-1" } });
    await t.gql(WITHDRAW, { input: { customerId: b, purpose: "MARKETING", channel: "WECHAT", source: "store:HZ02" } }); // later: wins
    await t.gql(GRANT, { input: { customerId: b, purpose: "SENSITIVE_DATA", source: "store:HZ02", textVersion: "p-1" } });
    const m = await t.gql(`mutation($t: ID!, $s: ID!) { mergeCustomers(input: {targetId: $t, sourceId: $s}) { customer { ${CONSENTS} } merge { id } userErrors { code } } }`, { t: a, s: b });
    expect(m.data.mergeCustomers.userErrors).toEqual([]);
    expect(m.data.mergeCustomers.customer.consents.map((c: any) => [c.purpose, c.channel, c.granted])).toEqual([
      ["MARKETING", "WECHAT", false],
      ["SENSITIVE_DATA", null, true],
    ]);
    const doc = (await t.gql(`mutation($id: ID!) { exportCustomerData(input: {customerId: $id}) { document } }`, { id: a })).data.exportCustomerData.document;
    expect(doc.consentRecords.map((r: any) => [r.purpose, r.channel, r.granted, r.source])).toEqual([
      ["MARKETING", "WECHAT", true, "app"],
      ["MARKETING", "WECHAT", false, "store:HZ02"],
      ["SENSITIVE_DATA", null, true, "store:HZ02"],
    ]);
    // Undone, each keeps their own statements.
    const u = await t.gql(`mutation($id: ID!) { unmergeCustomer(input: {mergeId: $id}) { userErrors { code } } }`, { id: m.data.mergeCustomers.merge.id });
    expect(u.data.unmergeCustomer.userErrors).toEqual([]);
    expect((await sql(`SELECT count(*)::int AS n FROM consent_records WHERE customer_id = $1`, [local(b)]))[0].n).toBe(2);

    const e = await t.gql(`mutation($id: ID!) { eraseCustomer(input: {customerId: $id, reason: "request"}) { userErrors { code } } }`, { id: b });
    expect(e.data.eraseCustomer.userErrors).toEqual([]);
    expect((await sql(`SELECT count(*)::int AS n FROM consent_records WHERE customer_id = $1`, [local(b)]))[0].n).toBe(0);
    expect((await sql(`SELECT count(*)::int AS n FROM consent_records WHERE customer_id = $1`, [local(a)]))[0].n).toBe(1);
  });
});
