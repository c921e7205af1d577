import { DURATION, OPERATORS, RELATIVE_DATE, isAll, isAny, isNot, isRelative, type Condition, type FieldSpec, type Operator, type Scalar, type Value, type ValueKind } from "./condition";

/**
 * The text form of a segment condition (`orders_count >= 3 WITHIN 90d AND NOT province IN ("浙江", "上海")`)
 * and the checker for its JSON form. Both apply the same semantic rules through the helpers below, so a tree
 * one accepts the other accepts too, and both flag the same mistakes. Pure functions, no I/O.
 *
 * ```ebnf
 * query       = disjunction EOF ;
 * disjunction = conjunction { "OR" conjunction } ;
 * conjunction = unary { "AND" unary } ;
 * unary       = "NOT" unary | "(" disjunction ")" | comparison ;
 * comparison  = field operator value [ "WITHIN" duration ] ;
 * operator    = "=" | "!=" | ">" | ">=" | "<" | "<=" | "CONTAINS" | "IN" ;
 * value       = scalar | "(" scalar { "," scalar } ")" ;   (* the list after IN, and only there *)
 * scalar      = string | number | relative | "TRUE" | "FALSE" ;
 * field       = name { "." segment } ;                      (* segments only for prefix fields *)
 * ```
 * Keywords are case-insensitive; `-- …` comments run to the end of the line. A number glued to letters
 * (`-90d`, `90d`) is one token, a relative date or a duration, so `-90d` is never the number -90 and a word.
 *
 * Canonical trees: `a AND b AND c` is one `{ all: [a, b, c] }`, and a parenthesised group of the same
 * operator merges into its parent (`(a AND b) AND c` is the same tree) since AND and OR are associative;
 * an `all`/`any` never sits directly inside one of its own kind and always has two or more children. The
 * printer writes any tree in that form, so parse(print(t)) equals t for canonical t.
 */

/** A problem in a query's text, at the 1-based line and column (UTF-16 units, as editors count) of its token. */
export type QueryError = { message: string; line: number; column: number };
/** A problem in a condition sent as JSON, at its path (`condition.all[1].value`). */
export type ConditionError = { message: string; path: string };
type Fields = (name: string) => FieldSpec | undefined;

/** Bounds that keep a condition cheap to parse, store and compile; the same for text and JSON. */
export const SEGMENT_QUERY_LIMITS = { text: 10_000, depth: 20, comparisons: 200, string: 500, list: 1000, path: 5 } as const;
const L = SEGMENT_QUERY_LIMITS;

const FIELD_NAME = /^[a-z_][a-z0-9_]*$/;
const SEGMENT = /^[A-Za-z0-9_]+$/;
const DATE = /^(\d{4}-\d{2}-(\d{2}))(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
// Words that cannot start a comparison (NOT can, as an operator, and is taken before a field is expected).
const KEYWORDS = new Set(["AND", "OR", "IN", "CONTAINS", "WITHIN", "TRUE", "FALSE"]);
const TOO_DEEP = `Nesting deeper than ${L.depth} levels`;

// ---------------------------------------------------------------------------------------------------------------
// Rules shared by the text parser and the JSON checker: each returns a message, the caller places it.

const KIND_NAMES: Record<ValueKind, string> = {
  string: "a string",
  number: "a number",
  integer: "an integer",
  boolean: "a boolean (true or false)",
  date: "a date (YYYY-MM-DD, an ISO timestamp with offset, or a relative date such as -90d)",
  any: "a string, number or boolean",
};
const FITS: Record<ValueKind, (v: Scalar) => boolean> = {
  string: (v) => typeof v === "string",
  number: (v) => typeof v === "number",
  integer: (v) => Number.isInteger(v),
  boolean: (v) => typeof v === "boolean",
  date: (v) => isRelative(v) || isDateString(String(v)),
  any: (v) => !isRelative(v),
};

// Date.parse reads 2026-02-30 as 2 March, so a real day is one that keeps its day of the month.
function isDateString(s: string): boolean {
  const m = DATE.exec(s);
  return m !== null && new Date(Date.parse(m[1])).getUTCDate() === +m[2] && !Number.isNaN(Date.parse(s));
}

/** Only `\` and `"` are escaped: the lexer knows no other escapes, and anything else may appear raw. */
function quote(s: string): string {
  return `"${s.replace(/["\\]/g, "\\$&")}"`;
}
/** A scalar as the text form writes it (also how messages name a value). */
function show(v: Scalar): string {
  return typeof v === "string" ? quote(v) : isRelative(v) ? v.relative : String(v);
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function lookupField(name: string, fields: Fields, known: readonly string[] | undefined): { spec?: FieldSpec; error?: string } {
  if (name.length > L.string) return { error: `Field name is longer than ${L.string} characters` };
  const [base, ...path] = name.split(".");
  // Tables answer for the family (`attribute`) or for the name as written (`attribute.level`): ask both.
  const spec = FIELD_NAME.test(base) ? (fields(name) ?? fields(base)) : undefined;
  if (!spec) {
    // The nearest name wins; the first listed wins a tie.
    const near = known?.reduce<[string, number] | undefined>((best, k) => {
      const d = distance(base, k);
      return d <= 2 && (best === undefined || d < best[1]) ? [k, d] : best;
    }, undefined);
    return { error: `Unknown field ${quote(base)}${near ? ` (did you mean ${quote(near[0])}?)` : ""}` };
  }
  if (spec.prefix && path.length === 0) return { spec, error: `Field ${base} needs a path, e.g. ${base}.name` };
  if (!spec.prefix && path.length > 0) return { spec, error: `Field ${base} has no path` };
  if (path.length > L.path) return { spec, error: `Field path ${quote(name)} has more than ${L.path} segments` };
  if (!path.every((s) => SEGMENT.test(s))) return { spec, error: `Malformed field name ${quote(name)}` };
  return { spec };
}

function operatorError(op: Operator, spec: FieldSpec, field: string): string | undefined {
  return spec.operators.includes(op) ? undefined : `Operator ${op} is not allowed on ${field} (allowed: ${spec.operators.join(", ")})`;
}
const notWindowed = (field: string) => `WITHIN is not allowed on ${field} (not a windowed field)`;
const badDuration = (d: unknown) => `Malformed duration ${JSON.stringify(d)} (expected e.g. 90d, 12m, 2w, 1y)`;
const tooMany = () => `IN takes at most ${L.list} values`;
const tooManyComparisons = () => `More than ${L.comparisons} comparisons`;

/** The value to keep (an enum string in its listed spelling, -0 as 0) and what is wrong with it, if anything. */
function checkScalar(v: Scalar, spec: FieldSpec | undefined, field: string, op: Operator | undefined): { value: Scalar; error?: string } {
  const listed = typeof v === "string" ? spec?.values?.find((s) => s.toLowerCase() === v.toLowerCase()) : undefined;
  const value = listed ?? (v === 0 ? 0 : v);
  const error =
    typeof v === "string" && v.length > L.string ? `String is longer than ${L.string} characters`
    : isRelative(v) && !RELATIVE_DATE.test(v.relative) ? `Malformed relative date ${quote(v.relative)} (expected e.g. -90d, +7d, -2w, -12m, -1y)`
    : typeof v === "number" && !Number.isFinite(v) ? "Number is out of range"
    : op === "CONTAINS" && typeof v !== "string" ? `CONTAINS takes a string, not ${show(v)}`
    : !spec ? undefined
    : !FITS[spec.kind](v) ? `${show(v)} is not ${KIND_NAMES[spec.kind]}`
    : spec.values && typeof v === "string" && listed === undefined ? `${show(v)} is not an allowed value for ${field} (allowed: ${spec.values.map(quote).join(", ")})`
    : undefined;
  return { value, error };
}

/** One `all`/`any` from its parts: a single part stands alone, parts of the same kind merge into it. */
function combine(kind: "all" | "any", parts: Condition[]): Condition {
  if (parts.length === 1) return parts[0];
  return { [kind]: parts.flatMap((p) => (kind in p ? (p as Record<typeof kind, Condition[]>)[kind] : [p])) } as unknown as Condition;
}

// ---------------------------------------------------------------------------------------------------------------
// Lexer

type Token = { kind: "word" | "string" | "number" | "unit" | "punct" | "eof" | "error"; text: string; value?: Scalar; line: number; column: number };

// A number swallows letters glued to it: `90d`, `-90d` and the malformed `90days` are one "unit" token.
const NUMBER = /[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?([A-Za-z0-9_]*)/y;
const WORD = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/y;
const ESCAPABLE = `"'\\`;

/** All tokens up to `eof`, or up to an `error` token that the parser reports when it gets there. */
function lex(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const at = (index: number) => ({ line, column: index - lineStart + 1 });
  const sticky = (re: RegExp) => {
    re.lastIndex = i;
    return re.exec(text);
  };
  for (;;) {
    // No bounds check: past the end text[i] is undefined, which no branch takes.
    for (;;) {
      if (text[i] === "\n") {
        line++;
        lineStart = ++i;
      } else if (/\s/.test(text[i])) i++;
      else if (text.startsWith("--", i)) i = text.includes("\n", i) ? text.indexOf("\n", i) : text.length;
      else break;
    }
    const start = at(i);
    if (i >= text.length) return [...tokens, { kind: "eof", text: "", ...start }];
    const c = text[i];
    let m: RegExpExecArray | null;
    if (c === '"' || c === "'") {
      let j = i + 1;
      let value = "";
      while (text[j] !== c) {
        if (text[j] === undefined) return [...tokens, { kind: "error", text: "Unterminated string", ...start }];
        if (text[j] === "\\" && j + 1 < text.length) {
          if (!ESCAPABLE.includes(text[j + 1])) return [...tokens, { kind: "error", text: `Unknown escape "\\${text[j + 1]}"`, ...at(j) }];
          j++;
        } else if (text[j] === "\n") {
          line++;
          lineStart = j + 1;
        }
        value += text[j++];
      }
      tokens.push({ kind: "string", text: text.slice(i, j + 1), value, ...start });
      i = j + 1;
      continue;
    }
    if ((m = sticky(NUMBER))) tokens.push({ kind: m[1] ? "unit" : "number", text: m[0], value: m[1] ? undefined : Number(m[0]), ...start });
    else if ((m = sticky(WORD))) tokens.push({ kind: "word", text: m[0], ...start });
    else {
      const p = ["!=", ">=", "<="].find((s) => text.startsWith(s, i)) ?? ("=<>(),".includes(c) ? c : undefined);
      if (p === undefined) return [...tokens, { kind: "error", text: `Unexpected character "${String.fromCodePoint(text.codePointAt(i)!)}"`, ...start }];
      tokens.push({ kind: "punct", text: p, ...start });
    }
    i += tokens[tokens.length - 1].text.length;
  }
}

/** A keyword (any case) or a punctuation mark; only words and marks can spell one, as strings keep their quotes. */
const is = (t: Token, s: string) => t.text.toUpperCase() === s;
const describe = (t: Token) => (t.kind === "punct" ? `"${t.text}"` : t.text);
const SYMBOL_OPERATORS = new Set<string>(["=", "!=", ">", ">=", "<", "<="]);

// ---------------------------------------------------------------------------------------------------------------
// Parser

class SyntaxStop {}

/**
 * Parses the text form of a segment condition. Stops at the first syntax error but reports every semantic
 * error before it (unknown field, operator, value kind or allowed value, WITHIN, relative date, limits), each
 * at its token. `known`: field names to suggest for an unknown one (edit distance 2 at most).
 */
export function parseSegmentQuery(text: string, fields: Fields, known?: readonly string[]): { condition: Condition | null; errors: QueryError[] } {
  if (text.length > L.text) return { condition: null, errors: [{ message: `Query is longer than ${L.text} characters`, line: 1, column: 1 }] };
  const tokens = lex(text);
  const errors: QueryError[] = [];
  const starts = new Map<Condition, Token>();
  let i = 0;
  let nesting = 0;
  let comparisons = 0;
  const peek = () => tokens[i];
  const report = (t: Token, message: string) => void errors.push({ message, line: t.line, column: t.column });
  const stop = (t: Token, message: string): never => {
    report(t, message);
    throw new SyntaxStop();
  };
  const fail = (expected: string): never => {
    const t = peek();
    return stop(t, t.kind === "error" ? t.text : t.kind === "eof" ? `Unexpected end of query: expected ${expected}` : `Expected ${expected}, found ${describe(t)}`);
  };

  function chain(kind: "all" | "any", keyword: string, operand: () => Condition): Condition {
    const start = peek();
    const parts = [operand()];
    while (is(peek(), keyword)) i++, parts.push(operand());
    const node = combine(kind, parts);
    if (parts.length > 1) starts.set(node, start);
    return node;
  }
  const disjunction = (): Condition => chain("any", "OR", conjunction);
  const conjunction = (): Condition => chain("all", "AND", unary);

  function unary(): Condition {
    const t = peek();
    if (!is(t, "NOT") && !is(t, "(")) return comparison();
    i++;
    // Counted on the text, before any tree exists, so that no input can exhaust the stack.
    if (++nesting > L.depth) stop(t, TOO_DEEP);
    let node: Condition;
    if (is(t, "NOT")) starts.set((node = { not: unary() }), t);
    else {
      node = disjunction();
      if (!is(peek(), ")")) fail('")"');
      i++;
    }
    nesting--;
    return node;
  }

  function comparison(): Condition {
    const f = peek();
    if (f.kind !== "word" || KEYWORDS.has(f.text.toUpperCase())) fail("a field name");
    i++;
    const field = f.text;
    const { spec, error } = lookupField(field, fields, known);
    if (error) report(f, error);
    if (++comparisons === L.comparisons + 1) report(f, tooManyComparisons());
    const o = peek();
    const op = SYMBOL_OPERATORS.has(o.text) ? (o.text as Operator) : is(o, "IN") ? "IN" : is(o, "CONTAINS") ? "CONTAINS" : fail(`an operator after ${field}`);
    i++;
    const opError = spec && operatorError(op, spec, field);
    if (opError) report(o, opError);
    const scalar = (after: Token): Scalar => {
      const t = peek();
      const v: Scalar =
        t.kind === "string" || t.kind === "number" ? t.value!
        : t.kind === "unit" ? { relative: t.text }
        : is(t, "TRUE") || is(t, "FALSE") ? is(t, "TRUE")
        : fail(`a value after ${describe(after)}`);
      i++;
      const checked = checkScalar(v, spec, field, op);
      if (checked.error) report(t, checked.error);
      return checked.value;
    };
    let value: Value;
    if (op === "IN") {
      const open = peek();
      if (!is(open, "(")) fail('"(" after IN');
      i++;
      value = [scalar(open)];
      while (is(peek(), ",")) value.push(scalar(tokens[i++]));
      if (!is(peek(), ")")) fail('"," or ")"');
      i++;
      if (value.length > L.list) report(open, tooMany());
    } else value = scalar(o);
    const w = peek();
    if (!is(w, "WITHIN")) return { field, op, value };
    i++;
    if (spec && !spec.windowed) report(w, notWindowed(field));
    const d = peek();
    if (d.kind !== "unit" && d.kind !== "number") fail("a duration after WITHIN");
    i++;
    if (!DURATION.test(d.text)) report(d, badDuration(d.text));
    return { field, op, value, within: d.text };
  }

  try {
    const root = disjunction();
    if (peek().kind !== "eof") fail("AND, OR or the end of the query");
    const deep = deepest(root, 1);
    if (deep) report(starts.get(deep)!, TOO_DEEP);
    return { condition: errors.length ? null : root, errors };
  } catch (e) {
    if (e instanceof SyntaxStop) return { condition: null, errors };
    throw e;
  }
}

/** The first all/any/not found below `depth` levels of them (the root being level 1). */
function deepest(c: Condition, level: number): Condition | undefined {
  const children = isAll(c) ? c.all : isAny(c) ? c.any : isNot(c) ? [c.not] : undefined;
  if (!children) return undefined;
  if (level > L.depth) return c;
  for (const child of children) {
    const found = deepest(child, level + 1);
    if (found) return found;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Printer

/**
 * The canonical text of a condition: keywords in capitals, strings double-quoted, parentheses only where
 * precedence needs them (NOT over AND over OR). Nested groups of one kind and single-child groups print
 * merged, so the text parses back to the canonical form of the tree. Throws on an empty `all`/`any`, which
 * has no text form (checkCondition rejects it).
 */
export function printSegmentQuery(condition: Condition): string {
  return render(condition)[0];
}

// The number is how tightly the text binds: 1 for OR, 2 for AND, 3 for anything that needs no parentheses.
function render(c: Condition): [string, number] {
  if (isAll(c) || isAny(c)) {
    const [list, binds, word] = isAll(c) ? [c.all, 2, " AND "] : [c.any, 1, " OR "];
    if (list.length === 0) throw new Error(`An empty ${isAll(c) ? "all" : "any"} has no text form`);
    const parts = list.map(render);
    if (parts.length === 1) return parts[0];
    return [parts.map(([text, b]) => (b < binds ? `(${text})` : text)).join(word), binds];
  }
  if (isNot(c)) {
    const [text, b] = render(c.not);
    return [`NOT ${b < 3 ? `(${text})` : text}`, 3];
  }
  const value = Array.isArray(c.value) ? `(${c.value.map(show).join(", ")})` : show(c.value);
  return [`${c.field} ${c.op} ${value}${c.within === undefined ? "" : ` WITHIN ${c.within}`}`, 3];
}

// ---------------------------------------------------------------------------------------------------------------
// JSON checker

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const COMPARISON_KEYS = ["field", "op", "value", "within"];

/**
 * Checks a condition sent as JSON (the shapes of condition.ts) by the parser's rules plus the shape: no
 * unknown keys, no empty `all`/`any`, lists only after IN. Returns a normalized copy (enum strings in their
 * listed spelling, single-child `all`/`any` replaced by the child, same-kind groups merged), so the result
 * is canonical and prints to text that parses back to it.
 */
export function checkCondition(json: unknown, fields: Fields, known?: readonly string[]): { condition: Condition | null; errors: ConditionError[] } {
  const errors: ConditionError[] = [];
  let comparisons = 0;
  const report = (path: string, message: string): undefined => void errors.push({ message, path });
  const unknownKeys = (x: Record<string, unknown>, allowed: readonly string[], path: string) => {
    for (const k of Object.keys(x)) if (!allowed.includes(k)) report(`${path}.${k}`, `Unknown key ${quote(k)}`);
  };

  function node(x: unknown, path: string, level: number): Condition | undefined {
    if (!isObject(x)) return report(path, "Expected an object with all, any, not or field");
    const kind = (["all", "any", "not"] as const).find((k) => Object.hasOwn(x, k));
    unknownKeys(x, kind ? [kind] : COMPARISON_KEYS, path);
    if (!kind) return comparison(x, path);
    if (level > L.depth) return report(path, TOO_DEEP);
    const at = `${path}.${kind}`;
    if (kind === "not") {
      const inner = node(x.not, at, level + 1);
      return inner && { not: inner };
    }
    const list = x[kind];
    if (!Array.isArray(list)) return report(at, "Expected a list of conditions");
    if (list.length === 0) return report(at, "Expected at least one condition");
    const parts = list.map((c, n) => node(c, `${at}[${n}]`, level + 1));
    return combine(kind, parts.filter((p) => p !== undefined));
  }

  function comparison(x: Record<string, unknown>, path: string): Condition | undefined {
    if (++comparisons === L.comparisons + 1) report(path, tooManyComparisons());
    const { field, op, value: raw, within } = x;
    let spec: FieldSpec | undefined;
    if (typeof field !== "string") report(`${path}.field`, "Expected a field name");
    else {
      const found = lookupField(field, fields, known);
      if (found.error) report(`${path}.field`, found.error);
      spec = found.spec;
    }
    const name = String(field);
    const operator = OPERATORS.find((o) => o === op);
    if (!operator) report(`${path}.op`, op === undefined ? "Expected an operator" : `Unknown operator ${JSON.stringify(op)} (expected one of ${OPERATORS.join(", ")})`);
    else if (spec) {
      const e = operatorError(operator, spec, name);
      if (e) report(`${path}.op`, e);
    }
    const scalar = (v: unknown, at: string): Scalar | undefined => {
      let s: Scalar;
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") s = v;
      else if (isObject(v) && typeof v.relative === "string") {
        unknownKeys(v, ["relative"], at);
        s = { relative: v.relative };
      } else return report(at, Array.isArray(v) ? "Expected a single value, not a list" : v === undefined ? "Expected a value" : "Expected a string, number, boolean or {relative}");
      const checked = checkScalar(s, spec, name, operator);
      if (checked.error) report(at, checked.error);
      return checked.value;
    };
    const at = `${path}.value`;
    let value: Value | undefined;
    if (operator !== "IN") value = scalar(raw, at);
    else if (!Array.isArray(raw)) report(at, "Expected a list of values for IN");
    else if (raw.length === 0) report(at, "Expected at least one value for IN");
    else if (raw.length > L.list) report(at, tooMany());
    else value = raw.map((v, n) => scalar(v, `${at}[${n}]`)) as Scalar[];
    if (within !== undefined) {
      if (spec && !spec.windowed) report(`${path}.within`, notWindowed(name));
      if (typeof within !== "string" || !DURATION.test(within)) report(`${path}.within`, badDuration(within));
    }
    // A part left undefined has been reported, and then the whole result is dropped.
    return within === undefined ? { field: name, op: operator!, value: value! } : { field: name, op: operator!, value: value!, within: within as string };
  }

  const condition = node(json, "condition", 1);
  return { condition: errors.length ? null : condition!, errors };
}
