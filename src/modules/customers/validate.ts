import { userError, UserErrorCode, type UserError } from "../../core/user-error";
import type { ConsentChannel, Customer, Gender } from "./entity";
import type { CustomerProfileInput, IdentityInput } from "./inputs";
import { findUnstorable, MAX_JSON_DEPTH } from "../../core/storable";
import { birthdayInRange, MIN_BIRTHDAY } from "../../plugins/events";
import { MAX_IDENTITY_VALUE, normalizeEmail, normalizeIdentity, normalizePhone, type IdentityTypeName } from "./normalize";

export const LIMITS = {
  displayName: 200,
  tag: 64,
  tags: 100,
  attributesBytes: 16 * 1024,
  regionPart: 100,
  search: 100,
};

/** Column values a profile input sets (only the keys present in the input). */
export type ProfilePatch = Partial<
  Pick<Customer, "displayName" | "gender" | "birthday" | "locale" | "country" | "province" | "city" | "phone" | "email" | "attributes">
> & { consent?: { channel: ConsentChannel; granted: boolean }[] };

const LOCALE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/;

/** Checks and normalizes profile fields; `errors` name each bad field. Nothing here touches the database. */
export function validateProfile(input: CustomerProfileInput, phoneRegion: string): { patch: ProfilePatch; errors: UserError[] } {
  const patch: ProfilePatch = {};
  const errors: UserError[] = [];

  if (input.displayName !== undefined) {
    const v = (input.displayName ?? "").trim();
    if (v.length > LIMITS.displayName) errors.push(userError(["displayName"], UserErrorCode.TOO_LONG, `At most ${LIMITS.displayName} characters`));
    else patch.displayName = v;
  }
  if (input.gender !== undefined) patch.gender = (input.gender ?? "UNKNOWN") as Gender;
  if (input.birthday !== undefined) {
    const v = input.birthday;
    if (v !== null && !birthdayInRange(v)) {
      errors.push(userError(["birthday"], UserErrorCode.INVALID, `Birthday must be between ${MIN_BIRTHDAY} and today`));
    } else patch.birthday = v;
  }
  if (input.locale !== undefined) {
    const v = input.locale?.trim() || null;
    if (v !== null && (!LOCALE.test(v) || v.length > 35)) {
      errors.push(userError(["locale"], UserErrorCode.INVALID, "Use a BCP 47 language tag such as zh-CN"));
    } else patch.locale = v;
  }
  if (input.region !== undefined) {
    const r = input.region ?? {};
    const country = r.country?.trim().toUpperCase() || null;
    if (country !== null && !/^[A-Z]{2}$/.test(country)) {
      errors.push(userError(["region", "country"], UserErrorCode.INVALID, "Use an ISO 3166-1 alpha-2 code such as CN"));
    }
    for (const part of ["province", "city"] as const) {
      if ((r[part]?.trim().length ?? 0) > LIMITS.regionPart) {
        errors.push(userError(["region", part], UserErrorCode.TOO_LONG, `At most ${LIMITS.regionPart} characters`));
      }
    }
    patch.country = country;
    patch.province = r.province?.trim() || null;
    patch.city = r.city?.trim() || null;
  }
  if (input.phone !== undefined) {
    if (input.phone === null || input.phone.trim() === "") patch.phone = null;
    else {
      const v = normalizePhone(input.phone, phoneRegion);
      if (!v) errors.push(userError(["phone"], UserErrorCode.INVALID, "Not a valid phone number"));
      else patch.phone = v;
    }
  }
  if (input.email !== undefined) {
    if (input.email === null || input.email.trim() === "") patch.email = null;
    else {
      const v = normalizeEmail(input.email);
      if (!v) errors.push(userError(["email"], UserErrorCode.INVALID, "Not a valid e-mail address"));
      else patch.email = v;
    }
  }
  if (input.attributes !== undefined) {
    const v = input.attributes ?? {};
    // Checked without recursion before anything serializes it: 5,000 levels would overflow the stack.
    const unstorable = findUnstorable(v, MAX_JSON_DEPTH);
    if (unstorable?.kind === "depth") {
      errors.push(userError(["attributes"], UserErrorCode.TOO_LONG, `At most ${MAX_JSON_DEPTH} levels of nesting`));
    } else if (unstorable) {
      errors.push(userError(["attributes", ...unstorable.path], UserErrorCode.INVALID, unstorable.reason));
    } else if (Buffer.byteLength(JSON.stringify(v), "utf8") > LIMITS.attributesBytes) {
      errors.push(userError(["attributes"], UserErrorCode.TOO_LONG, `At most ${LIMITS.attributesBytes} bytes as JSON`));
    } else patch.attributes = v;
  }
  if (input.marketingConsent != null) {
    const seen = new Set<string>();
    input.marketingConsent.forEach((c, i) => {
      if (seen.has(c.channel)) errors.push(userError(["marketingConsent", String(i), "channel"], UserErrorCode.INVALID, `${c.channel} given twice`));
      seen.add(c.channel);
    });
    patch.consent = input.marketingConsent.map((c) => ({ channel: c.channel, granted: c.granted }));
  }
  return { patch, errors };
}

/** Trimmed, de-duplicated tags, each 1–64 characters. */
export function validateTags(tags: string[], field: string[] = ["tags"]): { tags: string[]; errors: UserError[] } {
  const out: string[] = [];
  const errors: UserError[] = [];
  tags.forEach((raw, i) => {
    const t = raw.trim();
    if (!t) errors.push(userError([...field, String(i)], UserErrorCode.REQUIRED, "A tag must not be empty"));
    else if (t.length > LIMITS.tag) errors.push(userError([...field, String(i)], UserErrorCode.TOO_LONG, `At most ${LIMITS.tag} characters`));
    else if (!out.includes(t)) out.push(t);
  });
  return { tags: out, errors };
}

export interface NormalizedIdentity {
  type: IdentityTypeName;
  value: string;
}

export function validateIdentities(list: IdentityInput[], phoneRegion: string, field: string): { identities: NormalizedIdentity[]; errors: UserError[] } {
  const identities: NormalizedIdentity[] = [];
  const errors: UserError[] = [];
  list.forEach((idn, i) => {
    const value = normalizeIdentity(idn.type, idn.value, phoneRegion);
    if (idn.value.trim().length > MAX_IDENTITY_VALUE) errors.push(userError([field, String(i), "value"], UserErrorCode.TOO_LONG, `At most ${MAX_IDENTITY_VALUE} characters`));
    else if (!value) errors.push(userError([field, String(i), "value"], UserErrorCode.INVALID, `Not a valid ${idn.type}`));
    else if (!identities.some((x) => x.type === idn.type && x.value === value)) identities.push({ type: idn.type, value });
  });
  return { identities, errors };
}
