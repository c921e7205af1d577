import "../../adapters"; // the built-in channels' identity types (pos_member, youzan_buyer, taobao_buyer), as deployed
import { blankCustomer, Customer } from "../../src/modules/customers";
import {
  attributeHeader,
  cleanCell,
  exportCells,
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

const IMPORT_FIELDS = "displayName, phone, email, gender, birthday, country, province, city, tags, pos_member, youzan_buyer, taobao_buyer, wechat_unionid, wechat_openid, zoho_contact, external";
const reasonOf = (header: string[], mapping = {}) => {
  const p = planColumns(header, mapping);
  return p.ok ? null : p.reason;
};

describe("import headers", () => {
  it.each([
    ["displayName", ["姓名", "客户姓名", "昵称", "name", "displayName", "会员姓名", "客户名称", "买家昵称"]],
    ["phone", ["手机号", "手机", "手机号码", "phone", "mobile", "联系电话"]],
    ["email", ["邮箱", "email", "电子邮箱"]],
    ["gender", ["性别", "gender"]],
    ["birthday", ["生日", "birthday", "出生日期"]],
    ["country", ["国家", "country"]],
    ["province", ["省份", "省", "province"]],
    ["city", ["城市", "市", "city"]],
    ["tags", ["标签", "tags", "客户标签"]],
    ["wechat_unionid", ["unionid", "wechat_unionid"]],
    ["wechat_openid", ["openid", "wechat_openid"]],
    ["zoho_contact", ["zoho_contact"]],
    ["external", ["external"]],
    ["pos_member", ["会员卡号", "pos_member"]],
  ])("reads each default header of %s", (field, headers) => {
    const identifying = field === "pos_member" ? "unionid" : "会员卡号";
    for (const h of headers) expect([h, plan([h, identifying]).fields.find((f) => f.header === h)?.field]).toEqual([h, field]);
  });

  it("trims header names before using them as fields' headers and attribute keys", () => {
    const p = plan(["\uFEFF 手机号 ", "  备注 "]);
    expect(p.fields).toEqual([{ index: 0, field: "phone", header: "手机号" }]);
    expect(p.attributes).toEqual([{ index: 1, key: "备注" }]);
  });

  it("takes an attributes. prefix off an attribute column, but keeps a bare prefix and long names whole", () => {
    const p = plan(["手机号", "attributes.手机", "attributes.", "loyalty points total"]);
    expect(p.attributes).toEqual([
      { index: 1, key: "手机" },
      { index: 2, key: "attributes." },
      { index: 3, key: "loyalty points total" },
    ]);
  });

  it("accepts a file whose only identifying column is the e-mail", () => {
    expect(fieldsOf(plan(["邮箱", "姓名"]))).toEqual({ email: "邮箱", displayName: "姓名" });
  });

  it("explains a file without an identifying column, adding the encoding hint only when a header is not UTF-8", () => {
    const base = "no column identifies a customer: expected a phone (手机号), e-mail (邮箱), 会员卡号, 有赞买家ID, 淘宝买家ID, unionid or openid column, or a ?mapping=.";
    expect(reasonOf(["姓名", "备注"])).toBe(base);
    expect(reasonOf(["姓名", "\uFFFD\uFFFD"])).toBe(`${base} The header is not valid UTF-8: for a GBK file add ?encoding=gbk.`);
  });

  it("takes up to 500 columns", () => {
    const cols = (n: number) => ["手机号", ...Array.from({ length: n - 1 }, (_, i) => `c${i}`)];
    expect(planColumns(cols(500), {}).ok).toBe(true);
    expect(reasonOf(cols(501))).toBe("the file has 501 columns; at most 500");
  });

  it("finds a mapped column by its exact name first, then by a unique loose match", () => {
    // Exact (after trimming the mapping's name), though another column is alike when loosely compared.
    expect(fieldsOf(plan(["联系方式", "联系-方式"], { phone: " 联系方式 " }))).toEqual({ phone: "联系方式" });
    expect(plan(["联系方式", "联系-方式"], { phone: " 联系方式 " }).fields[0].index).toBe(0);
    // Loose: case, spaces, _ and - ignored.
    expect(plan(["手机号", "E_Mail Address"], { email: "e-mail address" }).fields).toEqual([
      { index: 0, field: "phone", header: "手机号" },
      { index: 1, field: "email", header: "E_Mail Address" },
    ]);
    expect(reasonOf(["联系 方式", "联系-方式"], { phone: "联系方式" })).toBe('mapping.phone: the file has no column "联系方式"');
  });

  it("refuses a mapping giving one column to two fields", () => {
    expect(reasonOf(["联系方式", "备注"], { phone: "联系方式", email: "联系 方式" })).toBe('mapping: column "联系方式" is given for two fields');
  });
});

describe("?mapping=", () => {
  const reason = (raw: string) => {
    const m = parseMapping(raw);
    return m.ok ? null : m.reason;
  };

  it("reads an empty or blank value as no mapping", () => {
    expect(parseMapping("")).toEqual({ ok: true, value: {} });
    expect(parseMapping("   ")).toEqual({ ok: true, value: {} });
  });

  it("gives the reason for each way it can be wrong", () => {
    expect(reason("{")).toBe('mapping: not valid JSON (expected an object such as {"phone":"联系电话"})');
    for (const notObject of ["[]", "null", "1", '"x"']) expect(reason(notObject)).toBe("mapping: expected a JSON object of field → header name");
    expect(reason('{"mobile":"x"}')).toBe(`mapping: unknown field "mobile" (fields: ${IMPORT_FIELDS})`);
    expect(reason(JSON.stringify({ [`x${"y".repeat(59)}`]: "a" }))).toBe(`mapping: unknown field "x${"y".repeat(49)}" (fields: ${IMPORT_FIELDS})`);
    for (const bad of ['{"phone":""}', '{"phone":"   "}', '{"phone":1}', JSON.stringify({ phone: "h".repeat(201) })]) {
      expect(reason(bad)).toBe("mapping.phone: expected the header name of a column (a non-empty string)");
    }
    expect(reason('{"phone":"联系方式","email":"联系 方式"}')).toBe('mapping: "联系 方式" is given for both phone and email');
  });

  it("takes header names of up to 200 characters", () => {
    expect(parseMapping(JSON.stringify({ phone: "h".repeat(200) }))).toEqual({ ok: true, value: { phone: "h".repeat(200) } });
  });
});

describe("import cells", () => {
  it("empties the placeholders merchants write for nothing, and a missing cell", () => {
    for (const v of ["-", "--", "—", " — ", undefined]) expect(cleanCell(v)).toBe("");
  });

  it("takes off only a leading apostrophe that guards a formula", () => {
    expect(cleanCell("'=1+1")).toBe("=1+1");
    expect(cleanCell("'hello")).toBe("'hello");
    expect(cleanCell("'a=b")).toBe("'a=b");
    expect(cleanCell("x-1")).toBe("x-1");
    expect(guardFormula("a=b")).toBe("a=b");
    expect(guardFormula("\tx")).toBe("'\tx");
  });
});

describe("import rows", () => {
  const row = (header: string[], cells: string[]) => rowToEvent(plan(header), cells, rc);
  const payloadOf = (header: string[], cells: string[]) => {
    const r = row(header, cells);
    if (r.kind !== "event") throw new Error(JSON.stringify(r));
    return r.event.payload as Record<string, unknown>;
  };
  const messageOf = (header: string[], cells: string[]) => {
    const r = row(header, cells);
    return r.kind === "error" ? r.message : r.kind;
  };

  it("puts into the payload only what the row has: no empty region, tags, attributes or birthday", () => {
    const header = ["手机号", "生日", "标签", "省", "备注"];
    expect(row(header, ["13912345678", "0000-00-00", "，；", "", ""])).toStrictEqual({
      kind: "event",
      event: { type: "customer.upserted", externalId: rc.externalId, occurredAt: rc.occurredAt, identities: [], payload: { phone: "13912345678" } },
    });
  });

  it.each([
    ["男", "MALE"],
    ["男性", "MALE"],
    ["M", "MALE"],
    ["male", "MALE"],
    ["Male", "MALE"],
    ["女", "FEMALE"],
    ["女性", "FEMALE"],
    ["f", "FEMALE"],
    ["FEMALE", "FEMALE"],
    ["未知", "UNKNOWN"],
    ["保密", "UNKNOWN"],
    ["u", "UNKNOWN"],
    ["Unknown", "UNKNOWN"],
  ])("reads the gender %s as %s", (cell, gender) => {
    expect(payloadOf(["手机号", "性别"], ["13912345678", cell]).gender).toBe(gender);
  });

  it.each([
    ["cn", "CN"],
    ["Us", "US"],
    ["中国", "CN"],
    ["中国大陆", "CN"],
    ["China", "CN"],
    ["CHINA", "CN"],
  ])("reads the country %s as %s", (cell, country) => {
    expect(payloadOf(["手机号", "国家"], ["13912345678", cell]).region).toEqual({ country });
  });

  it.each(["USA", "C", "美国", "C1"])("refuses the country %s", (cell) => {
    expect(messageOf(["手机号", "国家"], ["13912345678", cell])).toBe("国家: expected a two-letter country code such as CN");
  });

  it("names the limits a row's values exceed, and accepts values at the limit", () => {
    const h = ["手机号", "姓名", "省", "市", "标签"];
    const ok = ["13912345678", "名".repeat(200), "省".repeat(100), "市".repeat(100), "t".repeat(64)];
    expect(payloadOf(h, ok)).toMatchObject({ displayName: "名".repeat(200), region: { province: "省".repeat(100), city: "市".repeat(100) }, tags: ["t".repeat(64)] });
    expect(messageOf(h, [ok[0], "名".repeat(201), "", "", ""])).toBe("姓名: at most 200 characters");
    expect(messageOf(h, [ok[0], "", "省".repeat(101), "", ""])).toBe("省: at most 100 characters");
    expect(messageOf(h, [ok[0], "", "", "市".repeat(101), ""])).toBe("市: at most 100 characters");
    expect(messageOf(h, [ok[0], "", "", "", `VIP,${"t".repeat(65)}`])).toBe("标签: each tag at most 64 characters");
  });

  it("takes up to 100 distinct tags, trimmed", () => {
    const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
    expect(payloadOf(["手机号", "标签"], ["13912345678", " VIP , 老客户 ;VIP"]).tags).toEqual(["VIP", "老客户"]);
    expect(payloadOf(["手机号", "标签"], ["13912345678", tags(100).join(",")]).tags).toEqual(tags(100));
    expect(messageOf(["手机号", "标签"], ["13912345678", tags(101).join(",")])).toBe("标签: at most 100 tags");
  });

  it("gives the exact reason for a gender, a birthday or an identity it cannot read", () => {
    expect(messageOf(["手机号", "性别"], ["13912345678", "其他"])).toBe("性别: expected 男, 女 or 未知 (or M, F)");
    expect(messageOf(["手机号", "生日"], ["13912345678", "1990-02-30"])).toBe("生日: not a date between 1900-01-01 and today (use YYYY-MM-DD)");
    expect(messageOf(["会员卡号"], ["M".repeat(201)])).toBe("会员卡号: not a valid pos_member");
  });

  it("keeps the other columns' attributes to 16 KB of JSON", () => {
    // {"备注":"…"}: 2 + 6 (备注 in UTF-8) + 3 + n + 2 bytes.
    const h = ["手机号", "备注"];
    expect(payloadOf(h, ["13912345678", "x".repeat(16384 - 13)]).attributes).toEqual({ 备注: "x".repeat(16371) });
    expect(messageOf(h, ["13912345678", "x".repeat(16384 - 12)])).toBe("the other columns (attributes) hold more than 16 KB");
  });
});

describe("birthdays", () => {
  const today = new Date("2026-08-01T00:00:00Z");

  it("accepts 1900-01-01 and today, not the days outside", () => {
    expect(parseBirthday("1900-01-01", today)).toBe("1900-01-01");
    expect(parseBirthday("2026-08-01", today)).toBe("2026-08-01");
    expect(parseBirthday("2026-08-02", today)).toBeNull();
  });

  it("refuses dates that do not exist rather than rolling them over", () => {
    for (const v of ["0099-05-06", "1990-13-01", "1990-00-10", "1990-05-00", "1990-04-31"]) expect([v, parseBirthday(v, today)]).toStrictEqual([v, null]);
  });

  it("reads only whole dates: nothing before or after them", () => {
    for (const v of ["x1990-05-06", "1990-05-06x", "119900506", "199005061", "x0000-00-00"]) expect([v, parseBirthday(v, today)]).toStrictEqual([v, null]);
  });
});

describe("export cells", () => {
  const at = (day: number) => new Date(Date.UTC(2026, 5, day));
  const person = (over: Partial<Customer>) => Object.assign(blankCustomer("t", at(1), at(1), "c"), over);

  it("writes the profile, the latest identity of each type and the attributes, in the header's order", () => {
    const c = person({
      displayName: "王芳",
      phone: "+8613912345678",
      email: "wang@example.cn",
      gender: "FEMALE" as Customer["gender"],
      birthday: "1990-05-06",
      country: "CN",
      province: "浙江省",
      city: "杭州市",
      tags: ["VIP", "老客户"],
      attributes: { 等级: "金卡", 积分: 120, 备注: null, 嵌套: { a: 1 } },
    });
    const identities = [
      { type: "pos_member", value: "M001", lastSeenAt: at(1) },
      { type: "pos_member", value: "M002", lastSeenAt: at(3) },
      { type: "pos_member", value: "M003", lastSeenAt: at(2) },
      { type: "wechat_unionid", value: "u-2", lastSeenAt: at(5) },
      { type: "wechat_unionid", value: "u-1", lastSeenAt: at(4) },
    ];
    expect(exportCells(c, identities, ["等级", "积分", "备注", "嵌套", "缺"], "CN")).toEqual([
      ...["王芳", "13912345678", "wang@example.cn", "女", "1990-05-06", "CN", "浙江省", "杭州市", "VIP,老客户"],
      ...["M002", "", "", "u-2", "", "", ""],
      ...["金卡", "120", "", '{"a":1}', ""],
    ]);
  });

  it("takes, of two identities of a type seen at the same time, the later one given", () => {
    const ids = [
      { type: "pos_member", value: "M1", lastSeenAt: at(3) },
      { type: "pos_member", value: "M2", lastSeenAt: at(3) },
    ];
    expect(exportCells(person({}), ids, [], "CN")[9]).toBe("M2");
  });

  it("writes empty cells for what the customer lacks, and 男 and 未知 for the other genders", () => {
    const bare = person({ gender: "MALE" as Customer["gender"] });
    Object.assign(bare, { displayName: null, tags: undefined, attributes: undefined });
    // 9 profile cells (gender 4th), 7 identity types, 1 attribute.
    expect(exportCells(bare, [], ["等级"], "CN")).toEqual(["", "", "", "男", "", "", "", "", "", ...Array(7).fill(""), ""]);
    expect(exportCells(person({}), [], [], "CN")[3]).toBe("未知");
    expect(exportCells(person({ gender: null as unknown as Customer["gender"] }), [], [], "CN")[3]).toBe("");
  });

  it("writes phones of the file's region as dialled there, others in E.164", () => {
    const phone = (e164: string, region: string) => exportCells(person({ phone: e164 }), [], [], region)[1];
    expect(phone("+8613912345678", "CN")).toBe("13912345678");
    expect(phone("+862161234567", "CN")).toBe("02161234567");
    expect(phone("+12025550123", "US")).toBe("2025550123");
    expect(phone("+12025550123", "CN")).toBe("+12025550123");
  });

  it("names an attribute column by its key unless the key would read as a field, carry the prefix, or be empty", () => {
    expect(attributeHeader("等级")).toBe("等级");
    expect(attributeHeader("Phone")).toBe("attributes.Phone");
    expect(attributeHeader("attributes.x")).toBe("attributes.attributes.x");
    expect(attributeHeader("_-")).toBe("attributes._-");
  });
});
