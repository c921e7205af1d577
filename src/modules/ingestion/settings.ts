import type { IdentityTypeName } from "../../plugins/identity";
import { DEFAULT_IDENTITY_LIMITS } from "../customers";

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

export const DEFAULT_PRECEDENCE: IdentityTypeName[] = [
  "wechat_unionid",
  "phone",
  "email",
  "pos_member",
  "youzan_buyer",
  "taobao_buyer",
  "zoho_contact",
  "external",
  "wechat_openid",
];

export function identitySettings(tenantSettings: Record<string, unknown> | undefined): IdentitySettings {
  const s = (tenantSettings?.identity ?? {}) as Partial<IdentitySettings>;
  return {
    precedence: s.precedence?.length ? [...s.precedence, ...DEFAULT_PRECEDENCE.filter((t) => !s.precedence!.includes(t))] : DEFAULT_PRECEDENCE,
    limits: { ...DEFAULT_IDENTITY_LIMITS, ...(s.limits ?? {}) },
    blocked: s.blocked ?? {},
  };
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
