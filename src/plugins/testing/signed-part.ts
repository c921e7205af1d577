/**
 * Channels whose signature covers only part of the body (a signed field inside an unsigned
 * envelope): how a fixture names that part, and how the kit reads what it named.
 */

/** Bytes `start` (inclusive) to `end` (exclusive) of a raw body, as `body.subarray(start, end)` takes them. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The integrity of a channel that signs part of the body, such as Youzan's classic push
 * (`sign = md5(client_id + msg + client_secret)` over the `msg` field) or WeChat's safe mode
 * (`msg_signature` over the `Encrypt` field). `signedPart` receives each raw body the kit checks and
 * returns the byte range(s) a change to which must fail verify: what the signature covers, and the
 * signature itself when it travels in the body. Use {@link partBetween} to find a field's value.
 */
export interface SignedPartIntegrity {
  signedPart: (body: Buffer) => ByteRange | ByteRange[];
}

/** How a fixture says what makes its requests authentic; see `AdapterFixtures.integrity`. */
export type Integrity = "body-signature" | "credential" | SignedPartIntegrity;

export function isIntegrity(value: unknown): value is Integrity {
  return (
    value === "body-signature" ||
    value === "credential" ||
    (typeof value === "object" && value !== null && typeof (value as SignedPartIntegrity).signedPart === "function")
  );
}

/**
 * The bytes between the first `before` (at or after `from`) and the next `after`: the value of a
 * field whose text cannot contain `after`, such as `partBetween(body, '"msg":"', '"')` for a JSON
 * string without escaped quotes, or `partBetween(body, "<Encrypt><![CDATA[", "]]>")`. Throws when
 * either marker is missing, so a fixture that changed shape fails loudly.
 */
export function partBetween(body: Buffer, before: string | Buffer, after: string | Buffer, from = 0): ByteRange {
  const open = body.indexOf(before, from);
  if (open < 0) throw new Error(`partBetween: ${JSON.stringify(String(before))} is not in the body`);
  const start = open + Buffer.byteLength(before);
  const end = body.indexOf(after, start);
  if (end < 0) throw new Error(`partBetween: no ${JSON.stringify(String(after))} after ${JSON.stringify(String(before))}`);
  return { start, end };
}

/** The fixture's ranges for `body`, checked: non-empty, within the body, sorted by start. */
export function signedRanges(body: Buffer, integrity: SignedPartIntegrity, fixture: string): ByteRange[] {
  let got: ByteRange | ByteRange[];
  try {
    got = integrity.signedPart(body);
  } catch (err) {
    throw new Error(`fixture "${fixture}": signedPart threw: ${(err as Error)?.message ?? String(err)}`);
  }
  const ranges = Array.isArray(got) ? got : [got];
  if (ranges.length === 0) throw new Error(`fixture "${fixture}": signedPart returned no range; a body with nothing signed is a "credential" channel`);
  for (const r of ranges) {
    const ok = typeof r === "object" && r !== null && Number.isInteger(r.start) && Number.isInteger(r.end) && r.start >= 0 && r.start < r.end && r.end <= body.length;
    if (!ok) throw new Error(`fixture "${fixture}": signedPart returned ${JSON.stringify(r)}; expected { start, end } with 0 <= start < end <= ${body.length} (the body's length)`);
  }
  return ranges.map((r) => ({ start: r.start, end: r.end })).sort((a, b) => a.start - b.start);
}

/** Every body position inside one of `ranges`, ascending, each once (ranges may overlap). */
export function positionsIn(ranges: ByteRange[]): number[] {
  const inside = new Set<number>();
  for (const r of ranges) for (let at = r.start; at < r.end; at++) inside.add(at);
  return [...inside].sort((a, b) => a - b);
}

/** Every body position outside all of `ranges`, ascending. */
export function positionsOutside(length: number, ranges: ByteRange[]): number[] {
  const inside = new Set(positionsIn(ranges));
  const out: number[] = [];
  for (let at = 0; at < length; at++) if (!inside.has(at)) out.push(at);
  return out;
}

/** `count` positions of `from` spread evenly from its first to its last (all of them when it has no more). */
export function spread(from: number[], count: number): number[] {
  if (from.length <= count) return from;
  if (count === 1) return [from[0]];
  return Array.from({ length: count }, (_, k) => from[Math.round((k * (from.length - 1)) / (count - 1))]);
}
