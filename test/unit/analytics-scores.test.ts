import { checkAnalyticsSettings, DEFAULT_ANALYTICS_SETTINGS, readAnalyticsSettings, rfmCell, rfmGridValuesSql, RfmSegment, VALUE_TIERS } from "../../src/modules/analytics/scores";

describe("rfmCell", () => {
  it("names the cell from R and FM = round((F + M) / 2), as the grid in docs/analytics.md", () => {
    expect(rfmCell(5, 5, 5)).toBe(RfmSegment.CHAMPIONS);
    expect(rfmCell(4, 4, 5)).toBe(RfmSegment.CHAMPIONS); // FM = 5
    expect(rfmCell(5, 1, 1)).toBe(RfmSegment.NEW);
    expect(rfmCell(4, 1, 1)).toBe(RfmSegment.PROMISING);
    expect(rfmCell(5, 2, 1)).toBe(RfmSegment.POTENTIAL_LOYALISTS); // FM = round(1.5) = 2
    expect(rfmCell(4, 3, 3)).toBe(RfmSegment.POTENTIAL_LOYALISTS);
    expect(rfmCell(3, 4, 4)).toBe(RfmSegment.LOYAL);
    expect(rfmCell(3, 2, 3)).toBe(RfmSegment.NEED_ATTENTION); // FM = 3
    expect(rfmCell(2, 3, 1)).toBe(RfmSegment.HIBERNATING); // FM = 2
    expect(rfmCell(2, 3, 3)).toBe(RfmSegment.AT_RISK);
    expect(rfmCell(2, 5, 5)).toBe(RfmSegment.CANT_LOSE);
    expect(rfmCell(1, 1, 3)).toBe(RfmSegment.LOST); // FM = 2
    expect(rfmCell(1, 3, 3)).toBe(RfmSegment.AT_RISK);
    expect(rfmCell(1, 4, 4)).toBe(RfmSegment.CANT_LOSE);
  });

  it("gives the SQL the same 25 cells", () => {
    const rows = [...rfmGridValuesSql().matchAll(/\((\d), (\d), '([A-Z_]+)'\)/g)].map((m) => [Number(m[1]), Number(m[2]), m[3]]);
    expect(rows).toHaveLength(25);
    for (const [r, fm, seg] of rows) expect(rfmCell(r as number, fm as number, fm as number)).toBe(seg);
  });

  it("builds the four value tiers over every cell exactly once", () => {
    const cells = VALUE_TIERS.flatMap((t) => [...t.query.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1])).sort();
    expect(cells).toEqual(Object.values(RfmSegment).sort());
    expect(VALUE_TIERS.map((t) => t.systemKey)).toEqual(["HIGH_VALUE", "POTENTIAL", "ORDINARY", "DORMANT"]);
  });
});

describe("analytics settings", () => {
  it("defaults to a 365-day window, 90 / 180 / 365 days and 5 orders", () => {
    expect(readAnalyticsSettings({})).toEqual({ rfmWindowDays: 365, atRiskDays: 90, dormantDays: 180, churnedDays: 365, loyalOrders: 5 });
  });

  it("reads stored values within bounds and falls back on the others", () => {
    expect(readAnalyticsSettings({ rfmWindowDays: 7, loyalOrders: 2, atRiskDays: 30, dormantDays: 60, churnedDays: 3650 })).toEqual({ rfmWindowDays: 7, atRiskDays: 30, dormantDays: 60, churnedDays: 3650, loyalOrders: 2 });
    expect(readAnalyticsSettings({ rfmWindowDays: 6, loyalOrders: 1001, atRiskDays: 0, churnedDays: 3651 })).toEqual(DEFAULT_ANALYTICS_SETTINGS);
    expect(readAnalyticsSettings({ rfmWindowDays: 30.5, loyalOrders: "7" })).toEqual(DEFAULT_ANALYTICS_SETTINGS);
    // Thresholds out of order: all three back to their defaults.
    expect(readAnalyticsSettings({ atRiskDays: 200, dormantDays: 180 })).toEqual(DEFAULT_ANALYTICS_SETTINGS);
    expect(readAnalyticsSettings({ dormantDays: 365 })).toEqual(DEFAULT_ANALYTICS_SETTINGS); // equal to churnedDays
  });

  it("checks a patch: bounds, integers, order; null resets", () => {
    const d = DEFAULT_ANALYTICS_SETTINGS;
    expect(checkAnalyticsSettings({ loyalOrders: 2, rfmWindowDays: 3650 }, d)).toEqual([]);
    expect(checkAnalyticsSettings({ loyalOrders: 1 }, d)).toEqual([{ field: "loyalOrders", message: "Between 2 and 1000" }]);
    expect(checkAnalyticsSettings({ rfmWindowDays: 3651 }, d)).toEqual([{ field: "rfmWindowDays", message: "Between 7 and 3650" }]);
    expect(checkAnalyticsSettings({ atRiskDays: 1.5 }, d)).toEqual([{ field: "atRiskDays", message: "Between 1 and 3650" }]);
    expect(checkAnalyticsSettings({ atRiskDays: 180 }, d)).toEqual([{ field: "dormantDays", message: "atRiskDays < dormantDays < churnedDays" }]);
    expect(checkAnalyticsSettings({ dormantDays: 365 }, d)).toEqual([{ field: "dormantDays", message: "atRiskDays < dormantDays < churnedDays" }]);
    expect(checkAnalyticsSettings({ atRiskDays: 10, dormantDays: 20, churnedDays: 30 }, d)).toEqual([]);
    // null puts the default back, which must still be in order with the rest.
    expect(checkAnalyticsSettings({ dormantDays: null }, { ...d, dormantDays: 100 })).toEqual([]);
    expect(checkAnalyticsSettings({ churnedDays: null }, { ...d, atRiskDays: 400, dormantDays: 500, churnedDays: 600 })).toEqual([
      { field: "dormantDays", message: "atRiskDays < dormantDays < churnedDays" },
    ]);
  });
});
