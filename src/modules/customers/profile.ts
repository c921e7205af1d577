import { consentKey, sortConsents } from "./consent";
import type { Customer } from "./entity";

/**
 * Survivorship for channel data: each profile field remembers when it was set (`fieldTimes`), and a
 * value is taken only from an event at least as recent — the most recent non-empty value wins, so
 * events applied in any order end in the same profile. Equal times are broken by comparing values,
 * which keeps the outcome independent of arrival order too.
 */
export type ProfileValues = {
  displayName?: string;
  gender?: string;
  birthday?: string;
  region?: { country?: string | null; province?: string | null; city?: string | null };
  phone?: string;
  email?: string;
  tags?: string[];
  attributes?: Record<string, unknown>;
};

function stable(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function wins(at: string, value: unknown, prevAt: string | undefined, prevValue: unknown): boolean {
  // "" is a time too (the oldest: a value no event dated), so two undated values fall to the tie-break.
  if (prevAt === undefined || at > prevAt) return true;
  return at === prevAt && stable(value) > stable(prevValue);
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === "" || (typeof v === "object" && !Array.isArray(v) && Object.values(v as object).every((x) => x == null || x === ""));

/** Applies `values` seen at `at` (ISO, UTC) to `c` in place; returns the GraphQL names of changed fields. */
export function applyProfile(c: Customer, values: ProfileValues, at: string): string[] {
  const changed = new Set<string>();
  const times = (c.fieldTimes ??= {});
  const scalar = (key: "displayName" | "gender" | "birthday" | "phone" | "email", v: string | undefined) => {
    if (isEmpty(v)) return;
    if (!wins(at, v, times[key], c[key])) return;
    times[key] = at;
    if (c[key] !== v) {
      (c as unknown as Record<string, unknown>)[key] = v;
      changed.add(key);
    }
  };
  scalar("displayName", values.displayName?.trim());
  // UNKNOWN says nothing: it never replaces a known gender (as in merges).
  scalar("gender", values.gender === "UNKNOWN" ? undefined : values.gender);
  scalar("birthday", values.birthday);
  scalar("phone", values.phone);
  scalar("email", values.email);
  if (values.region && !isEmpty(values.region)) {
    const next = { country: values.region.country?.toUpperCase() ?? null, province: values.region.province ?? null, city: values.region.city ?? null };
    const prev = { country: c.country, province: c.province, city: c.city };
    if (wins(at, next, times.region, prev)) {
      times.region = at;
      if (stable(next) !== stable(prev)) {
        Object.assign(c, next);
        changed.add("region");
      }
    }
  }
  if (values.tags?.length) {
    const merged = [...new Set([...(c.tags ?? []), ...values.tags.map((t) => t.trim())])].slice(0, 100);
    if (merged.length !== (c.tags ?? []).length) {
      c.tags = merged;
      changed.add("tags");
    }
  }
  for (const [k, v] of Object.entries(values.attributes ?? {})) {
    const key = `attributes.${k}`;
    const attrs = (c.attributes ??= {});
    if (!wins(at, v, times[key], attrs[k])) continue;
    times[key] = at;
    if (stable(attrs[k]) !== stable(v)) {
      c.attributes = { ...attrs, [k]: v };
      changed.add("attributes");
    }
  }
  return [...changed];
}

/** The profile of `source` folded into `target` by the same rule (for merges); returns changed fields. */
export function foldProfile(target: Customer, source: Customer): string[] {
  const changed = new Set<string>();
  const tt = (target.fieldTimes ??= {});
  const st = source.fieldTimes ?? {};
  // A value with no recorded time (entered through the API, or attached before any profile event)
  // counts as oldest ("" sorts before every time), so the outcome never depends on when rows happened to be written.
  const UNDATED = "";
  for (const key of ["displayName", "gender", "birthday", "phone", "email", "locale"] as const) {
    const sv = source[key];
    if (isEmpty(sv) || (key === "gender" && sv === "UNKNOWN")) continue;
    const tv = target[key];
    const targetEmpty = isEmpty(tv) || (key === "gender" && tv === "UNKNOWN");
    const sAt = st[key] ?? UNDATED;
    if (targetEmpty || wins(sAt, sv, tt[key] ?? UNDATED, tv)) {
      tt[key] = sAt;
      if (tv !== sv) {
        (target as unknown as Record<string, unknown>)[key] = sv;
        changed.add(key);
      }
    }
  }
  const sRegion = { country: source.country, province: source.province, city: source.city };
  const tRegion = { country: target.country, province: target.province, city: target.city };
  if (!isEmpty(sRegion)) {
    const sAt = st.region ?? UNDATED;
    if (isEmpty(tRegion) || wins(sAt, sRegion, tt.region ?? UNDATED, tRegion)) {
      tt.region = sAt;
      if (stable(sRegion) !== stable(tRegion)) {
        Object.assign(target, sRegion);
        changed.add("region");
      }
    }
  }
  const tags = [...new Set([...target.tags, ...source.tags])].slice(0, 100);
  if (tags.length !== target.tags.length) {
    target.tags = tags;
    changed.add("tags");
  }
  for (const [k, v] of Object.entries(source.attributes ?? {})) {
    const key = `attributes.${k}`;
    const sAt = st[key] ?? UNDATED;
    if (!(k in target.attributes) || wins(sAt, v, tt[key] ?? UNDATED, target.attributes[k])) {
      tt[key] = sAt;
      if (stable(target.attributes[k]) !== stable(v)) {
        target.attributes = { ...target.attributes, [k]: v };
        changed.add("attributes");
      }
    }
  }
  // Per purpose and channel, the person's latest word wins (a withdrawal after a grant stays a withdrawal).
  const consent = new Map(target.consent.map((c) => [consentKey(c), c]));
  for (const c of source.consent) {
    const mine = consent.get(consentKey(c));
    if (!mine || c.updatedAt > mine.updatedAt) {
      consent.set(consentKey(c), c);
      changed.add("marketingConsent");
    }
  }
  target.consent = sortConsents(consent.values());
  if (source.firstSeenAt < target.firstSeenAt) target.firstSeenAt = source.firstSeenAt;
  if (source.lastSeenAt > target.lastSeenAt) target.lastSeenAt = source.lastSeenAt;
  if (source.createdAt < target.createdAt) target.createdAt = source.createdAt;
  return [...changed];
}
