import "../../../adapters";
import { definePlugin, identityTypes, isIdentityType, normalizedEventSchema, registerIdentityTypes } from "../../../src/plugins";
import { defaultPrecedence } from "../../../src/modules/ingestion";
import { exportHeader, planColumns } from "../../../src/modules/imports/mapping";

describe("identity types plugins declare", () => {
  const acme = definePlugin({ name: "acme-crm", version: "1.0.0", identityTypes: [{ name: "acme_member", importHeaders: ["ACME会员号"] }] });

  it("are known once the plugin is defined: events may carry them, unknown ones are refused with the list", () => {
    expect(acme.identityTypes).toHaveLength(1);
    expect(isIdentityType("acme_member")).toBe(true);
    const event = (type: string) => ({ type: "customer.upserted", externalId: "e1", occurredAt: "2026-12-01T10:00:00+08:00", identities: [{ type, value: "A-77" }], payload: {} });
    expect(normalizedEventSchema.safeParse(event("acme_member")).success).toBe(true);
    const refused = normalizedEventSchema.safeParse(event("acme_membr"));
    expect(refused.success).toBe(false);
    expect(refused.error!.issues[0].path).toEqual(["identities", 0, "type"]);
    expect(refused.error!.issues[0].message).toMatch(/^unknown identity type "acme_membr"; known: .*acme_member/);
  });

  it("rank after phone and e-mail and the built-in channels' ids, before external ids and openids", () => {
    expect(defaultPrecedence()).toEqual([
      "wechat_unionid",
      "phone",
      "email",
      "pos_member",
      "youzan_buyer",
      "taobao_buyer",
      "acme_member",
      "zoho_contact",
      "external",
      "wechat_openid",
    ]);
    expect(new Set(identityTypes())).toEqual(new Set(defaultPrecedence()));
  });

  it("are read from their import headers and written back under the first of them", () => {
    const plan = planColumns(["姓名", "ACME会员号", "会员卡号"], {});
    expect(plan.ok && plan.value.fields.map((f) => [f.header, f.field])).toEqual([
      ["姓名", "displayName"],
      ["ACME会员号", "acme_member"],
      ["会员卡号", "pos_member"],
    ]);
    expect(exportHeader([])).toEqual(expect.arrayContaining(["ACME会员号", "会员卡号", "有赞买家ID", "淘宝买家ID"]));
  });

  it("cannot take a core type or another plugin's, nor a malformed name", () => {
    expect(() => registerIdentityTypes("other", [{ name: "phone" }])).toThrow(/"phone" is a core type/);
    expect(() => registerIdentityTypes("other", [{ name: "acme_member" }])).toThrow(/declared by plugin "acme-crm"/);
    expect(() => registerIdentityTypes("other", [{ name: "Acme-Member" }])).toThrow(/lower-case/);
    expect(() => registerIdentityTypes("acme-crm", [{ name: "acme_member" }])).not.toThrow(); // the same plugin again
  });
});
