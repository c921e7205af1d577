import { registerIdentityTypes } from "../../src/plugins/identity";
import { exportHeader, planColumns } from "../../src/modules/imports/mapping";

/**
 * Columns of plugins' identity types (without the built-in adapters, so the types here are the only ones): read on
 * each use, so a type registered later becomes a column; a header a core field already has stays the core field's.
 */
describe("import columns of plugins' identity types", () => {
  const fields = (header: string[]) => {
    const p = planColumns(header, {});
    if (!p.ok) throw new Error(p.reason);
    return Object.fromEntries(p.value.fields.map((f) => [f.field, f.header]));
  };

  it("adds a type registered after the columns were first read", () => {
    expect(fields(["手机号", "shop_member"])).toEqual({ phone: "手机号" });
    registerIdentityTypes("shop", [{ name: "shop_member" }]);
    expect(fields(["手机号", "shop_member"])).toEqual({ phone: "手机号", shop_member: "shop_member" });
  });

  it("exports a type without import headers under its name, one with headers under the first, and leaves core headers to core fields", () => {
    registerIdentityTypes("club", [{ name: "club_card", importHeaders: ["俱乐部卡号", "手机"] }]);
    expect(exportHeader([])).toEqual(["姓名", "手机号", "邮箱", "性别", "生日", "国家", "省份", "城市", "标签", "shop_member", "俱乐部卡号", "unionid", "openid", "zoho_contact", "external"]);
    // 手机, declared by the plugin too, stays the core field's: the first field claiming a header keeps it.
    expect(fields(["手机", "俱乐部卡号"])).toEqual({ phone: "手机", club_card: "俱乐部卡号" });
  });
});
