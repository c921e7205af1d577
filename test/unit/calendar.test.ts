import { addDays, daysBetween, daysSince, lastDays, localDate, startOfLocalDay, zoneOffsetMs } from "../../src/core/calendar";

/**
 * Expected values are worked out by hand from the zones' published rules (tz database): Shanghai is UTC+8 all
 * year; New York's daylight time in 2026 runs from Sunday 8 March 02:00 to Sunday 1 November 02:00; Chile's starts
 * on the first Sunday of September on or after the 2nd, at midnight (6 September 2026: no 00:00 that day); Samoa
 * skipped 30 December 2011 whole; Lord Howe Island keeps UTC+10:30 in winter.
 */
const t = (iso: string) => new Date(iso);

describe("calendar days in a tenant's zone", () => {
  it("puts an instant on the local date, not the UTC one", () => {
    expect(localDate(t("2026-12-31T16:30:00Z"), "Asia/Shanghai")).toBe("2027-01-01"); // 00:30 on New Year's Day in Shanghai
    expect(localDate(t("2026-12-31T16:30:00Z"), "UTC")).toBe("2026-12-31");
    expect(localDate(t("2026-12-31T15:59:59.999Z"), "Asia/Shanghai")).toBe("2026-12-31");
    expect(localDate(t("2027-01-01T04:59:59Z"), "America/New_York")).toBe("2026-12-31");
  });

  it("starts a day at local midnight, whatever the offset that day", () => {
    expect(startOfLocalDay("2027-01-01", "Asia/Shanghai").toISOString()).toBe("2026-12-31T16:00:00.000Z");
    expect(startOfLocalDay("2026-03-08", "America/New_York").toISOString()).toBe("2026-03-08T05:00:00.000Z"); // EST
    expect(startOfLocalDay("2026-03-09", "America/New_York").toISOString()).toBe("2026-03-09T04:00:00.000Z"); // EDT
    expect(startOfLocalDay("2026-11-01", "America/New_York").toISOString()).toBe("2026-11-01T04:00:00.000Z");
    expect(startOfLocalDay("2026-11-02", "America/New_York").toISOString()).toBe("2026-11-02T05:00:00.000Z"); // a 25-hour day before
    expect(startOfLocalDay("2026-10-04", "Australia/Lord_Howe").toISOString()).toBe("2026-10-03T13:30:00.000Z");
    expect(zoneOffsetMs(t("2026-07-01T00:00:00.500Z"), "Australia/Lord_Howe")).toBe(630 * 60_000);
  });

  it("starts a day without a midnight at its first wall-clock time, and refuses a day a zone skipped", () => {
    expect(startOfLocalDay("2026-09-05", "America/Santiago").toISOString()).toBe("2026-09-05T04:00:00.000Z"); // 00:00 −04
    expect(startOfLocalDay("2026-09-06", "America/Santiago").toISOString()).toBe("2026-09-06T04:00:00.000Z"); // 01:00 −03
    expect(startOfLocalDay("2026-09-07", "America/Santiago").toISOString()).toBe("2026-09-07T03:00:00.000Z");
    expect(startOfLocalDay("2011-12-29", "Pacific/Apia").toISOString()).toBe("2011-12-29T10:00:00.000Z"); // UTC−10
    expect(startOfLocalDay("2011-12-31", "Pacific/Apia").toISOString()).toBe("2011-12-30T10:00:00.000Z"); // UTC+14
    expect(() => startOfLocalDay("2011-12-30", "Pacific/Apia")).toThrow(/does not exist/);
  });

  it("counts 'the last N days' as N whole local days ending with today", () => {
    expect(lastDays(1, t("2026-12-31T16:30:00Z"), "Asia/Shanghai")).toEqual({ from: t("2026-12-31T16:00:00Z"), to: t("2027-01-01T16:00:00Z") });
    // Across the spring change: 8 March has 23 hours, so two days are 47 hours.
    const span = lastDays(2, t("2026-03-09T12:00:00Z"), "America/New_York");
    expect(span).toEqual({ from: t("2026-03-08T05:00:00Z"), to: t("2026-03-10T04:00:00Z") });
    expect((span.to.getTime() - span.from.getTime()) / 3_600_000).toBe(47);
    expect(lastDays(90, t("2026-12-07T02:00:00Z"), "Asia/Shanghai").from).toEqual(t("2026-09-08T16:00:00Z")); // 9 Sep 00:00 +08
  });

  it("counts days since an instant by local dates: a minute before and after midnight are a day apart", () => {
    const before = t("2026-12-31T15:59:59Z"); // 23:59:59 on 31 December in Shanghai
    const after = t("2026-12-31T16:00:01Z"); // 00:00:01 on 1 January
    expect(daysSince(before, after, "Asia/Shanghai")).toBe(1);
    expect(daysSince(before, after, "UTC")).toBe(0);
    expect(daysSince(after, before, "Asia/Shanghai")).toBe(-1);
  });

  it("does date arithmetic on the calendar, leap days included", () => {
    expect(addDays("2024-02-28", 1)).toBe("2024-02-29");
    expect(addDays("2026-02-28", 1)).toBe("2026-03-01");
    expect(addDays("2026-01-01", -1)).toBe("2025-12-31");
    expect(daysBetween("2026-01-01", "2027-01-01")).toBe(365);
    expect(daysBetween("2024-01-01", "2025-01-01")).toBe(366);
  });

  it("refuses what is not a date, a whole number of days or a zone", () => {
    expect(() => addDays("2026-02-30", 1)).toThrow(/calendar date/);
    expect(() => addDays("2026-2-3", 1)).toThrow(/calendar date/);
    expect(() => addDays("2026-02-03", 0.5)).toThrow(/whole days/);
    expect(() => lastDays(0, new Date(), "UTC")).toThrow(/≥ 1/);
    expect(() => localDate(new Date(NaN), "UTC")).toThrow(/instant/);
    expect(() => localDate(new Date(), "Mars/Olympus_Mons")).toThrow(RangeError);
  });
});
