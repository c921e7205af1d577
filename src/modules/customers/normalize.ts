import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";

import { unstorableText } from "../../core/storable";
import { IDENTITY_TYPES, MAX_IDENTITY_VALUE, type IdentityTypeName } from "../../plugins/identity";

export { IDENTITY_TYPES, MAX_IDENTITY_VALUE, type IdentityTypeName };

/** E.164 (`+8613800138000`) or null when the input is not a valid number for `defaultRegion`. */
export function normalizePhone(input: string, defaultRegion: string): string | null {
  const trimmed = input.trim();
  if (!trimmed || trimmed.length > 40) return null;
  const parsed = parsePhoneNumberFromString(trimmed, defaultRegion as CountryCode);
  return parsed && parsed.isValid() ? parsed.number : null;
}

// Deliberately plain: one @, no spaces, a dot in the domain. RFC 5322's full grammar accepts
// addresses no mail system delivers to.
const EMAIL = /^[^\s@\u0000-\u001f]+@[^\s@\u0000-\u001f]+\.[^\s@\u0000-\u001f]+$/;

/** Trimmed and lower-cased, or null when it is not an e-mail address. */
export function normalizeEmail(input: string): string | null {
  const v = input.trim().toLowerCase();
  return v.length <= 254 && EMAIL.test(v) && !unstorableText(v) ? v : null;
}

/** The canonical form of an identity value, or null when the value is invalid for its type. */
export function normalizeIdentity(type: IdentityTypeName, value: string, defaultRegion: string): string | null {
  if (type === "phone") return normalizePhone(value, defaultRegion);
  if (type === "email") return normalizeEmail(value);
  const v = value.trim();
  return v && v.length <= MAX_IDENTITY_VALUE && !/[\u0000-\u001f]/.test(v) && !unstorableText(v) ? v : null;
}
