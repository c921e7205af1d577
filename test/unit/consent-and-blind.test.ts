import { createHmac } from "node:crypto";
import { DataKeyring } from "../../src/core/data-keys";
import { Consent, ConsentChannel, ConsentPurpose, consentKey, isMarketing, sortConsents, validateConsent, withConsent, type StoredConsent } from "../../src/modules/customers/consent";
import { contactIndexes, emailIndexes, identityIndex, identityIndexes, indexContacts, phoneIndexes, phoneLast4, phoneLast4Indexes } from "../../src/modules/customers/blind";
import type { Customer } from "../../src/modules/customers";

const at = "2026-12-07T08:00:00.000Z";
const customer = (consent: StoredConsent[]) => ({ consent }) as unknown as Customer;

describe("consent statements", () => {
  it("are keyed by purpose and, for marketing, channel; entries without a purpose are marketing", () => {
    expect(consentKey({ purpose: ConsentPurpose.MARKETING, channel: ConsentChannel.SMS })).toBe("MARKETING:SMS");
    expect(consentKey({ channel: ConsentChannel.SMS })).toBe("MARKETING:SMS");
    expect(consentKey({ purpose: ConsentPurpose.SENSITIVE_DATA, channel: null })).toBe("SENSITIVE_DATA:");
    expect([{ granted: true, updatedAt: at }, { purpose: ConsentPurpose.MARKETING, granted: true, updatedAt: at }, { purpose: ConsentPurpose.SENSITIVE_DATA, granted: true, updatedAt: at }].map(isMarketing)).toEqual([true, true, false]);
    // As the API serves them: every field, with the defaults of older entries.
    expect({ ...Consent.of({ channel: ConsentChannel.SMS, granted: true, updatedAt: at }) }).toEqual({ purpose: "MARKETING", channel: "SMS", granted: true, source: null, textVersion: null, updatedAt: new Date(at) });
    expect({ ...Consent.of({ purpose: ConsentPurpose.SENSITIVE_DATA, granted: false, updatedAt: at, source: "app", textVersion: "v3" }) }).toEqual({ purpose: "SENSITIVE_DATA", channel: null, granted: false, source: "app", textVersion: "v3", updatedAt: new Date(at) });
    expect(sortConsents([{ purpose: ConsentPurpose.SENSITIVE_DATA, granted: true, updatedAt: at }, { channel: ConsentChannel.EMAIL, granted: false, updatedAt: at }, { purpose: ConsentPurpose.CROSS_BORDER_TRANSFER, granted: true, updatedAt: at }]).map(consentKey)).toEqual([
      "CROSS_BORDER_TRANSFER:",
      "MARKETING:EMAIL",
      "SENSITIVE_DATA:",
    ]);
  });

  it("are validated: channel only and always for marketing, source and (for a grant) text version 1–100 characters, trimmed", () => {
    const ok = validateConsent({ customerId: "x", purpose: ConsentPurpose.MARKETING, channel: ConsentChannel.WECHAT, source: " app ", textVersion: " v1 " }, true);
    expect(ok).toEqual({ statement: { purpose: "MARKETING", channel: "WECHAT", granted: true, source: "app", textVersion: "v1" }, errors: [] });
    const withdrawal = validateConsent({ customerId: "x", purpose: ConsentPurpose.SENSITIVE_DATA, source: "hotline" }, false);
    expect(withdrawal.statement).toEqual({ purpose: "SENSITIVE_DATA", channel: null, granted: false, source: "hotline", textVersion: null });
    const codes = (input: object, granted = true) => validateConsent({ customerId: "x", source: "s", textVersion: "v", ...input } as never, granted).errors.map((e) => `${e.field?.join(".")}:${e.code}`);
    expect(codes({ purpose: ConsentPurpose.MARKETING })).toEqual(["channel:REQUIRED"]);
    expect(codes({ purpose: ConsentPurpose.CROSS_BORDER_TRANSFER, channel: ConsentChannel.SMS })).toEqual(["channel:INVALID"]);
    expect(codes({ purpose: ConsentPurpose.SENSITIVE_DATA, source: "", textVersion: "   " })).toEqual(["source:REQUIRED", "textVersion:REQUIRED"]);
    expect(codes({ purpose: ConsentPurpose.SENSITIVE_DATA, source: "s".repeat(100), textVersion: "v".repeat(101) })).toEqual(["textVersion:TOO_LONG"]);
    expect(codes({ purpose: ConsentPurpose.SENSITIVE_DATA, textVersion: undefined }, false)).toEqual([]);
    const messages = validateConsent({ customerId: "x", purpose: ConsentPurpose.SENSITIVE_DATA, source: "", textVersion: "" }, true).errors.map((e) => e.message);
    expect(messages).toEqual(["Say through what the person said it", "Name the version of the text the person agreed to"]);
    expect(validateConsent({ customerId: "x", purpose: ConsentPurpose.MARKETING, source: "s", textVersion: "v" }, true).statement).toBeUndefined();
  });

  it("change the profile's list only when the answer or the text version changes", () => {
    const sms: StoredConsent = { purpose: ConsentPurpose.MARKETING, channel: ConsentChannel.SMS, granted: true, updatedAt: at, source: "a", textVersion: "v1" };
    const c = customer([sms]);
    expect(withConsent(c, { ...sms, updatedAt: "2026-12-08T00:00:00.000Z", source: "b" })).toBeNull();
    expect(withConsent(customer([{ channel: ConsentChannel.SMS, granted: true, updatedAt: at }]), { ...sms })).toEqual([sms]); // old entry: no version → a new one
    expect(withConsent(c, { ...sms, textVersion: "v2" })).toEqual([{ ...sms, textVersion: "v2" }]);
    const off = { ...sms, granted: false, textVersion: null };
    expect(withConsent(c, off)).toEqual([off]);
    const sensitive: StoredConsent = { purpose: ConsentPurpose.SENSITIVE_DATA, channel: null, granted: true, updatedAt: at };
    expect(withConsent(c, sensitive)).toEqual([sms, sensitive]);
  });
});

describe("blind indexes of the customers module", () => {
  const ring = new DataKeyring([Buffer.alloc(32, 3)]);
  const expected = (purpose: string, value: string) => {
    const root = createHmac("sha256", Buffer.alloc(32, 3)).update("crm blind index v1").digest();
    return createHmac("sha256", createHmac("sha256", root).update(`t1\u0000${purpose}`).digest()).update(value).digest();
  };

  it("index an identity by type and value, a phone, an e-mail and the phone's last four digits", () => {
    expect(identityIndex(ring, "t1", "phone", "+8613900008000").equals(expected("identity", "phone\u0000+8613900008000"))).toBe(true);
    expect(identityIndexes(ring, "t1", "email", "a@b.cn")[0].equals(identityIndex(ring, "t1", "email", "a@b.cn"))).toBe(true);
    expect(identityIndex(ring, "t1", "pos_member", "+8613900008000").equals(identityIndex(ring, "t1", "phone", "+8613900008000"))).toBe(false);
    const idx = contactIndexes(ring, "t1", { phone: "+8613900008000", email: "a@b.cn" });
    expect(idx.phoneIndex!.equals(expected("phone", "+8613900008000"))).toBe(true);
    expect(idx.emailIndex!.equals(expected("email", "a@b.cn"))).toBe(true);
    expect(idx.phoneLast4Index!.equals(expected("phone_last4", "8000"))).toBe(true);
    // What lookups match: the same indexes (one per key; one key here).
    expect(phoneIndexes(ring, "t1", "+8613900008000")).toEqual([idx.phoneIndex]);
    expect(emailIndexes(ring, "t1", "a@b.cn")).toEqual([idx.emailIndex]);
    expect(phoneLast4Indexes(ring, "t1", "8000")).toEqual([idx.phoneLast4Index]);
    expect(contactIndexes(ring, "t1", { phone: null, email: null })).toEqual({ phoneIndex: null, emailIndex: null, phoneLast4Index: null });
    expect(contactIndexes(ring, "t1", { phone: "+123", email: null }).phoneLast4Index).toBeNull();
    const c = indexContacts(ring, { tenantId: "t1", phone: "+8613900008000", email: null });
    expect(c.phoneIndex!.equals(idx.phoneIndex!)).toBe(true);
    expect(c.emailIndex).toBeNull();
  });

  it("take the last four digits of any written form, or none from a shorter number", () => {
    expect(phoneLast4("+86 139-0000-8000")).toBe("8000");
    expect(phoneLast4("+1234")).toBe("1234");
    expect(phoneLast4("+123")).toBeNull();
  });
});
