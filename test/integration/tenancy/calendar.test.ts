import { addDays, localDate, startOfLocalDay } from "../../../src/core/calendar";
import { appWithTenant } from "../../helpers/app";

/**
 * The calendar (Node's ICU zone rules) checked against a second implementation: PostgreSQL's own tz database and
 * `AT TIME ZONE`, on PostgreSQL and PGlite alike — local dates of instants spread over 1990–2040, and for each the
 * start of its local day (the first instant whose local date is that day: the instant before it is on the day before).
 */
const ZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "Pacific/Chatham", "UTC"];

describe("calendar against PostgreSQL's time zones", () => {
  let env: Awaited<ReturnType<typeof appWithTenant>>;
  beforeAll(async () => {
    env = await appWithTenant();
  });
  afterAll(() => env.close());

  it("agrees on the local date of instants across daylight-saving changes, and on where each day starts", async () => {
    // A fixed pseudo-random spread (no flakiness), plus the instants around each 2026 day start in every zone.
    let seed = 20261207;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const from = Date.UTC(1990, 0, 1);
    const to = Date.UTC(2040, 0, 1);
    const cases: { zone: string; at: Date }[] = [];
    for (const zone of ZONES) {
      for (let i = 0; i < 150; i++) cases.push({ zone, at: new Date(Math.floor(from + next() * (to - from))) });
      for (const day of ["2026-03-08", "2026-03-29", "2026-04-05", "2026-09-06", "2026-10-04", "2026-10-25", "2026-11-01"]) {
        const start = startOfLocalDay(day, zone).getTime();
        cases.push({ zone, at: new Date(start) }, { zone, at: new Date(start - 1) });
      }
    }
    const rows: { n: number; day: string }[] = await env.app.db.dataSource.query(
      `SELECT c.n::int AS n, to_char((c.at AT TIME ZONE c.zone)::date, 'YYYY-MM-DD') AS day
         FROM unnest($1::timestamptz[], $2::text[]) WITH ORDINALITY AS c(at, zone, n) ORDER BY c.n`,
      [cases.map((c) => c.at.toISOString()), cases.map((c) => c.zone)],
    );
    const theirs = rows.map((r) => r.day);
    const ours = cases.map((c) => localDate(c.at, c.zone));
    const disagreements = cases.map((c, i) => ({ ...c, ours: ours[i], theirs: theirs[i] })).filter((d) => d.ours !== d.theirs);
    expect(disagreements).toEqual([]);
    expect(rows).toHaveLength(cases.length);

    // Every day start: PostgreSQL puts it on its day, and the millisecond before on the day before.
    for (let i = 0; i < cases.length; i += 1) {
      const day = ours[i];
      const start = startOfLocalDay(day, cases[i].zone);
      expect(start.getTime()).toBeLessThanOrEqual(cases[i].at.getTime());
    }
    const starts = cases.map((c, i) => ({ zone: c.zone, day: ours[i], start: startOfLocalDay(ours[i], c.zone) }));
    const check: { on: string; before: string }[] = await env.app.db.dataSource.query(
      `SELECT to_char((c.at AT TIME ZONE c.zone)::date, 'YYYY-MM-DD') AS on,
              to_char(((c.at - interval '1 millisecond') AT TIME ZONE c.zone)::date, 'YYYY-MM-DD') AS before
         FROM unnest($1::timestamptz[], $2::text[]) WITH ORDINALITY AS c(at, zone, n) ORDER BY c.n`,
      [starts.map((s) => s.start.toISOString()), starts.map((s) => s.zone)],
    );
    expect(check).toEqual(starts.map((s) => ({ on: s.day, before: addDays(s.day, -1) })));
  });
});
