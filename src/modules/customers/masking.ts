import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import { hasScope, type Principal } from "../../core/context";

/**
 * Masking by scope (PIPL's "necessary" processing): a key without `customers:pii` (which `admin` implies) still
 * reads customers, but phone numbers, e-mail addresses, birthdays and identity values come masked — enough for a
 * clerk to recognise the person on the phone ("the one ending 8000"), not enough to copy their contacts. Filters and
 * lookups still take the full values. Names and regions (city is the finest we store) are not masked.
 */
export const PII_SCOPE = "customers:pii";

/** Whether `principal` sees personal values unmasked. The system (pipelines, plugins) always does. */
export function seesPii(principal: Principal): boolean {
  return hasScope(principal, PII_SCOPE);
}

/** Stars for `n` hidden digits of a phone (at least three). E-mails and other identifiers get three, whatever their length. */
const stars = (n: number) => "*".repeat(Math.max(3, n));

/**
 * `+8613800008000` → `138****8000`: the national number with all but its first three and last four digits hidden,
 * as Chinese apps show it; other countries keep their calling code (`+1 415***0123`). Short numbers keep only the
 * last two digits.
 */
export function maskPhone(phone: string | null): string | null {
  if (phone == null) return null;
  const parsed = parsePhoneNumberFromString(phone);
  const national = parsed?.nationalNumber ?? phone.replace(/\D/g, "");
  const masked = national.length >= 8 ? `${national.slice(0, 3)}${stars(national.length - 7)}${national.slice(-4)}` : `${stars(national.length - 2)}${national.slice(-2)}`;
  return parsed && parsed.countryCallingCode !== "86" ? `+${parsed.countryCallingCode} ${masked}` : masked;
}

/** `wang.xiao@example.cn` → `w***@example.cn`: the first character of the local part, and the domain. */
export function maskEmail(email: string | null): string | null {
  if (email == null) return null;
  const at = email.lastIndexOf("@");
  if (at <= 0) return "***";
  return `${email[0]}***${email.slice(at)}`;
}

/** Any other identifier (openid, unionid, buyer id, member number): its first two and last two characters. */
export function maskIdentifier(value: string): string {
  if (value.length <= 6) return "***";
  return `${value.slice(0, 2)}***${value.slice(-2)}`;
}

/** An identity's value masked by its type: phones and e-mails as above, anything else by `maskIdentifier`. */
export function maskIdentityValue(type: string, value: string): string {
  if (type === "phone") return maskPhone(value)!;
  if (type === "email") return maskEmail(value)!;
  return maskIdentifier(value);
}
