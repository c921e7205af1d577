import type { DataKeyring } from "../../core/data-keys";

/**
 * The customers module's blind indexes (HMAC-SHA256 under a key derived per tenant and purpose, see
 * `DataKeyring`): how encrypted identity values, phones and e-mail addresses are still found by exact value.
 * Writes store the first key's index; lookups match any key's (`…Indexes`), so a key rotation in progress
 * finds every row. Names are not encrypted and stay searchable by substring.
 */
export const identityIndex = (keys: DataKeyring, tenantId: string, type: string, value: string): Buffer => keys.blind(tenantId, "identity", `${type}\u0000${value}`);
export const identityIndexes = (keys: DataKeyring, tenantId: string, type: string, value: string): Buffer[] => keys.blindAll(tenantId, "identity", `${type}\u0000${value}`);

export const phoneIndexes = (keys: DataKeyring, tenantId: string, e164: string): Buffer[] => keys.blindAll(tenantId, "phone", e164);
export const emailIndexes = (keys: DataKeyring, tenantId: string, email: string): Buffer[] => keys.blindAll(tenantId, "email", email);
export const phoneLast4Indexes = (keys: DataKeyring, tenantId: string, last4: string): Buffer[] => keys.blindAll(tenantId, "phone_last4", last4);

/** The last four digits of a phone number (what staff in China search by), or null for a shorter one. */
export function phoneLast4(phone: string): string | null {
  const digits = phone.replace(/\D/g, "");
  return digits.length >= 4 ? digits.slice(-4) : null;
}

export interface ContactIndexes {
  phoneIndex: Buffer | null;
  emailIndex: Buffer | null;
  phoneLast4Index: Buffer | null;
}

/** The indexes of a customer's primary phone and e-mail, under the first key. */
export function contactIndexes(keys: DataKeyring, tenantId: string, c: { phone: string | null; email: string | null }): ContactIndexes {
  const last4 = c.phone ? phoneLast4(c.phone) : null;
  return {
    phoneIndex: c.phone ? keys.blind(tenantId, "phone", c.phone) : null,
    emailIndex: c.email ? keys.blind(tenantId, "email", c.email) : null,
    phoneLast4Index: last4 ? keys.blind(tenantId, "phone_last4", last4) : null,
  };
}

/** The year of a `YYYY-MM-DD` birthday (null without one). */
export function birthYearOf(birthday: string | null | undefined): number | null {
  const m = birthday ? /^(\d{4})-\d{2}-\d{2}$/.exec(birthday) : null;
  return m ? Number(m[1]) : null;
}

/**
 * Sets the entity's derived columns before a save writes them: the blind indexes of its phone and e-mail,
 * and the plain birth year (when the entity carries its birthday).
 */
export function indexContacts<T extends { tenantId: string; phone: string | null; email: string | null; birthday?: string | null; birthYear?: number | null } & Partial<ContactIndexes>>(
  keys: DataKeyring,
  c: T,
): T & ContactIndexes {
  if (c.birthday !== undefined) c.birthYear = birthYearOf(c.birthday);
  return Object.assign(c, contactIndexes(keys, c.tenantId, c));
}
