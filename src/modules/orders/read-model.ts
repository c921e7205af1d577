import { tenantCurrencySql } from "../tenancy";

/**
 * SQL fragments other modules' set-based reads use over orders (segments' conditions, insights), so
 * what an order "counts" as stays this module's definition — the one the stats use.
 */

/** When an order happened: placed, else paid, else completed (the stats' first/last order time). */
export function orderTimeSql(alias: string): string {
  return `coalesce(${alias}.placed_at, ${alias}.paid_at, ${alias}.completed_at)`;
}

/**
 * An order that counts for the stats: in the tenant's currency, paid or completed, not fully refunded
 * (`tenantParam`: the placeholder holding the tenant id, e.g. `"$1"`).
 */
export function countedOrderSql(alias: string, tenantParam: string): string {
  return `${alias}.tenant_id = ${tenantParam} AND ${alias}.currency = ${tenantCurrencySql(tenantParam)}
    AND (${alias}.paid_at IS NOT NULL OR ${alias}.completed_at IS NOT NULL) AND ${alias}.refunded < ${alias}.total`;
}

/** What a counted order brought: its total less its refunds. */
export function netTotalSql(alias: string): string {
  return `(${alias}.total - ${alias}.refunded)`;
}

/** Each customer's stats row as `statsAlias` beside `customerAlias` (NULLs for customers without counted orders). */
export function joinCustomerStatsSql(customerAlias: string, statsAlias: string, tenantParam: string): string {
  return `LEFT JOIN customer_stats ${statsAlias} ON ${statsAlias}.customer_id = ${customerAlias}.id AND ${statsAlias}.tenant_id = ${tenantParam}`;
}

/**
 * `FROM … WHERE …` over the counted orders of `customerAlias`, as `alias`, for a correlated subquery
 * (`SELECT count(*) ${countedOrdersOfSql(…)}`); `extra` narrows them further.
 */
export function countedOrdersOfSql(alias: string, customerAlias: string, tenantParam: string, extra = "true"): string {
  return `FROM orders ${alias} WHERE ${alias}.customer_id = ${customerAlias}.id AND ${countedOrderSql(alias, tenantParam)} AND (${extra})`;
}

/**
 * Each customer's purchase days: one row per customer and local calendar day (in the zone `timeZoneSql`)
 * with counted orders, and what they brought that day — `(customer_id, day date, value bigint)`. Orders
 * on the same local day are one purchase, as the customer-value models count them. `customersSql`, when
 * given, limits it to those customers (a uuid[] expression).
 */
export function purchaseDaysSql(tenantParam: string, timeZoneSql: string, customersSql?: string): string {
  return `SELECT o.customer_id, (${orderTimeSql("o")} AT TIME ZONE ${timeZoneSql})::date AS day, sum(${netTotalSql("o")})::bigint AS value
      FROM orders o
     WHERE ${countedOrderSql("o", tenantParam)} AND o.customer_id IS NOT NULL${customersSql ? ` AND o.customer_id = ANY(${customersSql})` : ""}
     GROUP BY o.customer_id, 2`;
}

/** Per customer, their counted orders placed since `sinceSql`: `(customer_id, orders, net, last_order_at)`. */
export function orderTotalsSinceSql(tenantParam: string, sinceSql: string): string {
  return `SELECT o.customer_id, count(*) AS orders, sum(${netTotalSql("o")}) AS net, max(${orderTimeSql("o")}) AS last_order_at
      FROM orders o
     WHERE ${countedOrderSql("o", tenantParam)} AND o.customer_id IS NOT NULL AND ${orderTimeSql("o")} >= ${sinceSql}
     GROUP BY o.customer_id`;
}

/**
 * Over the counted orders of the customers in `customersSql` (a subquery of ids): customers per channel,
 * and how many orders carried a discount, for insights. Rows `(channel, customers, orders, discounted)`;
 * one row per channel.
 */
export function channelMixSql(tenantParam: string, customersSql: string): string {
  return `SELECT o.channel, count(DISTINCT o.customer_id)::int AS customers, count(*)::int AS orders,
                 count(*) FILTER (WHERE coalesce(o.discount, 0) > 0
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements(o.items) it WHERE coalesce((it->>'discount')::bigint, 0) > 0))::int AS discounted
      FROM orders o
     WHERE ${countedOrderSql("o", tenantParam)} AND o.customer_id IN (${customersSql})
     GROUP BY o.channel`;
}
