import "../../adapters"; // the built-in channels' identity types (pos_member, youzan_buyer, taobao_buyer), as deployed
import {
  attributeHeader,
  cleanCell,
  exportHeader,
  guardFormula,
  parseBirthday,
  parseMapping,
  planColumns,
  rowToEvent,
  type ColumnPlan,
} from "../../src/modules/imports/mapping";

const rc = { externalId: "import:j:1", occurredAt: "2026-08-01T00:00:00.000Z", phoneRegion: "CN" };
const plan = (header: string[], mapping = {}): ColumnPlan => {
  const p = planColumns(header, mapping);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
};
const fieldsOf = (p: ColumnPlan) => Object.fromEntries(p.fields.map((f) => [f.field, f.header]));

describe("import column mapping", () => {
  it("recognises the common Chinese and English headers, whatever their case and spacing", () => {
    const p = plan(["\uFEFF客户姓名", "手机号码", "E-mail", "性别", "出生日期", "省份", "市", "标签", "会员卡号", "有赞买家ID", "buyer_open_uid", "UnionID", "openid", "备注"]);
    expect(fieldsOf(p)).toEqual({
      displayName: "客户姓名",
      phone: "手机号码",
      email: "E-mail",
      gender: "性别",
      birthday: "出生日期",
      province: "省份",
      city: "市",
      tags: "标签",
      pos_member: "会员卡号",
      youzan_buyer: "有赞买家ID",
      taobao_buyer: "buyer_open_uid",
      wechat_unionid: "UnionID",
      wechat_openid: "openid",
    });
    expect(p.attributes).toEqual([{ index: 13, key: "备注" }]);
  });

  it("lets an explicit mapping pick columns; the field's default headers then become attributes", () => {
    const p = plan(["手机", "联系方式", "名字"], { phone: "联系方式", displayName: "名字" });
    expect(fieldsOf(p)).toEqual({ phone: "联系方式", displayName: "名字" });
    expect(p.attributes).toEqual([{ index: 0, key: "手机" }]);
  });

  it("refuses headers that do not fit, with a reason", () => {
    const reason = (header: string[], mapping = {}) => {
      const p = planColumns(header, mapping);
      return p.ok ? null : p.reason;
    };
    expect(reason(["姓名", "备注"])).toMatch(/no column identifies a customer/);
    expect(reason(["\uFFFD\uFFFD", "\uFFFD"])).toMatch(/encoding=gbk/);
    expect(reason(["手机", "手机号"])).toMatch(/"手机" and "手机号" both mean phone/);
    expect(reason(["手机号", "备注", "备注"])).toMatch(/two columns named "备注"/);
    expect(reason(["手机号"], { email: "邮件地址" })).toMatch(/mapping.email: the file has no column "邮件地址"/);
  });

  it("parses ?mapping= strictly", () => {
    expect(parseMapping(undefined)).toEqual({ ok: true, value: {} });
    expect(parseMapping('{"phone":"联系电话","pos_member":"卡号"}')).toEqual({ ok: true, value: { phone: "联系电话", pos_member: "卡号" } });
    for (const bad of ["{", "[]", '"x"', '{"mobile":"x"}', '{"phone":""}', '{"phone":1}', '{"phone":"a","email":"A"}']) {
      expect(parseMapping(bad).ok).toBe(false);
    }
  });

  it("turns a row into a customer.upserted event", () => {
    const p = plan(["姓名", "手机", "邮箱", "性别", "生日", "国家", "省", "市", "标签", "会员卡号", "等级"]);
    const r = rowToEvent(p, ["  王芳 ", "139 1234 5678", "Wang@Example.cn", "女", "1990年5月6日", "中国", "浙江省", "杭州市", "VIP，老客户;VIP|生日、 ", "M001", "金卡"], rc);
    expect(r).toEqual({
      kind: "event",
      event: {
        type: "customer.upserted",
        externalId: "import:j:1",
        occurredAt: rc.occurredAt,
        identities: [{ type: "pos_member", value: "M001" }],
        payload: {
          displayName: "王芳",
          phone: "139 1234 5678",
          email: "Wang@Example.cn",
          gender: "FEMALE",
          birthday: "1990-05-06",
          region: { country: "CN", province: "浙江省", city: "杭州市" },
          tags: ["VIP", "老客户", "生日"],
          attributes: { 等级: "金卡" },
        },
      },
    });
  });

  it("names the column at fault, and treats blank rows and placeholders as empty", () => {
    const p = plan(["姓名", "手机号", "邮箱", "性别", "生日"]);
    const message = (cells: string[]) => {
      const r = rowToEvent(p, cells, rc);
      return r.kind === "error" ? r.message : r.kind;
    };
    expect(message(["a", "12345", "", "", ""])).toBe("手机号: not a valid phone number");
    expect(message(["a", "", "not-mail", "", ""])).toBe("邮箱: not a valid e-mail address");
    expect(message(["a", "13912345678", "", "其他", ""])).toMatch(/^性别:/);
    expect(message(["a", "13912345678", "", "", "1990-02-30"])).toMatch(/^生日:/);
    expect(message(["a", "13912345678", "", "", "2999-01-01"])).toMatch(/^生日:/);
    expect(message(["只有名字", "-", "", "", "0000-00-00"])).toMatch(/^no identity/);
    expect(message([" ", "", "--", "", ""])).toBe("blank");
    expect(message(["a", "13912345678", "", "M", "0000-00-00"])).toBe("event");
  });

  it("parses the date spellings spreadsheets use", () => {
    const today = new Date("2026-08-01T00:00:00Z");
    expect(["1990-05-06", "1990/5/6", "1990.05.06", "1990年5月6日", "19900506", "1990-05-06T00:00:00.000Z"].map((d) => parseBirthday(d, today))).toEqual(
      Array(6).fill("1990-05-06"),
    );
    expect(parseBirthday("1899-12-31", today)).toBeNull();
    expect(parseBirthday("5/6/1990", today)).toBeNull();
  });

  it("guards formula-looking CSV cells on export and unguards them on import", () => {
    for (const v of ["=1+1", "+8613912345678", "-5", "@SUM(A1)"]) expect(cleanCell(guardFormula(v))).toBe(v);
    expect(guardFormula("王芳")).toBe("王芳");
  });

  it("exports headers that map back to the same fields, and attribute columns that stay attributes", () => {
    const header = exportHeader(["等级", "phone", "attributes.x"]);
    const p = plan(header);
    expect(p.fields).toHaveLength(16);
    expect(p.attributes.map((a) => a.key)).toEqual(["等级", "phone", "attributes.x"]);
    expect(attributeHeader("手机")).toBe("attributes.手机");
  });
});
