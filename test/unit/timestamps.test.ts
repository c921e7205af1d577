import pg from "pg";
import { timestamptzParser } from "../../src/db/timestamps";

/** The fast timestamptz parser against pg's own (postgres-date), the second implementation, on the forms PostgreSQL prints. */
describe("timestamptz parser", () => {
  const reference = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date;
  const fast = timestamptzParser(reference) as (text: string) => Date;
  const same = (text: string) => {
    const a = fast(text);
    const b = reference(text);
    expect({ text, t: a instanceof Date ? a.getTime() : a }).toEqual({ text, t: b instanceof Date ? b.getTime() : b });
  };

  it("reads what PostgreSQL prints exactly as pg's parser does", () => {
    for (const text of [
      "2026-01-01 08:00:00+08",
      "2026-01-01 08:00:00.5+08",
      "2026-01-01 08:00:00.123+00",
      "2026-01-01 08:00:00.123456-05",
      "2026-03-08 02:30:00+05:30",
      "2026-03-08 02:30:00-03:30",
      "1901-12-13 20:45:52+05:45:30",
      "2038-01-19 03:14:08.999999+00",
      "1000-01-01 00:00:00+00",
    ]) {
      same(text);
    }
  });

  it("agrees on a spread of generated instants, offsets and precisions", () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pad = (n: number, w = 2) => String(n).padStart(w, "0");
    for (let i = 0; i < 2000; i++) {
      const d = new Date(Date.UTC(1000, 0, 1) + Math.floor(next() * (Date.UTC(2999, 0, 1) - Date.UTC(1000, 0, 1))));
      const frac = ["", `.${pad(Math.floor(next() * 1000), 3)}`, `.${pad(Math.floor(next() * 1_000_000), 6)}`, ".5"][i % 4];
      const offH = Math.floor(next() * 15) * (next() < 0.5 ? -1 : 1);
      const offM = [0, 0, 30, 45][i % 4];
      const off = `${offH < 0 ? "-" : "+"}${pad(Math.abs(offH))}${offM ? `:${pad(offM)}` : ""}`;
      same(`${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}${off}`);
    }
  });

  it("hands what it does not recognise to pg's parser", () => {
    for (const text of ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC", "0099-01-01 00:00:00+00", "12345-01-01 00:00:00+00"]) same(text);
  });
});

/** The fast path on its own: PostgreSQL's forms are read without pg's parser, to instants worked out by hand. */
describe("timestamptz parser, fast path", () => {
  const fallback = jest.fn((text: string) => `fallback:${text}`);
  const parse = timestamptzParser(fallback);
  beforeEach(() => fallback.mockClear());

  it.each([
    ["2026-01-01 08:00:00+08", Date.UTC(2026, 0, 1, 0, 0, 0, 0)],
    ["2026-01-01 08:00:00.5+08", Date.UTC(2026, 0, 1, 0, 0, 0, 500)],
    ["2026-01-01 08:00:00.12+00", Date.UTC(2026, 0, 1, 8, 0, 0, 120)],
    ["2026-01-01 08:00:00.123456-05", Date.UTC(2026, 0, 1, 13, 0, 0, 123)],
    ["2026-03-08 02:30:00+05:30", Date.UTC(2026, 2, 7, 21, 0, 0, 0)],
    ["2026-12-31 23:59:59.999-03:30", Date.UTC(2027, 0, 1, 3, 29, 59, 999)],
    ["1901-12-13 20:45:52+05:45:30", Date.UTC(1901, 11, 13, 15, 0, 22, 0)],
    ["1000-01-01 00:00:00+00", Date.UTC(1000, 0, 1, 0, 0, 0, 0)],
  ])("reads %s itself", (text, expected) => {
    const d = parse(text);
    expect(d).toBeInstanceOf(Date);
    expect((d as Date).getTime()).toBe(expected);
    expect(fallback).not.toHaveBeenCalled();
  });

  it.each(["1000-01-01 00:00:00+00 BC", "0999-12-31 23:59:59+00", "infinity", "2026-01-01T08:00:00+08", "2026-01-01 08:00:00"])(
    "hands %s to the fallback",
    (text) => {
      expect(parse(text)).toBe(`fallback:${text}`);
      expect(fallback).toHaveBeenCalledWith(text);
    },
  );
});
