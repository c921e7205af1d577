import { maskEmail, maskIdentifier, maskIdentityValue, maskPhone } from "../../src/modules/customers";

/** Expected forms written out by hand: how Chinese apps show a number (138****8000), and the examples. */
describe("masking personal values", () => {
  it("shows a mainland mobile as its first three and last four digits", () => {
    expect(maskPhone("+8613800008000")).toBe("138****8000");
    expect(maskPhone("+8619912345678")).toBe("199****5678");
  });

  it("keeps another country's calling code, hiding the middle of the national number", () => {
    expect(maskPhone("+14155550123")).toBe("+1 415***0123");
    expect(maskPhone("+85291234567")).toBe("+852 912***4567"); // 8 digits: three, at least three stars, four
    expect(maskPhone("+442079460000")).toBe("+44 207***0000");
  });

  it("hides all but two digits of a short number, and passes null through", () => {
    expect(maskPhone("+85212345")).toBe("+852 ***45");
    expect(maskPhone(null)).toBeNull();
    // Not parseable as a phone (stored before validation, or odd input): its digits, masked the same way.
    expect(maskPhone("call 1380000-8000")).toBe("138****8000");
    expect(maskPhone("ext. 12")).toBe("***12");
  });

  it("keeps an e-mail's first character and its domain", () => {
    expect(maskEmail("wang.xiao@example.cn")).toBe("w***@example.cn");
    expect(maskEmail("li@shop.example.cn")).toBe("l***@shop.example.cn"); // never tells the length
    expect(maskEmail("not-an-address")).toBe("***");
    expect(maskEmail("a@b.cn")).toBe("a***@b.cn");
    expect(maskEmail("@example.cn")).toBe("***"); // no local part: nothing to show of it
    expect(maskEmail(null)).toBeNull();
  });

  it("shows the first and last two characters of other identifiers, and nothing of short ones", () => {
    expect(maskIdentifier("oUnion_tenantA_only")).toBe("oU***ly"); // nor their length
    expect(maskIdentifier("HZ-000123")).toBe("HZ***23");
    expect(maskIdentifier("M1")).toBe("***");
    expect(maskIdentifier("ABCDEF")).toBe("***");
  });

  it("masks an identity by its type", () => {
    expect(maskIdentityValue("phone", "+8613800008000")).toBe("138****8000");
    expect(maskIdentityValue("email", "wang.xiao@example.cn")).toBe("w***@example.cn");
    expect(maskIdentityValue("wechat_openid", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")).toBe("o6***2M");
  });
});
