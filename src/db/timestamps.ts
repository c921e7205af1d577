/**
 * PostgreSQL's text form of a timestamptz (`2026-01-01 08:00:00.123+08`, DateStyle ISO) read into a Date without a
 * general-purpose date parser: on a list page every row carries several timestamps, and pg's default
 * (postgres-date) was 6 % of the server's CPU in the reads bench. What the fast path does not recognise — BC
 * years, years before 1000, `infinity` — goes to `fallback`, pg's own parser.
 */
const ISO = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

export function timestamptzParser(fallback: (text: string) => unknown): (text: string) => unknown {
  return (text) => {
    const m = ISO.exec(text);
    if (!m || m[1] < "1000") return fallback(text);
    const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
    const offset = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * 1000 * (m[8] === "-" ? -1 : 1);
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms) - offset);
  };
}
