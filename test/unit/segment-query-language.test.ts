import fc from "fast-check";
import { OPERATORS, type Condition, type FieldSpec, type Operator, type Scalar } from "../../src/modules/segments/condition";
import { checkCondition, parseSegmentQuery, printSegmentQuery, SEGMENT_QUERY_LIMITS } from "../../src/modules/segments/query-language";

/**
 * Positions are 1-based and count UTF-16 units; every expected line:column below was counted by hand on the
 * query beside it (the arithmetic is noted where a query is built by repetition).
 */
const NUMERIC: Operator[] = ["=", "!=", ">", ">=", "<", "<="];
const TABLE: FieldSpec[] = [
  { name: "orders_count", kind: "integer", operators: NUMERIC, windowed: true },
  { name: "total_spent", kind: "number", operators: [...NUMERIC, "IN"], windowed: true },
  { name: "province", kind: "string", operators: ["=", "!=", "IN", "CONTAINS"] },
  { name: "tag", kind: "string", operators: ["=", "!=", "IN", "CONTAINS"] },
  { name: "has_identity", kind: "string", operators: ["=", "!=", "IN"], values: ["wechat_unionid", "PHONE"] },
  { name: "subscribed", kind: "boolean", operators: ["=", "!="] },
  { name: "last_order_at", kind: "date", operators: [...NUMERIC, "IN"] },
  { name: "attribute", kind: "any", prefix: true, operators: OPERATORS },
  { name: "level", kind: "any", operators: ["=", "IN"], values: ["gold", "silver"] },
];
const KNOWN = TABLE.map((f) => f.name);
// Answers for the family name only, as the brief's tables do; `registryStyle` answers for the name as written.
const fields = (name: string) => TABLE.find((f) => f.name === name);
const registryStyle = (name: string) => (name.startsWith("attribute.") ? TABLE.find((f) => f.name === "attribute") : undefined);

const parse = (text: string) => parseSegmentQuery(text, fields, KNOWN);
function ok(text: string): Condition {
  const r = parse(text);
  expect(r.errors).toEqual([]);
  return r.condition!;
}
/** Errors as `line:column message`, and the condition must be null with them. */
function errs(text: string, known: readonly string[] = KNOWN): string[] {
  const r = parseSegmentQuery(text, fields, known);
  expect(r.condition).toBeNull();
  return r.errors.map((e) => `${e.line}:${e.column} ${e.message}`);
}
const check = (json: unknown) => checkCondition(json, fields, KNOWN);
const checkErrs = (json: unknown) => {
  const r = check(json);
  expect(r.condition).toBeNull();
  return r.errors.map((e) => `${e.path} ${e.message}`);
};
const cmp = (field: string, op: Operator, value: Comparison["value"], within?: string): Condition => (within === undefined ? { field, op, value } : { field, op, value, within });
type Comparison = { field: string; op: Operator; value: Scalar | Scalar[] };
const A = cmp("tag", "=", "a");
const B = cmp("tag", "=", "b");
const C = cmp("tag", "=", "c");
const D = cmp("tag", "=", "d");

describe("segment query text: comparisons", () => {
  it.each(NUMERIC)("reads the operator %s", (op) => {
    expect(ok(`orders_count ${op} 3`)).toEqual(cmp("orders_count", op, 3));
  });

  it("reads IN with a parenthesised list and CONTAINS with one string", () => {
    expect(ok('province IN ("浙江", "上海")')).toEqual(cmp("province", "IN", ["浙江", "上海"]));
    expect(ok('province IN ("浙江")')).toEqual(cmp("province", "IN", ["浙江"]));
    expect(ok('tag CONTAINS "vip"')).toEqual(cmp("tag", "CONTAINS", "vip"));
    expect(ok("total_spent IN (1,2 ,3)")).toEqual(cmp("total_spent", "IN", [1, 2, 3]));
  });

  it("reads keywords in any case", () => {
    expect(ok('province in ("a") and tag Contains "b" oR not tag = "c"')).toEqual({
      any: [{ all: [cmp("province", "IN", ["a"]), cmp("tag", "CONTAINS", "b")] }, { not: C }],
    });
    expect(ok("orders_count > 1 within 90d")).toEqual(cmp("orders_count", ">", 1, "90d"));
    expect(ok("subscribed = True")).toEqual(cmp("subscribed", "=", true));
    expect(ok("subscribed != FALSE")).toEqual(cmp("subscribed", "!=", false));
  });

  it.each(["90d", "12m", "2w", "1y", "0d", "99999d"])("limits a windowed field to WITHIN %s", (d) => {
    expect(ok(`orders_count >= 3 WITHIN ${d}`)).toEqual(cmp("orders_count", ">=", 3, d));
  });

  it("reads strings with escapes, both quote styles, Chinese text and line breaks", () => {
    expect(ok('tag = "a\\"b\\\\c"')).toEqual(cmp("tag", "=", 'a"b\\c'));
    expect(ok("tag = 'it\\'s'")).toEqual(cmp("tag", "=", "it's"));
    expect(ok(`tag = 'say "hi"'`)).toEqual(cmp("tag", "=", 'say "hi"'));
    expect(ok(`tag = "\\'"`)).toEqual(cmp("tag", "=", "'"));
    expect(ok('tag = "老客户 -- 不是注释"')).toEqual(cmp("tag", "=", "老客户 -- 不是注释"));
    expect(ok('tag = "two\nlines"')).toEqual(cmp("tag", "=", "two\nlines"));
    expect(ok('tag = ""')).toEqual(cmp("tag", "=", ""));
  });

  it.each([
    ["500000", 500000],
    ["0.5", 0.5],
    ["-3", -3],
    ["+7", 7],
    ["1e3", 1000],
    ["2.5E-3", 0.0025],
    ["1e+21", 1e21],
  ])("reads the number %s", (text, n) => {
    expect(ok(`total_spent = ${text}`)).toEqual(cmp("total_spent", "=", n));
  });

  it("reads -0 as 0", () => {
    expect(Object.is((ok("total_spent = -0") as Comparison).value, 0)).toBe(true);
  });

  it.each(["-90d", "+7d", "-12m", "-2w", "-1y", "30d", "-99999d"])("reads the relative date %s", (r) => {
    expect(ok(`last_order_at > ${r}`)).toEqual(cmp("last_order_at", ">", { relative: r }));
  });

  it.each(["2026-01-01", "2024-02-29", "2026-01-31", "2026-01-01T10:00:00Z", "2026-01-01T10:00+08:00", "2026-01-01T10:00:00.123456-05:00"])(
    "takes the date string %s for a date field",
    (s) => {
      expect(ok(`last_order_at >= "${s}"`)).toEqual(cmp("last_order_at", ">=", s));
    },
  );

  it("takes relative dates and date strings mixed in an IN list", () => {
    expect(ok('last_order_at IN (-1d, "2026-01-01")')).toEqual(cmp("last_order_at", "IN", [{ relative: "-1d" }, "2026-01-01"]));
  });

  it("keeps the full dotted name of a prefix field", () => {
    expect(ok('attribute.vip_level = "gold"')).toEqual(cmp("attribute.vip_level", "=", "gold"));
    expect(ok("attribute.a.B.3.d_.e >= 2")).toEqual(cmp("attribute.a.B.3.d_.e", ">=", 2));
    expect(ok("attribute.x IN (1, true, \"y\")")).toEqual(cmp("attribute.x", "IN", [1, true, "y"]));
  });

  it("finds a prefix field through a table that answers for the name as written", () => {
    expect(parseSegmentQuery("attribute.level = 3", registryStyle)).toEqual({ condition: cmp("attribute.level", "=", 3), errors: [] });
  });

  it("normalizes listed values to their listed spelling, in any case, and lists only strings", () => {
    expect(ok('level IN ("GOLD", 3, true)')).toEqual(cmp("level", "IN", ["gold", 3, true]));
    expect(ok('has_identity = "WECHAT_UNIONID"')).toEqual(cmp("has_identity", "=", "wechat_unionid"));
    expect(ok("has_identity = 'phone'")).toEqual(cmp("has_identity", "=", "PHONE"));
    expect(ok('has_identity IN ("Phone", "wechat_UnionId")')).toEqual(cmp("has_identity", "IN", ["PHONE", "wechat_unionid"]));
  });

  it("writes no within key when there is no WITHIN", () => {
    expect(Object.keys(ok("orders_count = 1"))).toEqual(["field", "op", "value"]);
  });

  it("accepts strings and field names of up to 500 characters and IN lists of up to 1000 values", () => {
    expect(ok(`attribute.${"x".repeat(490)} = 1`)).toEqual(cmp(`attribute.${"x".repeat(490)}`, "=", 1));
    expect(ok(`tag = "${"x".repeat(500)}"`)).toEqual(cmp("tag", "=", "x".repeat(500)));
    const list = Array.from({ length: 1000 }, (_, n) => n);
    expect(ok(`total_spent IN (${list.join(",")})`)).toEqual(cmp("total_spent", "IN", list));
  });

  it("ignores comments, tabs, CRLF line ends and ideographic spaces", () => {
    expect(ok('-- loyal customers\norders_count >= 3 -- at least\r\n\tAND\u3000tag = "a"--end')).toEqual({ all: [cmp("orders_count", ">=", 3), A] });
    expect(ok('tag = "a" --')).toEqual(A);
  });
});

describe("segment query text: boolean structure", () => {
  it.each<[string, Condition]>([
    ['tag = "a" OR tag = "b" AND tag = "c"', { any: [A, { all: [B, C] }] }],
    ['tag = "a" AND tag = "b" OR tag = "c"', { any: [{ all: [A, B] }, C] }],
    ['(tag = "a" OR tag = "b") AND tag = "c"', { all: [{ any: [A, B] }, C] }],
    ['NOT tag = "a" AND tag = "b"', { all: [{ not: A }, B] }],
    ['NOT (tag = "a" AND tag = "b")', { not: { all: [A, B] } }],
    ['NOT NOT tag = "a"', { not: { not: A } }],
    ['tag = "a" AND tag = "b" AND tag = "c"', { all: [A, B, C] }],
    ['(tag = "a" AND tag = "b") AND tag = "c"', { all: [A, B, C] }],
    ['tag = "a" AND (tag = "b" AND tag = "c")', { all: [A, B, C] }],
    ['(tag = "a" OR tag = "b") OR (tag = "c" OR tag = "d")', { any: [A, B, C, D] }],
    ['((tag = "a"))', A],
    ['tag = "a" AND (tag = "b" OR tag = "c") AND NOT (tag = "d" OR tag = "a")', { all: [A, { any: [B, C] }, { not: { any: [D, A] } }] }],
  ])("reads %s", (text, tree) => {
    expect(ok(text)).toEqual(tree);
  });
});

describe("segment query text: semantic errors, all reported at their tokens", () => {
  it.each<[string, string[]]>([
    ["order_count > 3", ['1:1 Unknown field "order_count" (did you mean "orders_count"?)']],
    ["Orders_count > 3", ['1:1 Unknown field "Orders_count" (did you mean "orders_count"?)']],
    ["ordres_count > 3", ['1:1 Unknown field "ordres_count" (did you mean "orders_count"?)']],
    ["zzz = 1", ['1:1 Unknown field "zzz"']],
    ["attributes.level = 1", ['1:1 Unknown field "attributes" (did you mean "attribute"?)']],
    ["attribute = 1", ["1:1 Field attribute needs a path, e.g. attribute.name"]],
    ["orders_count.x = 1", ["1:1 Field orders_count has no path"]],
    ["attribute.a.b.c.d.e.f = 1", ['1:1 Field path "attribute.a.b.c.d.e.f" has more than 5 segments']],
    [`attribute.${"x".repeat(491)} = 1`, ["1:1 Field name is longer than 500 characters"]],
    ['orders_count CONTAINS "x"', ["1:14 Operator CONTAINS is not allowed on orders_count (allowed: =, !=, >, >=, <, <=)", '1:23 "x" is not an integer']],
    ['subscribed IN (true)', ["1:12 Operator IN is not allowed on subscribed (allowed: =, !=)"]],
    ["orders_count = 0.5", ["1:16 0.5 is not an integer"]],
    ['orders_count = "3"', ['1:16 "3" is not an integer']],
    ['total_spent = "abc"', ['1:15 "abc" is not a number']],
    ["total_spent = true", ["1:15 true is not a number"]],
    ["province = 3", ["1:12 3 is not a string"]],
    ["province = -90d", ["1:12 -90d is not a string"]],
    ['subscribed = "yes"', ['1:14 "yes" is not a boolean (true or false)']],
    ["subscribed = 1", ["1:14 1 is not a boolean (true or false)"]],
    ["attribute.x = -90d", ["1:15 -90d is not a string, number or boolean"]],
    ['has_identity = "qq"', ['1:16 "qq" is not an allowed value for has_identity (allowed: "wechat_unionid", "PHONE")']],
    ['has_identity IN ("phone", "qq", 3)', ['1:27 "qq" is not an allowed value for has_identity (allowed: "wechat_unionid", "PHONE")', "1:33 3 is not a string"]],
    ['tag CONTAINS 3', ["1:14 CONTAINS takes a string, not 3"]],
    ["attribute.x CONTAINS true", ["1:22 CONTAINS takes a string, not true"]],
    // An unknown field skips the checks that need its spec, but not those that need none.
    ["zzz CONTAINS 3", ['1:1 Unknown field "zzz"', "1:14 CONTAINS takes a string, not 3"]],
    ['zzz CONTAINS "x" WITHIN 1x', ['1:1 Unknown field "zzz"', '1:25 Malformed duration "1x" (expected e.g. 90d, 12m, 2w, 1y)']],
    ['province = "a" WITHIN 90d', ["1:16 WITHIN is not allowed on province (not a windowed field)"]],
    ['province = "a" WITHIN -90d', ["1:16 WITHIN is not allowed on province (not a windowed field)", '1:23 Malformed duration "-90d" (expected e.g. 90d, 12m, 2w, 1y)']],
    ["orders_count > 1 WITHIN 90", ['1:25 Malformed duration "90" (expected e.g. 90d, 12m, 2w, 1y)']],
    ["orders_count > 1 WITHIN 90days", ['1:25 Malformed duration "90days" (expected e.g. 90d, 12m, 2w, 1y)']],
    ["orders_count > 1 WITHIN 123456d", ['1:25 Malformed duration "123456d" (expected e.g. 90d, 12m, 2w, 1y)']],
    ["last_order_at > -90days", ['1:17 Malformed relative date "-90days" (expected e.g. -90d, +7d, -2w, -12m, -1y)']],
    ["last_order_at > -123456d", ['1:17 Malformed relative date "-123456d" (expected e.g. -90d, +7d, -2w, -12m, -1y)']],
    ["last_order_at > 1.5d", ['1:17 Malformed relative date "1.5d" (expected e.g. -90d, +7d, -2w, -12m, -1y)']],
    ["last_order_at > -90D", ['1:17 Malformed relative date "-90D" (expected e.g. -90d, +7d, -2w, -12m, -1y)']],
    ["last_order_at > 5", ["1:17 5 is not a date (YYYY-MM-DD, an ISO timestamp with offset, or a relative date such as -90d)"]],
    [`tag = "${"x".repeat(501)}"`, ["1:7 String is longer than 500 characters"]],
    ["total_spent = 1e999", ["1:15 Number is out of range"]],
    [`total_spent = ${"9".repeat(400)}`, ["1:15 Number is out of range"]],
    // Two lines: "tag = \"a\"" then "AND zzz = 1" (AND at 2:1, zzz at 2:5); CRLF and tabs change nothing but columns.
    ['tag = "a"\nAND zzz = 1', ['2:5 Unknown field "zzz"']],
    ['tag = "a"\r\nAND zzz = 1', ['2:5 Unknown field "zzz"']],
    ['tag = "a\nb" AND\tzzz = 1', ['2:8 Unknown field "zzz"']],
    ['zzz = 1 OR yyy = 2 AND province = 3', ['1:1 Unknown field "zzz"', '1:12 Unknown field "yyy"', "1:35 3 is not a string"]],
  ])("%s", (text, expected) => {
    expect(errs(text)).toEqual(expected);
  });

  it.each(["2026-13-01", "2026-00-10", "2026-02-29", "2026-02-30", "2026-04-31", "2026-1-01", " 2026-01-01", "2026-01-01x", "2026-01-01T10:00:00", "2026-01-01T25:00:00Z", "2026-01-01T10:60Z", "soon"])(
    "refuses %p as a date",
    (s) => {
      expect(errs(`last_order_at = "${s}"`)).toEqual([`1:17 "${s}" is not a date (YYYY-MM-DD, an ISO timestamp with offset, or a relative date such as -90d)`]);
    },
  );

  it("suggests the nearest known name within two edits, the first one on a tie", () => {
    expect(errs("abq = 1", ["abqxy", "abqz"])).toEqual(['1:1 Unknown field "abq" (did you mean "abqz"?)']);
    expect(errs("abq = 1", ["abq_", "abqd"])).toEqual(['1:1 Unknown field "abq" (did you mean "abq_"?)']);
    expect(errs("abq = 1", ["abqxy"])).toEqual(['1:1 Unknown field "abq" (did you mean "abqxy"?)']);
    expect(errs("abq = 1", ["abqxyz", "xbqyz", "x"])).toEqual(['1:1 Unknown field "abq"']);
    expect(errs("abq = 1", ["aq"])).toEqual(['1:1 Unknown field "abq" (did you mean "aq"?)']);
    expect(errs("abq = 1", ["xyq"])).toEqual(['1:1 Unknown field "abq" (did you mean "xyq"?)']);
    expect(errs("abq = 1", ["qba"])).toEqual(['1:1 Unknown field "abq" (did you mean "qba"?)']);
    expect(errs("abq = 1", [])).toEqual(['1:1 Unknown field "abq"']);
    expect(parseSegmentQuery("abq = 1", fields).errors[0].message).toBe('Unknown field "abq"');
  });

  it("refuses an IN list of more than 1000 values at its parenthesis", () => {
    const list = Array.from({ length: 1001 }, () => 1).join(",");
    expect(errs(`total_spent IN (${list})`)).toEqual(["1:16 IN takes at most 1000 values"]);
  });

  it("refuses the 201st comparison, once", () => {
    const n = (count: number) => Array.from({ length: count }, () => 'tag = "a"').join(" OR ");
    expect(parse(n(200)).errors).toEqual([]);
    // Each comparison and its " OR " take 13 columns, so the 201st starts at 200 × 13 + 1.
    expect(errs(n(202))).toEqual(["1:2601 More than 200 comparisons"]);
  });

  it("refuses a query of more than 10,000 characters, at 1:1 and alone", () => {
    const padded = (length: number) => `zzz = 1 --${"x".repeat(length - 10)}`;
    expect(padded(10_000)).toHaveLength(10_000);
    expect(errs(padded(10_000))).toEqual(['1:1 Unknown field "zzz"']);
    expect(errs(padded(10_001))).toEqual(["1:1 Query is longer than 10000 characters"]);
  });

  it("counts nesting, not how many groups there are", () => {
    const many = Array.from({ length: 21 }, () => 'NOT (tag = "a")').join(" AND ");
    expect(ok(many)).toEqual({ all: Array.from({ length: 21 }, () => ({ not: A })) });
  });

  it("passes on what a field table throws", () => {
    expect(() => parseSegmentQuery("tag = 1", () => { throw new Error("table down"); })).toThrow("table down");
  });

  it("refuses nesting deeper than 20 levels of NOT and parentheses, at the 21st", () => {
    expect(ok(`${"NOT ".repeat(20)}tag = "a"`)).toBeDefined();
    expect(ok(`${"(".repeat(20)}tag = "a"${")".repeat(20)}`)).toEqual(A);
    // The 21st NOT starts after 20 × 4 columns; the 21st parenthesis after 20 × 1 and 10 × 4.
    expect(errs(`${"NOT ".repeat(21)}tag = "a"`)).toEqual(["1:81 Nesting deeper than 20 levels"]);
    expect(errs(`${"NOT ".repeat(10)}${"(".repeat(11)}tag = "a"${")".repeat(11)}`)).toEqual(["1:51 Nesting deeper than 20 levels"]);
    expect(errs(`zzz = 1 AND ${"(".repeat(21)}`)).toEqual(['1:1 Unknown field "zzz"', "1:33 Nesting deeper than 20 levels"]);
  });

  it("refuses a tree deeper than 20 levels that the text nests less deeply, at the node's first token", () => {
    // any (1) > all (2) > 20 NOTs (3 to 22): the 19th NOT is level 21; the NOTs start at column 28, 4 apart.
    expect(errs(`tag = "a" OR tag = "b" AND ${"NOT ".repeat(20)}tag = "c"`)).toEqual(["1:100 Nesting deeper than 20 levels"]);
    // any (1) > 18 NOTs (2 to 19) > any (20) > all (21), which starts at its first comparison: the NOTs
    // take columns 14 to 85, "(" is 86, `tag = "b" OR ` 87 to 99, "(" 100 and the all's `tag` 101.
    expect(errs(`tag = "a" OR ${"NOT ".repeat(18)}(tag = "b" OR (tag = "c" AND tag = "d"))`)).toEqual(["1:101 Nesting deeper than 20 levels"]);
    // The same any (20) as the deepest node is fine.
    expect(ok(`tag = "a" OR ${"NOT ".repeat(18)}(tag = "b" OR tag = "c")`)).toBeDefined();
  });
});

describe("segment query text: syntax errors stop the parse", () => {
  it.each<[string, string]>([
    ["", "1:1 Unexpected end of query: expected a field name"],
    ["  \n  -- nothing", "2:13 Unexpected end of query: expected a field name"],
    ["tag =\n", "2:1 Unexpected end of query: expected a value after \"=\""],
    ["tag = -- x", '1:11 Unexpected end of query: expected a value after "="'],
    ["orders_count >=", '1:16 Unexpected end of query: expected a value after ">="'],
    ['orders_count >= AND tag = "a"', '1:17 Expected a value after ">=", found AND'],
    ["orders_count >= orders_count", '1:17 Expected a value after ">=", found orders_count'],
    ["orders_count 3", "1:14 Expected an operator after orders_count, found 3"],
    ["orders_count", "1:13 Unexpected end of query: expected an operator after orders_count"],
    ['tag == "a"', '1:6 Expected a value after "=", found "="'],
    ['tag NOT IN ("a")', "1:5 Expected an operator after tag, found NOT"],
    ['tag = "a" AND', "1:14 Unexpected end of query: expected a field name"],
    ['tag = "a" AND NOT', "1:18 Unexpected end of query: expected a field name"],
    ['AND tag = "a"', "1:1 Expected a field name, found AND"],
    ['true = "a"', "1:1 Expected a field name, found true"],
    ['within = "a"', "1:1 Expected a field name, found within"],
    ["OR = 1", "1:1 Expected a field name, found OR"],
    ['in ("a")', "1:1 Expected a field name, found in"],
    ['contains "a"', "1:1 Expected a field name, found contains"],
    ["false = 1", "1:1 Expected a field name, found false"],
    ['not = "a"', '1:5 Expected a field name, found "="'],
    ['"tag" = "a"', '1:1 Expected a field name, found "tag"'],
    ["3 = x", "1:1 Expected a field name, found 3"],
    [') tag = "a"', '1:1 Expected a field name, found ")"'],
    ['(tag = "a"', '1:11 Unexpected end of query: expected ")"'],
    ['(tag = "a" tag', '1:12 Expected ")", found tag'],
    ['tag = "a")', '1:10 Expected AND, OR or the end of the query, found ")"'],
    ['tag = "a" tag = "b"', "1:11 Expected AND, OR or the end of the query, found tag"],
    ["orders_count > 3 WITHIN 90d 5", "1:29 Expected AND, OR or the end of the query, found 5"],
    ['tag IN "a"', '1:8 Expected "(" after IN, found "a"'],
    ["tag IN", '1:7 Unexpected end of query: expected "(" after IN'],
    ["tag IN ()", '1:9 Expected a value after "(", found ")"'],
    ['tag IN ("a",)', '1:13 Expected a value after ",", found ")"'],
    ['tag IN ("a" "b")', '1:13 Expected "," or ")", found "b"'],
    ['tag IN ("a"', '1:12 Unexpected end of query: expected "," or ")"'],
    ["tag CONTAINS", "1:13 Unexpected end of query: expected a value after CONTAINS"],
    ["tag contains )", '1:14 Expected a value after contains, found ")"'],
    ["orders_count > 3 WITHIN", "1:24 Unexpected end of query: expected a duration after WITHIN"],
    ['orders_count > 3 WITHIN "90d"', '1:25 Expected a duration after WITHIN, found "90d"'],
    ["tag = 'abc", "1:7 Unterminated string"],
    ['tag = "a\nb', "1:7 Unterminated string"],
    ['tag = "abc\\', "1:7 Unterminated string"],
    ['tag = "a\\x"', '1:9 Unknown escape "\\x"'],
    ['tag = "a\nb\\q"', '2:2 Unknown escape "\\q"'],
    ['tag = "a" # x', '1:11 Unexpected character "#"'],
    ["tag ! 1", '1:5 Unexpected character "!"'],
    ["total_spent = - 3", '1:15 Unexpected character "-"'],
    ["orders_count = 1.", '1:17 Unexpected character "."'],
    ["tag = 😀", '1:7 Unexpected character "😀"'],
    ['tag = "a" AND 你好 = 1', '1:15 Unexpected character "你"'],
  ])("%p", (text, expected) => {
    expect(errs(text)).toEqual([expected]);
  });

  it("keeps the semantic errors found before the syntax error and none after it", () => {
    expect(errs('zzz = 1 AND tag = 3 #')).toEqual(['1:1 Unknown field "zzz"', "1:19 3 is not a string", '1:21 Unexpected character "#"']);
    expect(errs("zzz = 1 AND AND yyy = 1")).toEqual(['1:1 Unknown field "zzz"', "1:13 Expected a field name, found AND"]);
  });
});

describe("segment query printer", () => {
  it.each<[Condition, string]>([
    [{ any: [A, { all: [B, C] }] }, 'tag = "a" OR tag = "b" AND tag = "c"'],
    [{ all: [{ any: [A, B] }, C] }, '(tag = "a" OR tag = "b") AND tag = "c"'],
    [{ not: { all: [A, B] } }, 'NOT (tag = "a" AND tag = "b")'],
    [{ not: { any: [A, B] } }, 'NOT (tag = "a" OR tag = "b")'],
    [{ not: { not: A } }, 'NOT NOT tag = "a"'],
    [{ all: [{ not: A }, B] }, 'NOT tag = "a" AND tag = "b"'],
    [{ any: [{ not: A }, B] }, 'NOT tag = "a" OR tag = "b"'],
    // Not canonical: groups of one kind print merged and single children stand alone, with their own binding.
    [{ any: [A, { any: [B, C] }] }, 'tag = "a" OR tag = "b" OR tag = "c"'],
    [{ all: [{ all: [A, B] }, C] }, 'tag = "a" AND tag = "b" AND tag = "c"'],
    [{ all: [A] }, 'tag = "a"'],
    [{ all: [A, { all: [{ any: [B, C] }] }] }, 'tag = "a" AND (tag = "b" OR tag = "c")'],
    [{ not: { any: [{ all: [A, B] }] } }, 'NOT (tag = "a" AND tag = "b")'],
    [{ any: [{ all: [{ any: [A, B] }] }, C] }, 'tag = "a" OR tag = "b" OR tag = "c"'],
    [cmp("tag", "=", 'a"b\\c'), 'tag = "a\\"b\\\\c"'],
    [cmp("tag", "IN", ["浙江", "上海"]), 'tag IN ("浙江", "上海")'],
    [cmp("tag", "CONTAINS", "v"), 'tag CONTAINS "v"'],
    [cmp("subscribed", "!=", false), "subscribed != false"],
    [cmp("last_order_at", "<=", { relative: "+7d" }), "last_order_at <= +7d"],
    [cmp("orders_count", ">=", 3, "90d"), "orders_count >= 3 WITHIN 90d"],
    [cmp("total_spent", "<", -0.5), "total_spent < -0.5"],
    [cmp("total_spent", "<", 1e-7), "total_spent < 1e-7"],
  ])("prints %j", (tree, text) => {
    expect(printSegmentQuery(tree)).toBe(text);
  });

  it("prints lower-case input in capitals", () => {
    expect(printSegmentQuery(ok("tag in ('a') and not subscribed = TRUE or orders_count > 1 within 2w"))).toBe(
      'tag IN ("a") AND NOT subscribed = true OR orders_count > 1 WITHIN 2w',
    );
  });

  it("refuses an empty all or any, which has no text form", () => {
    expect(() => printSegmentQuery({ all: [] })).toThrow("An empty all has no text form");
    expect(() => printSegmentQuery({ any: [A, { any: [] }] })).toThrow("An empty any has no text form");
  });
});

describe("segment condition JSON", () => {
  it("returns a normalized copy of a valid tree", () => {
    const input = { all: [{ field: "has_identity", op: "IN", value: ["phone"] }, { not: { field: "orders_count", op: ">", value: 2, within: "30d" } }] };
    const r = check(input);
    expect(r).toEqual({ condition: { all: [cmp("has_identity", "IN", ["PHONE"]), { not: cmp("orders_count", ">", 2, "30d") }] }, errors: [] });
    expect(r.condition).not.toBe(input);
    expect(input.all[0].value).toEqual(["phone"]);
    expect(check({ field: "last_order_at", op: ">", value: { relative: "-90d" } }).condition).toEqual(cmp("last_order_at", ">", { relative: "-90d" }));
    expect(Object.is((check({ field: "total_spent", op: "=", value: -0 }).condition as Comparison).value, 0)).toBe(true);
  });

  it("replaces a single-child all/any by its child and merges groups of one kind", () => {
    expect(check({ all: [{ any: [A] }] }).condition).toEqual(A);
    expect(check({ all: [A, { all: [B, C] }] }).condition).toEqual({ all: [A, B, C] });
    expect(check({ any: [{ any: [A, B] }, { all: [C] }, { all: [D, A] }] }).condition).toEqual({ any: [A, B, C, { all: [D, A] }] });
    expect(check({ not: { all: [A] } }).condition).toEqual({ not: A });
  });

  it("writes no within key when there is none", () => {
    expect(Object.keys(check({ field: "tag", op: "=", value: "a" }).condition!)).toEqual(["field", "op", "value"]);
  });

  it("takes field names of lower-case letters, digits and _ only, whatever the table answers", () => {
    const anything = () => TABLE[3];
    expect(checkCondition({ field: "tag", op: "=", value: "a" }, anything).errors).toEqual([]);
    expect(checkCondition({ field: "Tag", op: "=", value: "a" }, anything).errors).toEqual([{ path: "condition.field", message: 'Unknown field "Tag"' }]);
    expect(checkCondition({ field: "tag!", op: "=", value: "a" }, anything).errors).toEqual([{ path: "condition.field", message: 'Unknown field "tag!"' }]);
    expect(parseSegmentQuery('Tag = "a"', anything).errors).toEqual([{ line: 1, column: 1, message: 'Unknown field "Tag"' }]);
  });

  it("finds a prefix field through a table that answers for the name as written", () => {
    expect(checkCondition(cmp("attribute.level", "=", 3), registryStyle).condition).toEqual(cmp("attribute.level", "=", 3));
  });

  it.each<[unknown, string[]]>([
    [null, ["condition Expected an object with all, any, not or field"]],
    [[A], ["condition Expected an object with all, any, not or field"]],
    ["tag = 1", ["condition Expected an object with all, any, not or field"]],
    [{ all: [A, 3] }, ["condition.all[1] Expected an object with all, any, not or field"]],
    [{}, ["condition.field Expected a field name", "condition.op Expected an operator", "condition.value Expected a value"]],
    [{ all: [A], foo: 1 }, ['condition.foo Unknown key "foo"']],
    [{ all: [A], any: [B] }, ['condition.any Unknown key "any"']],
    [{ not: A, field: "tag" }, ['condition.field Unknown key "field"']],
    [{ ...A, x: 1 }, ['condition.x Unknown key "x"']],
    [{ all: "x" }, ["condition.all Expected a list of conditions"]],
    [{ any: [] }, ["condition.any Expected at least one condition"]],
    [{ all: [] }, ["condition.all Expected at least one condition"]],
    [{ not: { field: "tag", op: "=" } }, ["condition.not.value Expected a value"]],
    [{ any: [A, { not: { field: "tag", value: "a" } }] }, ["condition.any[1].not.op Expected an operator"]],
    [{ all: [A, { field: "tag", op: "=", value: 3 }] }, ["condition.all[1].value 3 is not a string"]],
    [{ field: 3, op: "=", value: 1 }, ["condition.field Expected a field name"]],
    [{ field: "order_count", op: "CONTAINS", value: 1 }, ['condition.field Unknown field "order_count" (did you mean "orders_count"?)', "condition.value CONTAINS takes a string, not 1"]],
    [{ field: "attribute", op: "=", value: 1 }, ["condition.field Field attribute needs a path, e.g. attribute.name"]],
    [{ field: "tag.x", op: "=", value: "a" }, ["condition.field Field tag has no path"]],
    [{ field: "attribute.a.b.c.d.e.f", op: "=", value: 1 }, ['condition.field Field path "attribute.a.b.c.d.e.f" has more than 5 segments']],
    [{ field: "attribute.a-b", op: "=", value: 1 }, ['condition.field Malformed field name "attribute.a-b"']],
    [{ field: "attribute.", op: "=", value: 1 }, ['condition.field Malformed field name "attribute."']],
    [{ field: "attribute.x..y", op: "=", value: 1 }, ['condition.field Malformed field name "attribute.x..y"']],
    [{ field: `attribute.${"x".repeat(491)}`, op: "=", value: 1 }, ["condition.field Field name is longer than 500 characters"]],
    [{ field: "tag", op: "==", value: "a" }, ['condition.op Unknown operator "==" (expected one of =, !=, >, >=, <, <=, IN, CONTAINS)']],
    [{ field: "tag", op: "in", value: ["a"] }, ['condition.op Unknown operator "in" (expected one of =, !=, >, >=, <, <=, IN, CONTAINS)', "condition.value Expected a single value, not a list"]],
    [{ field: "orders_count", op: "CONTAINS", value: "x" }, ["condition.op Operator CONTAINS is not allowed on orders_count (allowed: =, !=, >, >=, <, <=)", 'condition.value "x" is not an integer']],
    [{ field: "tag", op: "=", value: ["a"] }, ["condition.value Expected a single value, not a list"]],
    [{ field: "tag", op: "=", value: null }, ["condition.value Expected a string, number, boolean or {relative}"]],
    [{ field: "tag", op: "=", value: { text: "a" } }, ["condition.value Expected a string, number, boolean or {relative}"]],
    [{ field: "last_order_at", op: "=", value: { relative: 5 } }, ["condition.value Expected a string, number, boolean or {relative}"]],
    [{ field: "last_order_at", op: "=", value: { relative: "90 days" } }, ['condition.value Malformed relative date "90 days" (expected e.g. -90d, +7d, -2w, -12m, -1y)']],
    [{ field: "last_order_at", op: "=", value: { relative: "-1d", tz: "UTC" } }, ['condition.value.tz Unknown key "tz"']],
    [{ field: "last_order_at", op: "=", value: "2026-02-30" }, ['condition.value "2026-02-30" is not a date (YYYY-MM-DD, an ISO timestamp with offset, or a relative date such as -90d)']],
    [{ field: "orders_count", op: "=", value: "3" }, ['condition.value "3" is not an integer']],
    [{ field: "total_spent", op: "=", value: Number.NaN }, ["condition.value Number is out of range"]],
    [{ field: "total_spent", op: "=", value: Number.POSITIVE_INFINITY }, ["condition.value Number is out of range"]],
    [{ field: "subscribed", op: "=", value: "true" }, ['condition.value "true" is not a boolean (true or false)']],
    [{ field: "tag", op: "=", value: "x".repeat(501) }, ["condition.value String is longer than 500 characters"]],
    [{ field: "has_identity", op: "=", value: "qq" }, ['condition.value "qq" is not an allowed value for has_identity (allowed: "wechat_unionid", "PHONE")']],
    [{ field: "tag", op: "IN", value: "a" }, ["condition.value Expected a list of values for IN"]],
    [{ field: "tag", op: "IN", value: [] }, ["condition.value Expected at least one value for IN"]],
    [{ field: "tag", op: "IN", value: Array.from({ length: 1001 }, () => "a") }, ["condition.value IN takes at most 1000 values"]],
    [{ field: "tag", op: "IN", value: ["a", 2, ["c"], "d", undefined] }, ["condition.value[1] 2 is not a string", "condition.value[2] Expected a single value, not a list", "condition.value[4] Expected a value"]],
    [{ field: "province", op: "=", value: "a", within: "90d" }, ["condition.within WITHIN is not allowed on province (not a windowed field)"]],
    [{ field: "orders_count", op: "=", value: 1, within: "-90d" }, ['condition.within Malformed duration "-90d" (expected e.g. 90d, 12m, 2w, 1y)']],
    [{ field: "orders_count", op: "=", value: 1, within: 90 }, ["condition.within Malformed duration 90 (expected e.g. 90d, 12m, 2w, 1y)"]],
    [{ field: "orders_count", op: "=", value: 1, within: ["90d"] }, ['condition.within Malformed duration ["90d"] (expected e.g. 90d, 12m, 2w, 1y)']],
    [{ field: "province", op: "=", value: "a", within: null }, ["condition.within WITHIN is not allowed on province (not a windowed field)", "condition.within Malformed duration null (expected e.g. 90d, 12m, 2w, 1y)"]],
    [{ field: "zzz", op: "=", value: 1, within: "90d" }, ['condition.field Unknown field "zzz"']],
  ])("%j", (json, expected) => {
    expect(checkErrs(json)).toEqual(expected);
  });

  it("accepts an IN list of 1000 values", () => {
    const value = Array.from({ length: 1000 }, () => "a");
    expect(check({ field: "tag", op: "IN", value }).condition).toEqual(cmp("tag", "IN", value));
  });

  it("refuses nesting deeper than 20 levels, at the 21st", () => {
    const nots = (n: number): unknown => (n === 0 ? A : { not: nots(n - 1) });
    expect(check(nots(20)).errors).toEqual([]);
    expect(checkErrs(nots(21))).toEqual([`condition${".not".repeat(20)} Nesting deeper than 20 levels`]);
    const alls = (n: number): unknown => (n === 0 ? A : { all: [B, { any: [C, alls(n - 1)] }] });
    expect(check(alls(10)).errors).toEqual([]);
    expect(checkErrs(alls(11))).toEqual([`condition${".all[1].any[1]".repeat(10)} Nesting deeper than 20 levels`]);
  });

  it("refuses the 201st comparison, once", () => {
    const any = (n: number) => ({ any: Array.from({ length: n }, () => A) });
    expect(check(any(200)).errors).toEqual([]);
    expect(checkErrs(any(202))).toEqual(["condition.any[200] More than 200 comparisons"]);
  });

  it("suggests a known name for an unknown field only when given names", () => {
    expect(checkCondition({ field: "tags", op: "=", value: "a" }, fields).errors).toEqual([{ path: "condition.field", message: 'Unknown field "tags"' }]);
    expect(checkCondition({ field: "tags", op: "=", value: "a" }, fields, ["tag"]).errors).toEqual([{ path: "condition.field", message: 'Unknown field "tags" (did you mean "tag"?)' }]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties over random trees of the table's fields

const segment = fc.stringMatching(/^[A-Za-z0-9_]{1,6}$/);
const number = fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (n === 0 ? 0 : n));
const relative = fc.tuple(fc.constantFrom("", "+", "-"), fc.integer({ min: 0, max: 99_999 }), fc.constantFrom("d", "w", "m", "y")).map(([s, n, u]) => ({ relative: `${s}${n}${u}` }));
const duration = fc.tuple(fc.integer({ min: 0, max: 99_999 }), fc.constantFrom("d", "w", "m", "y")).map(([n, u]) => `${n}${u}`);
const text = fc.string({ unit: "binary", maxLength: 12 });
const day = fc.date({ min: new Date("1900-01-01T00:00:00Z"), max: new Date("2999-12-31T23:59:59Z"), noInvalidDate: true });
const dateValue = fc.oneof(relative, day.map((d) => d.toISOString().slice(0, 10)), day.map((d) => d.toISOString()));

/** A comparison the table accepts: the operator allowed, the value (each, for IN) of the field's kind. */
function comparisonOf(field: fc.Arbitrary<string>, ops: readonly Operator[], value: fc.Arbitrary<Scalar>, within?: fc.Arbitrary<string>): fc.Arbitrary<Condition> {
  return fc.record({ field, op: fc.constantFrom(...ops), within: within ? fc.option(within, { nil: undefined }) : fc.constant(undefined) }).chain(({ field, op, within }) =>
    (op === "IN" ? fc.array(value, { minLength: 1, maxLength: 4 }) : value).map((v) => cmp(field, op, v, within)),
  );
}
const comparison = fc.oneof(
  comparisonOf(fc.constant("orders_count"), NUMERIC, fc.integer(), duration),
  comparisonOf(fc.constant("total_spent"), [...NUMERIC, "IN"], number, duration),
  comparisonOf(fc.constantFrom("province", "tag"), ["=", "!=", "IN", "CONTAINS"], text),
  comparisonOf(fc.constant("has_identity"), ["=", "!=", "IN"], fc.constantFrom("wechat_unionid", "PHONE")),
  comparisonOf(fc.constant("subscribed"), ["=", "!="], fc.boolean()),
  comparisonOf(fc.constant("last_order_at"), [...NUMERIC, "IN"], dateValue),
  comparisonOf(fc.array(segment, { minLength: 1, maxLength: 5 }).map((p) => `attribute.${p.join(".")}`), ["=", "!=", ">", "IN"], fc.oneof(text, number, fc.boolean())),
  comparisonOf(fc.array(segment, { minLength: 1, maxLength: 5 }).map((p) => `attribute.${p.join(".")}`), ["CONTAINS"], text),
);

/** Canonical trees: no all directly in an all, no any in an any, two or more children each. */
const canonical = fc.letrec<{ node: Condition; all: Condition; any: Condition; not: Condition }>((tie) => ({
  node: fc.oneof({ maxDepth: 4, depthSize: "small" }, comparison, tie("all"), tie("any"), tie("not")),
  all: fc.array(tie("node"), { minLength: 2, maxLength: 3 }).map((parts) => ({ all: parts.flatMap((p) => ("all" in p ? p.all : [p])) })),
  any: fc.array(tie("node"), { minLength: 2, maxLength: 3 }).map((parts) => ({ any: parts.flatMap((p) => ("any" in p ? p.any : [p])) })),
  not: tie("node").map((c) => ({ not: c })),
})).node;

/** Any tree, including groups of one kind nested and single children. */
const loose = fc.letrec<{ node: Condition }>((tie) => ({
  node: fc.oneof(
    { maxDepth: 4, depthSize: "small" },
    comparison,
    fc.array(tie("node"), { minLength: 1, maxLength: 3 }).map((all) => ({ all })),
    fc.array(tie("node"), { minLength: 1, maxLength: 3 }).map((any) => ({ any })),
    tie("node").map((not) => ({ not })),
  ),
})).node;

describe("segment query properties", () => {
  it("parses the printed text of a canonical tree back to the same tree", () => {
    fc.assert(
      fc.property(canonical, (tree) => {
        expect(parse(printSegmentQuery(tree))).toEqual({ condition: tree, errors: [] });
      }),
      { numRuns: 500 },
    );
  });

  it("accepts a canonical tree as JSON unchanged", () => {
    fc.assert(
      fc.property(canonical, (tree) => {
        expect(check(tree)).toEqual({ condition: tree, errors: [] });
      }),
      { numRuns: 300 },
    );
  });

  it("parses the printed text of any tree to the checker's normal form of it", () => {
    fc.assert(
      fc.property(loose, (tree) => {
        const normal = check(tree).condition!;
        expect(parse(printSegmentQuery(tree)).condition).toEqual(normal);
        expect(printSegmentQuery(normal)).toBe(printSegmentQuery(tree));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on arbitrary text, and what it accepts the JSON checker accepts", () => {
    const noise = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.array(fc.constantFrom("tag", "orders_count", "attribute.x", "=", ">=", "IN", "(", ")", ",", "AND", "OR", "NOT", '"a"', "3", "-90d", "WITHIN", "90d", "true", "--", "\n"), { maxLength: 14 }).map((t) => t.join(" ")),
    );
    fc.assert(
      fc.property(noise, (input) => {
        const r = parse(input);
        expect(r.condition === null).toBe(r.errors.length > 0);
        for (const e of r.errors) expect(e.line >= 1 && e.column >= 1).toBe(true);
        if (r.condition) expect(check(r.condition)).toEqual({ condition: r.condition, errors: [] });
      }),
      { numRuns: 500 },
    );
  });

  it("exposes its limits", () => {
    expect(SEGMENT_QUERY_LIMITS).toEqual({ text: 10_000, depth: 20, comparisons: 200, string: 500, list: 1000, path: 5 });
  });
});
