import { pluginIdentityTypes, type IdentityTypeName } from "../../plugins/identity";
import { userError, UserErrorCode, type UserError } from "../../core/user-error";
import { DEFAULT_IDENTITY_LIMITS, normalizeIdentity } from "../customers";

/**
 * How a tenant's events are matched to customers (`tenants.settings.identity`, all optional):
 * - `precedence`: which identity decides when an event's identifiers point at customers that cannot be merged;
 * - `limits`: at most N values of a type per customer (default one `wechat_unionid`); an event or merge that would
 *   break one is recorded as an identity conflict instead;
 * - `blocked`: values that never match anyone (added to built-in rules for shared or fake phones and e-mails).
 */
export interface IdentitySettings {
  precedence: IdentityTypeName[];
  limits: Record<string, number>;
  blocked: Partial<Record<IdentityTypeName, string[]>>;
}

/**
 * Which identity decides by default: a unionid, phone and e-mail identify a person; then the channels'
 * own ids in the order their plugins were defined; then zoho and external ids; the per-app openid last.
 */
export function defaultPrecedence(): IdentityTypeName[] {
  return ["wechat_unionid", "phone", "email", ...pluginIdentityTypes().map((t) => t.name), "zoho_contact", "external", "wechat_openid"];
}

/** The tenant's `identity` settings section with defaults filled in. */
export function identitySettings(section: Record<string, unknown> | undefined): IdentitySettings {
  const s = (section ?? {}) as Partial<IdentitySettings>;
  return {
    precedence: s.precedence?.length ? [...s.precedence, ...defaultPrecedence().filter((t) => !s.precedence!.includes(t))] : defaultPrecedence(),
    limits: { ...DEFAULT_IDENTITY_LIMITS, ...(s.limits ?? {}) },
    blocked: s.blocked ?? {},
  };
}

/** What `updateIdentitySettings` may change; every field optional. */
export interface IdentitySettingsPatch {
  precedence?: IdentityTypeName[] | null;
  limits?: { type: IdentityTypeName; max: number }[] | null;
  blocked?: { type: IdentityTypeName; value: string }[] | null;
}

/** Validates a patch; blocked values are normalized as identities are (phones in the tenant's region). */
export function validateIdentitySettings(input: IdentitySettingsPatch, phoneRegion: string): { stored: Record<string, unknown>; errors: UserError[] } {
  const errors: UserError[] = [];
  const stored: Record<string, unknown> = {};
  if (input.precedence) {
    if (new Set(input.precedence).size !== input.precedence.length) errors.push(userError(["precedence"], UserErrorCode.INVALID, "A type is listed twice"));
    stored.precedence = input.precedence;
  }
  if (input.limits) {
    input.limits.forEach((l, i) => {
      if (l.max < 1 || l.max > 100) errors.push(userError(["limits", String(i), "max"], UserErrorCode.INVALID, "Must be from 1 to 100"));
    });
    stored.limits = Object.fromEntries(input.limits.map((l) => [l.type, l.max]));
  }
  if (input.blocked) {
    if (input.blocked.length > 1000) errors.push(userError(["blocked"], UserErrorCode.TOO_MANY, "At most 1000 blocked values"));
    const blocked: Record<string, string[]> = {};
    input.blocked.forEach((b, i) => {
      const v = normalizeIdentity(b.type, b.value, phoneRegion);
      if (!v) errors.push(userError(["blocked", String(i), "value"], UserErrorCode.INVALID, `Not a valid ${b.type}`));
      else (blocked[b.type] ??= []).includes(v) || blocked[b.type].push(v);
    });
    stored.blocked = blocked;
  }
  return { stored, errors };
}

// Numbers shops type when the buyer will not give theirs, and carriers' service lines.
const SHARED_PHONES = new Set(["+8613800138000", "+8612345678901", "+8610086", "+8610010", "+8610000"]);
const FAKE_EMAIL_LOCAL = /^(test|noreply|no-reply|donotreply|null|none|nobody|example|unknown|abc|a)$/;
const FAKE_EMAIL_DOMAIN = /^(example\.(com|org|net)|test\.com|localhost)$/;

/** True when a (normalized) value must never be used to match or attach: shared, fake or tenant-blocked. */
export function isBlocked(type: IdentityTypeName, value: string, settings: IdentitySettings): boolean {
  if (settings.blocked[type]?.includes(value)) return true;
  if (type === "phone") {
    const national = value.replace(/^\+86/, "");
    return SHARED_PHONES.has(value) || /^(\d)\1+$/.test(national);
  }
  if (type === "email") {
    const [local, domain] = value.split("@");
    return FAKE_EMAIL_LOCAL.test(local) || FAKE_EMAIL_DOMAIN.test(domain ?? "");
  }
  return /^(0+|null|undefined|none|unknown)$/i.test(value);
}
