/**
 * A segment's rule: a tree of `all` / `any` / `not` over comparisons of one field with a value. The
 * text form (`orders_count >= 3 AND tag = "vip"`, query-language.ts) parses to this tree and prints
 * back from it; the JSON form the API takes (`condition`) is this tree as JSON.
 */
export type Condition = AllCondition | AnyCondition | NotCondition | Comparison;

export interface AllCondition {
  all: Condition[];
}
export interface AnyCondition {
  any: Condition[];
}
export interface NotCondition {
  not: Condition;
}

export type Operator = "=" | "!=" | ">" | ">=" | "<" | "<=" | "IN" | "CONTAINS";
export const OPERATORS: readonly Operator[] = ["=", "!=", ">", ">=", "<", "<=", "IN", "CONTAINS"];

/**
 * A literal: a string, a number, a boolean, a relative date (`{ relative: "-90d" }`: days `d`, weeks
 * `w`, months `m` or years `y` back (or forward) from now in the tenant's time zone), or a list (for IN).
 */
export type Scalar = string | number | boolean | RelativeDate;
export type Value = Scalar | Scalar[];
export interface RelativeDate {
  relative: string;
}

export interface Comparison {
  field: string;
  op: Operator;
  value: Value;
  /**
   * For windowed fields (aggregates and order facts): only orders of the last so many days/months
   * count, e.g. `"90d"` — `orders_count >= 3 WITHIN 90d`.
   */
  within?: string;
}

/** What a value of a field must be; checked by the parser (with positions) and by the compiler. */
/** `any`: a string, number or boolean (attribute values, whose type the tenant decides). */
export type ValueKind = "string" | "number" | "integer" | "boolean" | "date" | "any";

/** How a field may be compared: the parser and validator need only this (the compiler needs more). */
export interface FieldSpec {
  name: string;
  kind: ValueKind;
  operators: readonly Operator[];
  /** Accepts `WITHIN <duration>`. */
  windowed?: boolean;
  /** For strings: the only values allowed (compared case-insensitively, normalized to these spellings). */
  values?: readonly string[];
  /** A field family such as `attribute.<path>`: the name is a prefix and anything after the dot is a path. */
  prefix?: boolean;
}

export const RELATIVE_DATE = /^([+-]?)(\d{1,5})([dwmy])$/;
export const DURATION = /^(\d{1,5})([dwmy])$/;

export function isAll(c: Condition): c is AllCondition {
  return typeof c === "object" && c !== null && "all" in c;
}
export function isAny(c: Condition): c is AnyCondition {
  return typeof c === "object" && c !== null && "any" in c;
}
export function isNot(c: Condition): c is NotCondition {
  return typeof c === "object" && c !== null && "not" in c;
}
export function isRelative(v: unknown): v is RelativeDate {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as RelativeDate).relative === "string";
}
