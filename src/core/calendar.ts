/**
 * Calendar days in a tenant's time zone. Everything date-based — "in the last 90 days", days since the last
 * order, birthdays, loyalty windows, SLA business hours, quiet hours — counts local days of the tenant's IANA
 * zone (tenant settings' `timeZone`), not UTC days: at 01:00 in Shanghai it is already tomorrow, while UTC is
 * still on yesterday. Dates are `YYYY-MM-DD` strings; instants are `Date`s. The zone rules are Node's (ICU's
 * tz database); SQL receives instants computed here, so a query never depends on the database's own tz data.
 */

/** A calendar date, `YYYY-MM-DD`. */
export type LocalDate = string;

/** Where "now" comes from: the system clock, or a fixed one in tests. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that always reads `at` (tests; a replay of a past day). */
export function fixedClock(at: Date | string): Clock {
  const t = new Date(at);
  if (Number.isNaN(t.getTime())) throw new Error(`fixedClock: not an instant: ${String(at)}`);
  return { now: () => new Date(t) };
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    // hourCycle h23: midnight is 00, never 24. Throws a RangeError on a zone Node does not know.
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall-clock fields of `instant` in `zone`. */
function wallClock(instant: Date, zone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const out: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(instant)) if (p.type !== "literal") out[p.type] = Number(p.value);
  return { year: out.year, month: out.month, day: out.day, hour: out.hour, minute: out.minute, second: out.second };
}

function checkInstant(instant: Date): void {
  if (!(instant instanceof Date) || Number.isNaN(instant.getTime())) throw new Error(`not an instant: ${String(instant)}`);
}

function parseDate(date: LocalDate): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== date) throw new Error(`not a calendar date (YYYY-MM-DD): ${date}`);
  return t;
}

const formatDate = (utcMidnight: number): LocalDate => new Date(utcMidnight).toISOString().slice(0, 10);

/** How far `zone`'s wall clock is ahead of UTC at `instant`, in milliseconds (Shanghai: +8 h). */
export function zoneOffsetMs(instant: Date, zone: string): number {
  checkInstant(instant);
  const w = wallClock(instant, zone);
  const wallAsUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return wallAsUtc - (instant.getTime() - (((instant.getTime() % 1000) + 1000) % 1000));
}

/** The calendar date `instant` falls on in `zone`. */
export function localDate(instant: Date, zone: string): LocalDate {
  checkInstant(instant);
  const w = wallClock(instant, zone);
  return formatDate(Date.UTC(w.year, w.month - 1, w.day));
}

/** `date` moved by `days` (negative: back). */
export function addDays(date: LocalDate, days: number): LocalDate {
  if (!Number.isInteger(days)) throw new Error(`addDays takes whole days, not ${days}`);
  return formatDate(parseDate(date) + days * DAY_MS);
}

/** Whole calendar days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: LocalDate, to: LocalDate): number {
  return Math.round((parseDate(to) - parseDate(from)) / DAY_MS);
}

/**
 * The first instant of `date` in `zone`: local midnight, or — where a daylight-saving change skips midnight
 * (America/Santiago, Asia/Beirut, …) — the first wall-clock time that exists that day.
 */
export function startOfLocalDay(date: LocalDate, zone: string): Date {
  const wall = parseDate(date);
  // The day starts at `wall - offset` for the offset in force then: one of the offsets around that day.
  const offsets = new Set([zoneOffsetMs(new Date(wall - DAY_MS), zone), zoneOffsetMs(new Date(wall), zone), zoneOffsetMs(new Date(wall + DAY_MS), zone)]);
  let start = Infinity;
  for (const o of offsets) {
    const t = wall - o;
    if (t < start && localDate(new Date(t), zone) === date) start = t;
  }
  if (start === Infinity) throw new Error(`${date} does not exist in ${zone}`); // a day skipped whole (Pacific/Apia, 2011-12-30)
  return new Date(start);
}

/** A half-open span of instants, `from` ≤ t < `to`. */
export interface InstantRange {
  from: Date;
  to: Date;
}

/**
 * "In the last `days` days" in `zone`: the `days` whole calendar days that end with today — from the start of
 * the local day `days - 1` days ago to the start of tomorrow. `lastDays(1)` is today; `lastDays(7)` is today and
 * the six days before it.
 */
export function lastDays(days: number, now: Date, zone: string): InstantRange {
  if (!Number.isInteger(days) || days < 1) throw new Error(`lastDays takes a whole number of days ≥ 1, not ${days}`);
  const today = localDate(now, zone);
  return { from: startOfLocalDay(addDays(today, -(days - 1)), zone), to: startOfLocalDay(addDays(today, 1), zone) };
}

/** Calendar days in `zone` from the day of `instant` to the day of `now`: 0 the same day, 1 the day after, … */
export function daysSince(instant: Date, now: Date, zone: string): number {
  return daysBetween(localDate(instant, zone), localDate(now, zone));
}
