import { normalizeEmail, normalizeIdentity, normalizePhone } from "../../src/modules/customers/normalize";

describe("phone normalization", () => {
  it.each([
    ["138 0013 8000", "+8613800138000"],
    ["13800138000", "+8613800138000"],
    ["+86 138-0013-8000", "+8613800138000"],
    ["0086 13800138000", "+8613800138000"],
    ["+1 650 253 0000", "+16502530000"],
  ])("turns %s into %s (default region CN)", (input, expected) => {
    expect(normalizePhone(input, "CN")).toBe(expected);
  });

  it.each(["12345", "", "   ", "not a phone", "1".repeat(50)])("rejects %p", (input) => {
    expect(normalizePhone(input, "CN")).toBeNull();
  });
});

describe("e-mail normalization", () => {
  it("trims and lower-cases", () => {
    expect(normalizeEmail("  Li.Na@Example.COM ")).toBe("li.na@example.com");
  });
  it.each(["plain", "a@b", "two@@example.com", "sp ace@example.com", `${"x".repeat(250)}@example.com`])("rejects %p", (input) => {
    expect(normalizeEmail(input)).toBeNull();
  });
});

describe("identity values", () => {
  it("trims opaque ids and refuses empty, over-long or control characters", () => {
    expect(normalizeIdentity("wechat_openid", " o6_bmjrPTlm6_2sgVt7hMZOPfL2M ", "CN")).toBe("o6_bmjrPTlm6_2sgVt7hMZOPfL2M");
    expect(normalizeIdentity("youzan_buyer", "", "CN")).toBeNull();
    expect(normalizeIdentity("external", "x".repeat(201), "CN")).toBeNull();
    expect(normalizeIdentity("external", "a\u0000b", "CN")).toBeNull();
    expect(normalizeIdentity("phone", "138 0013 8000", "CN")).toBe("+8613800138000");
  });
});
