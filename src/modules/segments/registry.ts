import { isRelative, RELATIVE_DATE, DURATION, type Comparison, type FieldSpec, type Scalar, type Value } from "./condition";

/**
 * Where a condition's SQL is written: over the row `c` of `customers` (and `s`, its `customer_stats`
 * row, LEFT JOINed), in one statement for the whole tenant or for a batch's customers. Values are
 * always bound through `param`, never spliced.
 */
export interface CompileScope {
  /** Binds a value; returns its placeholder, cast when `cast` is given (`$4::text[]`). */
  param(value: unknown, cast?: string): string;
  /** The tenant id's placeholder (`$1`, a uuid). */
  readonly tenant: string;
  /** The evaluation time's placeholder (timestamptz): "now" for relative dates and windows. */
  readonly now: string;
  /** The tenant's IANA time zone's placeholder (text). */
  readonly timeZone: string;
  /** Membership of another segment, as an SQL boolean over `c` (a rule segment is inlined). */
  inSegment(ref: string): string;
}

/**
 * A condition a module contributes to the segment language: the field's name and what it accepts (the
 * parser and validator check against that), and how it compiles to SQL. The segments module registers
 * the built-in ones the same way; loyalty's `tier` will be one more, registered in loyalty's setup.
 */
export interface SegmentConditionDefinition extends FieldSpec {
  /** One line for docs and `segmentFields`. */
  description: string;
  /** An SQL boolean over `c`/`s`; it may be NULL (read as false) but must never raise for stored data. */
  compile(c: Comparison, scope: CompileScope): string;
  /** Whether the result can change with time alone (relative dates, windows, ages): such segments are refreshed on a schedule. */
  timeBased?(c: Comparison): boolean;
  /**
   * A table the condition reads beside `c`, joined once per statement (LEFT JOIN … ON its customer):
   * cheaper than a subquery per customer when a full refresh scans every customer.
   */
  join?: { alias: string; sql: (tenantParam: string) => string };
  /** Whether values must be checked against `values` read at validation time (identity types plugins add). */
  dynamicValues?(): readonly string[];
}

export class SegmentConditions {
  private readonly byName = new Map<string, SegmentConditionDefinition>();

  register(def: SegmentConditionDefinition): void {
    if (!/^[a-z][a-z0-9_]*$/.test(def.name)) throw new Error(`Segment condition "${def.name}" must be lower-case letters, digits and _`);
    if (this.byName.has(def.name)) throw new Error(`Two segment conditions are named "${def.name}"`);
    this.byName.set(def.name, def);
  }

  /** The definition for a field as written (`attribute.level` finds the `attribute` family). */
  get(field: string): SegmentConditionDefinition | undefined {
    const exact = this.byName.get(field);
    if (exact) return exact.prefix ? undefined : exact;
    const dot = field.indexOf(".");
    if (dot < 0) return undefined;
    const family = this.byName.get(field.slice(0, dot));
    return family?.prefix ? family : undefined;
  }

  /** What the parser needs of a field, with values that plugins may add filled in now. */
  spec(field: string): FieldSpec | undefined {
    const def = this.get(field);
    if (!def) return undefined;
    return def.dynamicValues ? { ...def, values: def.dynamicValues() } : def;
  }

  names(): string[] {
    return [...this.byName.values()].map((d) => (d.prefix ? `${d.name}.` : d.name));
  }

  all(): SegmentConditionDefinition[] {
    return [...this.byName.values()];
  }
}

// ---- helpers for definitions --------------------------------------------------------------------

const SQL_OP: Record<string, string> = { "=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<=" };

/** `expr op value` for numbers and strings; IN binds one array. */
export function compareScalar(expr: string, c: Comparison, scope: CompileScope, cast: "numeric" | "text" | "bigint"): string {
  if (c.op === "IN") return `${expr} = ANY(${scope.param(list(c.value), `${cast}[]`)})`;
  if (c.op === "CONTAINS") return `strpos(${expr}, ${scope.param(String(c.value), "text")}) > 0`;
  const op = SQL_OP[c.op];
  if (!op) throw new Error(`operator ${c.op} is not comparable`);
  return `${expr} ${op} ${scope.param(c.value, cast)}`;
}

export function list(v: Value): Scalar[] {
  return Array.isArray(v) ? v : [v];
}

const UNIT: Record<string, string> = { d: "days", w: "weeks", m: "months", y: "years" };

/**
 * Midnight of the local day a date value names, in the tenant's zone: `-90d` is midnight 90 days ago,
 * `"2026-01-01"` midnight that day. A full timestamp is that instant.
 */
export function dateStart(v: Scalar, scope: CompileScope): { start: string; day: boolean } {
  if (isRelative(v)) {
    const m = RELATIVE_DATE.exec(v.relative)!;
    const sign = m[1] === "+" ? "+" : "-";
    const today = `date_trunc('day', ${scope.now} AT TIME ZONE ${scope.timeZone})`;
    return { start: `((${today} ${sign} ${scope.param(`${m[2]} ${UNIT[m[3]]}`, "interval")}) AT TIME ZONE ${scope.timeZone})`, day: true };
  }
  const s = String(v);
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return { start: `(${scope.param(s, "date")}::timestamp AT TIME ZONE ${scope.timeZone})`, day: true };
  return { start: scope.param(s, "timestamptz"), day: false };
}

/** Comparison of a timestamp with a date value; `=` means "on that local day" (or at that instant). */
export function compareDate(expr: string, c: Comparison, scope: CompileScope): string {
  const one = (v: Scalar, op: string) => {
    const { start, day } = dateStart(v, scope);
    const end = `(((${start}) AT TIME ZONE ${scope.timeZone} + interval '1 day') AT TIME ZONE ${scope.timeZone})`;
    if (op === "=") return day ? `(${expr} >= ${start} AND ${expr} < ${end})` : `${expr} = ${start}`;
    if (op === "!=") return day ? `(${expr} < ${start} OR ${expr} >= ${end})` : `${expr} <> ${start}`;
    // "after a day" means from its end on; "before" and "on or after" from its start.
    if (op === ">") return `${expr} ${day ? ">=" : ">"} ${day ? end : start}`;
    if (op === "<=") return `${expr} ${day ? "<" : "<="} ${day ? end : start}`;
    return `${expr} ${SQL_OP[op]} ${start}`;
  };
  if (c.op === "IN") return `(${list(c.value).map((v) => one(v, "=")).join(" OR ")})`;
  return one(c.value as Scalar, c.op);
}

/** Since when a `WITHIN` window counts: midnight so many days (months…) ago in the tenant's zone. */
export function windowStart(within: string, scope: CompileScope): string {
  const m = DURATION.exec(within);
  if (!m) throw new Error(`bad window ${within}`);
  return dateStart({ relative: `-${m[1]}${m[2]}` }, scope).start;
}

export function hasRelative(v: Value): boolean {
  return list(v).some(isRelative);
}
