import { countedOrdersOfSql, netTotalSql, orderTimeSql } from "../orders";
import { hasIdentitySql } from "../customers";
import { identityTypes } from "../../plugins/identity";
import type { Comparison, Operator } from "./condition";
import { compareDate, compareScalar, hasRelative, list, windowStart, type CompileScope, type SegmentConditionDefinition, type SegmentConditions } from "./registry";

const NUMERIC: readonly Operator[] = ["=", "!=", ">", ">=", "<", "<=", "IN"];
const DATE: readonly Operator[] = ["=", "!=", ">", ">=", "<", "<="];
const TEXT: readonly Operator[] = ["=", "!=", "IN", "CONTAINS"];
const CHOICE: readonly Operator[] = ["=", "!=", "IN"];

/**
 * The counted orders of `c` (those the stats count), optionally only since the comparison's window:
 * a correlated subquery on orders_customer_sort_idx.
 */
function ordersOf(c: Comparison, scope: CompileScope, extra = "true"): string {
  const since = c.within ? `${orderTimeSql("o")} >= ${windowStart(c.within, scope)}` : "true";
  return countedOrdersOfSql("o", "c", scope.tenant, `${since} AND (${extra})`);
}

/** A boolean fact about orders: "bought X" is = / IN; != and NOT IN mean "never bought X" (in the window). */
function orderFact(c: Comparison, scope: CompileScope, match: (value: unknown, contains: boolean) => string): string {
  const values = list(c.value);
  const any = c.op === "CONTAINS" ? match(values[0], true) : values.map((v) => match(v, false)).join(" OR ");
  const exists = `EXISTS (SELECT 1 ${ordersOf(c, scope, any)})`;
  return c.op === "!=" ? `NOT ${exists}` : exists;
}

const windowed = (c: Comparison) => Boolean(c.within) || hasRelative(c.value);
const relative = (c: Comparison) => hasRelative(c.value);

function aggregate(name: string, description: string, all: (c: Comparison) => string, inWindow: string): SegmentConditionDefinition {
  return {
    name,
    description,
    kind: "integer",
    operators: NUMERIC,
    windowed: true,
    timeBased: windowed,
    compile: (c, scope) => compareScalar(c.within ? `(SELECT ${inWindow} ${ordersOf(c, scope)})` : all(c), c, scope, "numeric"),
  };
}

/** Conditions on what the customers and orders modules hold; registered like any module's. */
export function registerBuiltinConditions(registry: SegmentConditions): void {
  registry.register(aggregate("orders_count", "Counted orders (paid or completed, in the tenant currency, not fully refunded).", () => "coalesce(s.orders_count, 0)", "count(*)"));
  registry.register(aggregate("total_spent", "What the counted orders brought, less refunds, in minor units.", () => "coalesce(s.total_spent, 0)", `coalesce(sum(${netTotalSql("o")}), 0)`));
  registry.register(
    aggregate(
      "average_order_value",
      "total_spent / orders_count, rounded; 0 without orders.",
      () => "CASE WHEN s.orders_count > 0 THEN round(s.total_spent::numeric / s.orders_count) ELSE 0 END",
      `coalesce(round(avg(${netTotalSql("o")})), 0)`,
    ),
  );
  for (const [name, column, what] of [
    ["first_order_at", "s.first_order_at", "first"],
    ["last_order_at", "s.last_order_at", "last"],
  ] as const) {
    registry.register({
      name,
      description: `When the ${what} counted order was placed; customers without orders match no comparison (NOT matches them).`,
      kind: "date",
      operators: DATE,
      timeBased: relative,
      compile: (c, scope) => compareDate(column, c, scope),
    });
  }
  registry.register({
    name: "days_since_last_order",
    description: "Whole days from the last counted order's local day to today (tenant time zone); customers without orders never match.",
    kind: "integer",
    operators: NUMERIC,
    timeBased: () => true,
    compile: (c, scope) =>
      compareScalar(`((${scope.now} AT TIME ZONE ${scope.timeZone})::date - (s.last_order_at AT TIME ZONE ${scope.timeZone})::date)`, c, scope, "numeric"),
  });
  registry.register({
    name: "age",
    description: "This year (tenant time zone) less the birth year — how cohorts (90后, 00后) are counted; customers without a birthday never match.",
    kind: "integer",
    operators: NUMERIC,
    timeBased: () => true,
    compile: (c, scope) => compareScalar(`(extract(year FROM ${scope.now} AT TIME ZONE ${scope.timeZone})::int - c.birth_year)`, c, scope, "numeric"),
  });
  registry.register({
    name: "gender",
    description: "MALE, FEMALE or UNKNOWN.",
    kind: "string",
    operators: CHOICE,
    values: ["MALE", "FEMALE", "UNKNOWN"],
    compile: (c, scope) => compareScalar("c.gender", c, scope, "text"),
  });
  registry.register({
    name: "country",
    description: "ISO 3166-1 alpha-2 code (CN).",
    kind: "string",
    operators: TEXT,
    compile: (c, scope) => compareScalar("upper(c.country)", { ...c, value: Array.isArray(c.value) ? c.value.map((v) => String(v).toUpperCase()) : String(c.value).toUpperCase() }, scope, "text"),
  });
  for (const name of ["province", "city"] as const) {
    registry.register({ name, description: `The ${name} as the channels sent it (浙江, 杭州).`, kind: "string", operators: TEXT, compile: (c, scope) => compareScalar(`c.${name}`, c, scope, "text") });
  }
  registry.register({
    name: "tag",
    description: '`tag = "vip"`: has the tag; IN: has any of them; != : has not; CONTAINS: a tag contains the text.',
    kind: "string",
    operators: TEXT,
    compile: (c, scope) => {
      if (c.op === "IN") return `c.tags && ${scope.param(list(c.value).map(String), "text[]")}`;
      if (c.op === "CONTAINS") return `EXISTS (SELECT 1 FROM unnest(c.tags) t WHERE strpos(t, ${scope.param(String(c.value), "text")}) > 0)`;
      const has = `c.tags @> ARRAY[${scope.param(String(c.value), "text")}]`;
      return c.op === "!=" ? `NOT (${has})` : has;
    },
  });
  registry.register({
    name: "attribute",
    description: "`attribute.<path>`: a value in the free-form attributes (numbers compare as numbers, strings as text; CONTAINS: substring or list element).",
    kind: "any",
    prefix: true,
    operators: ["=", "!=", ">", ">=", "<", "<=", "IN", "CONTAINS"],
    compile: (c, scope) => {
      const path = scope.param(c.field.split(".").slice(1), "text[]");
      const json = `(c.attributes #> ${path})`;
      const one = (v: unknown, op: string): string => {
        if (op === "CONTAINS") {
          const p = scope.param(String(v), "text");
          return `CASE jsonb_typeof(${json}) WHEN 'array' THEN ${json} @> jsonb_build_array(${p}) WHEN 'string' THEN strpos(${json} #>> '{}', ${p}) > 0 ELSE false END`;
        }
        const sqlOp = op === "!=" ? "<>" : op;
        if (typeof v === "number") return `CASE WHEN jsonb_typeof(${json}) = 'number' THEN (${json} #>> '{}')::numeric ${sqlOp} ${scope.param(v, "numeric")} END`;
        if (typeof v === "boolean") return `CASE WHEN jsonb_typeof(${json}) = 'boolean' THEN (${json} #>> '{}')::boolean ${sqlOp} ${scope.param(v, "boolean")} END`;
        return `CASE WHEN jsonb_typeof(${json}) = 'string' THEN (${json} #>> '{}') ${sqlOp} ${scope.param(String(v), "text")} END`;
      };
      if (c.op === "IN") return `(${list(c.value).map((v) => one(v, "=")).join(" OR ")})`;
      return one(c.value, c.op);
    },
  });
  registry.register({
    name: "has_identity",
    description: 'Has an identity of the type (`has_identity = "wechat_unionid"`, types as in the API, either case).',
    kind: "string",
    operators: CHOICE,
    dynamicValues: () => identityTypes(),
    compile: (c, scope) => {
      const exists = hasIdentitySql("c", scope.tenant, scope.param(list(c.value).map(String), "text[]"));
      return c.op === "!=" ? `NOT ${exists}` : exists;
    },
  });
  registry.register({
    name: "consent",
    description: '`consent = "MARKETING"`: has granted it (on any channel, for marketing) and not withdrawn it.',
    kind: "string",
    operators: CHOICE,
    values: ["MARKETING", "SENSITIVE_DATA", "CROSS_BORDER_TRANSFER"],
    compile: (c, scope) => {
      const exists = `EXISTS (SELECT 1 FROM jsonb_array_elements(c.marketing_consent) k
        WHERE coalesce(k->>'purpose', 'MARKETING') = ANY(${scope.param(list(c.value).map(String), "text[]")}) AND (k->>'granted')::boolean)`;
      return c.op === "!=" ? `NOT ${exists}` : exists;
    },
  });
  registry.register({
    name: "channel",
    description: "Has a counted order on the channel (youzan, taobao, pos…), optionally WITHIN a window; != : none there.",
    kind: "string",
    operators: TEXT,
    windowed: true,
    timeBased: windowed,
    compile: (c, scope) => orderFact(c, scope, (v, contains) => (contains ? `strpos(o.channel, ${scope.param(v, "text")}) > 0` : `o.channel = ${scope.param(v, "text")}`)),
  });
  registry.register({
    name: "store",
    description: "Has a counted order in the store (the channel's store id), optionally WITHIN a window.",
    kind: "string",
    operators: TEXT,
    windowed: true,
    timeBased: windowed,
    compile: (c, scope) => orderFact(c, scope, (v, contains) => (contains ? `strpos(o.store_id, ${scope.param(v, "text")}) > 0` : `o.store_id = ${scope.param(v, "text")}`)),
  });
  for (const [name, key] of [
    ["sku", "sku"],
    ["category", "category"],
  ] as const) {
    registry.register({
      name,
      description: `Bought a line of this ${name} in a counted order, optionally WITHIN a window; CONTAINS matches part of it.`,
      kind: "string",
      operators: TEXT,
      windowed: true,
      timeBased: windowed,
      compile: (c, scope) =>
        orderFact(c, scope, (v, contains) =>
          contains
            ? `EXISTS (SELECT 1 FROM jsonb_array_elements(o.items) it WHERE strpos(it->>'${key}', ${scope.param(v, "text")}) > 0)`
            : `o.items @> jsonb_build_array(jsonb_build_object('${key}', ${scope.param(v, "text")}))`,
        ),
    });
  }
  registry.register({
    name: "in_segment",
    description: "Is a member of another segment (its id); a rule segment's condition is evaluated in place.",
    kind: "string",
    operators: CHOICE,
    compile: (c, scope) => {
      const any = list(c.value).map((v) => scope.inSegment(String(v)));
      const expr = any.length === 1 ? any[0] : `(${any.join(" OR ")})`;
      return c.op === "!=" ? `NOT ${expr}` : expr;
    },
  });
}
