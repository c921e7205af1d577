import { parseNormalizedEvent, type NormalizedEvent } from "../../plugins/events";
import type { IdentityTypeName } from "../../plugins/identity";
import { normalizeEmail, normalizeIdentity, normalizePhone, type ProfileValues } from "../customers";
import { isBlocked, type IdentitySettings } from "./settings";

export interface PreparedEvent {
  /** Position in the request, for results in request order. */
  index: number;
  event: NormalizedEvent;
  /** ISO-8601 in UTC, so times compare as strings. */
  at: string;
  /** Normalized, de-duplicated, blocked values removed. */
  identities: { type: IdentityTypeName; value: string }[];
  profile?: ProfileValues;
}

export type Prepared = { ok: true; value: PreparedEvent } | { ok: false; externalId: string; reason: string };

/** Schema validation, identity normalization and blocking: everything about one event that needs no database. */
export function prepareEvent(input: unknown, index: number, settings: IdentitySettings, phoneRegion: string): Prepared {
  const externalId = typeof (input as { externalId?: unknown })?.externalId === "string" ? String((input as { externalId: string }).externalId).slice(0, 200) : "";
  const parsed = parseNormalizedEvent(input);
  if (!parsed.ok) return { ok: false, externalId, reason: parsed.reason };
  const event = parsed.event;
  const identities: PreparedEvent["identities"] = [];
  /** Adds the value unless blocked or already there; false when blocked (it must not be used at all). */
  const add = (type: IdentityTypeName, value: string): boolean => {
    if (isBlocked(type, value, settings)) return false;
    if (!identities.some((i) => i.type === type && i.value === value)) identities.push({ type, value });
    return true;
  };
  for (const [i, idn] of event.identities.entries()) {
    const value = normalizeIdentity(idn.type, idn.value, phoneRegion);
    if (!value) return { ok: false, externalId: event.externalId, reason: `identities.${i}.value: not a valid ${idn.type}` };
    add(idn.type, value);
  }
  let profile: ProfileValues | undefined;
  if (event.type === "customer.upserted") {
    const p = event.payload;
    profile = { displayName: p.displayName, gender: p.gender, birthday: p.birthday, region: p.region, tags: p.tags, attributes: p.attributes };
    if (p.phone !== undefined && p.phone.trim() !== "") {
      const phone = normalizePhone(p.phone, phoneRegion);
      if (!phone) return { ok: false, externalId: event.externalId, reason: "payload.phone: not a valid phone number" };
      if (add("phone", phone)) profile.phone = phone;
    }
    if (p.email !== undefined && p.email.trim() !== "") {
      const email = normalizeEmail(p.email);
      if (!email) return { ok: false, externalId: event.externalId, reason: "payload.email: not a valid e-mail address" };
      if (add("email", email)) profile.email = email;
    }
    if (!identities.length) {
      return { ok: false, externalId: event.externalId, reason: "identities: a customer.upserted event needs at least one usable identity" };
    }
  }
  return { ok: true, value: { index, event, at: new Date(event.occurredAt).toISOString(), identities, profile } };
}
