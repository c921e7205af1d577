import type { Operator } from "../segments";
import type { SegmentsService } from "../segments";
import { LifecycleStage, RfmSegment } from "./scores";

const CHOICE: readonly Operator[] = ["=", "!=", "IN"];
const NUMERIC: readonly Operator[] = ["=", "!=", ">", ">=", "<", "<=", "IN"];
// customer_analytics joined once per statement as `sa` (see `join`), not read by a subquery per customer.
const column = (name: string) => `sa.${name}`;
const join = { alias: "sa", sql: (tenant: string) => `LEFT JOIN customer_analytics sa ON sa.customer_id = c.id AND sa.tenant_id = ${tenant}` };

/** The analytics module's fields in the segment language (registered, like any module's). */
export function registerAnalyticsConditions(segments: SegmentsService): void {
  const { conditions } = segments;
  const choice = (c: { op: Operator; value: unknown }, expr: string, param: (v: unknown, cast: string) => string) => {
    const values = (Array.isArray(c.value) ? c.value : [c.value]).map(String);
    const match = `${expr} = ANY(${param(values, "text[]")})`;
    return c.op === "!=" ? `NOT coalesce(${match}, false)` : match;
  };
  conditions.register({
    name: "rfm_segment",
    description: "The named RFM cell (CHAMPIONS, LOYAL, …, LOST); customers without orders in the RFM window have none. As of the last daily computation.",
    kind: "string",
    operators: CHOICE,
    values: Object.values(RfmSegment),
    timeBased: () => true,
    join,
    compile: (c, scope) => choice(c, column("rfm_segment"), scope.param),
  });
  conditions.register({
    name: "lifecycle_stage",
    description: "PROSPECT, FIRST_PURCHASE, REPEAT, LOYAL, AT_RISK, DORMANT or CHURNED; current with every order.",
    kind: "string",
    operators: CHOICE,
    values: Object.values(LifecycleStage),
    timeBased: () => true,
    join,
    compile: (c, scope) => choice(c, `coalesce(${column("lifecycle_stage")}, 'PROSPECT')`, scope.param),
  });
  const numeric = (name: string, description: string, expr: string, kind: "number" | "integer") =>
    conditions.register({
      name,
      description,
      kind,
      operators: NUMERIC,
      timeBased: () => true,
      join,
      compile: (c, scope) =>
        c.op === "IN"
          ? `${expr} = ANY(${scope.param(Array.isArray(c.value) ? c.value : [c.value], "float8[]")})`
          : `${expr} ${c.op === "!=" ? "<>" : c.op} ${scope.param(c.value, "float8")}`,
    });
  numeric("probability_alive", "P(alive) from the customer-value model (0–1), as of its last daily fit; customers without a paid order have none.", column("probability_alive"), "number");
  numeric("predicted_clv_365d", "Predicted value of the next 365 days in minor units, as of the model's last daily fit.", column("predicted_clv_365d"), "integer");
}
