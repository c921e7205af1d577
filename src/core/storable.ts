/**
 * What PostgreSQL can store, checked before anything reaches it. The event schema, the GraphQL
 * argument guard and identity normalization all use these rules, so a value the database would
 * refuse is a reason given to the caller — never a failed transaction that takes good data with it.
 *
 * - `text` and `jsonb` hold no NUL (U+0000): text refuses the byte, jsonb the `\u0000` escape.
 * - Strings must be well-formed UTF-16: an unpaired surrogate has no UTF-8 encoding (the driver
 *   would silently store U+FFFD; jsonb refuses the escape).
 * - JSON nests at most {@link MAX_JSON_DEPTH} levels: deeper values overflow recursive code on
 *   the way (ours, the driver's, PostgreSQL's jsonb parser) long before any real data needs it.
 * - Dates and instants lie in years 0001–9999 (PostgreSQL has no year 0; ISO 8601 has four digits).
 */

/** Deepest nesting of objects and arrays accepted in any JSON value (a scalar is depth 0, `{}` depth 1). */
export const MAX_JSON_DEPTH = 32;

/** The first instant accepted (inclusive) and the last, in ms since the epoch. */
export const MIN_INSTANT = new Date("0001-01-01T00:00:00.000Z").getTime();
export const MAX_INSTANT = new Date("9999-12-31T23:59:59.999Z").getTime();

/** Why a string cannot be stored, or null when it can. */
export function unstorableText(s: string): string | null {
  if (s.includes("\u0000")) return "contains a NUL character (U+0000)";
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed()) return "contains an unpaired UTF-16 surrogate";
  return null;
}

export interface Unstorable {
  /** Path from the checked value to the offending part: object keys and array indexes. */
  path: (string | number)[];
  reason: string;
  /** "depth" when the value nests too deep (TOO_LONG to a GraphQL caller), "text" for a bad string. */
  kind: "text" | "depth";
}

/**
 * The first part of `value` that cannot be stored, or null. Walks iteratively (no recursion, so no
 * input can overflow the stack) and stops at the first finding; object keys are checked as strings.
 * `maxDepth` counts levels of objects and arrays below `value` itself.
 */
export function findUnstorable(value: unknown, maxDepth = MAX_JSON_DEPTH): Unstorable | null {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v === "string") {
      const reason = unstorableText(v);
      if (reason) return { path, reason, kind: "text" };
      continue;
    }
    if (typeof v !== "object" || v === null || v instanceof Date) continue;
    if (path.length >= maxDepth) return { path, reason: `nests deeper than ${maxDepth} levels`, kind: "depth" };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: [...path, i] });
      continue;
    }
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i];
      const reason = unstorableText(k);
      if (reason) return { path: [...path, k], reason: `key ${reason}`, kind: "text" };
      stack.push({ v: (v as Record<string, unknown>)[k], path: [...path, k] });
    }
  }
  return null;
}

/** `path: reason`, the way event rejections name a field (`payload.displayName: contains a NUL …`). */
export function describeUnstorable(u: Unstorable, prefix: (string | number)[] = []): string {
  const path = [...prefix, ...u.path].join(".");
  return path ? `${path}: ${u.reason}` : u.reason;
}

/** For text we produce ourselves from the caller's input (reasons, messages): unstorable parts replaced by U+FFFD. */
export function storableText(s: string): string {
  return (s as string & { toWellFormed(): string }).toWellFormed().replace(/\u0000/g, "\uFFFD");
}

/** Whether an instant (ms since the epoch) lies in the range every column and ISO string can hold. */
export function storableInstant(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_INSTANT && ms <= MAX_INSTANT;
}
