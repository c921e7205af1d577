import fc from "fast-check";

import type { ChannelRequest } from "../types";

/** What {@link channelRequest} builds a request from. */
export interface ChannelRequestInit {
  /** Default `POST`. */
  method?: "GET" | "POST";
  /** Names are lower-cased, as the host delivers them. */
  headers?: Record<string, string>;
  query?: Record<string, string>;
  /** Bytes as they are; a string as UTF-8; anything else as `JSON.stringify(body)`. Default: empty. */
  body?: Buffer | string | object;
  /** Default: now. */
  receivedAt?: Date;
}

/** A {@link ChannelRequest} as the host would hand it to a plugin. */
export function channelRequest(init: ChannelRequestInit = {}): ChannelRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(init.headers ?? {})) headers[name.toLowerCase()] = value;
  const body = init.body;
  return {
    method: init.method ?? "POST",
    headers,
    query: { ...(init.query ?? {}) },
    rawBody: body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body), "utf8"),
    receivedAt: init.receivedAt ?? new Date(),
  };
}

/** Throws a readable error when a fixture's request is not shaped like a ChannelRequest. */
export function assertChannelRequest(req: unknown, fixture: string): asserts req is ChannelRequest {
  const r = req as Partial<ChannelRequest> | null;
  const problem =
    typeof r !== "object" || r === null
      ? "is not an object"
      : r.method !== "GET" && r.method !== "POST"
        ? 'has no method "GET" or "POST"'
        : !isStringRecord(r.headers)
          ? "has headers that are not a record of strings"
          : Object.keys(r.headers).some((k) => k !== k.toLowerCase())
            ? "has header names that are not lower-cased (the host lower-cases them; use channelRequest())"
            : !isStringRecord(r.query)
              ? "has a query that is not a record of strings"
              : !Buffer.isBuffer(r.rawBody)
                ? "has a rawBody that is not a Buffer"
                : !(r.receivedAt instanceof Date) || Number.isNaN(r.receivedAt.getTime())
                  ? "has no valid receivedAt Date"
                  : undefined;
  if (problem) throw new Error(`fixture "${fixture}": the request ${problem}`);
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === "object" && v !== null && Object.values(v).every((x) => typeof x === "string");
}

/** A copy of the request with some fields replaced (the buffer and records are not shared). */
export function withRequest(req: ChannelRequest, patch: Partial<ChannelRequest>): ChannelRequest {
  return {
    method: patch.method ?? req.method,
    headers: { ...(patch.headers ?? req.headers) },
    query: { ...(patch.query ?? req.query) },
    rawBody: Buffer.from(patch.rawBody ?? req.rawBody),
    receivedAt: new Date((patch.receivedAt ?? req.receivedAt).getTime()),
  };
}

// ---------------------------------------------------------------------------------------------
// Structure-aware mutation: realistic payloads with one part broken reach deeper into normalize
// than random bytes, which fail at the first parse.
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** Values chosen to break naive code: wrong types, empties, huge numbers, prototype names. */
const NASTY: Json[] = ["", " ", null, 0, -1, 1.5, 1e308, -1e308, true, [], {}, "constructor", "__proto__", "toString", "9".repeat(40), "𠮷😀\u0000\u202e", "x".repeat(5000)];

/** One mutation of a JSON value: replace or delete the node at a pseudo-random path. */
interface JsonMutation {
  pick: number;
  remove: boolean;
  replacement: Json;
}

const jsonMutationArb: fc.Arbitrary<JsonMutation> = fc.record({
  pick: fc.nat(),
  remove: fc.boolean(),
  replacement: fc.oneof(fc.constantFrom(...NASTY), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>),
});

/** Applies `m` to a deep copy of `value` (which must be JSON). */
function mutateJson(value: unknown, m: JsonMutation): unknown {
  const root = JSON.parse(JSON.stringify(value)) as Json;
  const paths = allPaths(root, []);
  const path = paths[m.pick % paths.length];
  if (path.length === 0) return m.remove ? undefined : m.replacement;
  const parent = path.slice(0, -1).reduce<Json>((node, key) => (node as Record<string, Json>)[key as string], root) as Record<string, Json> | Json[];
  const key = path[path.length - 1];
  if (Array.isArray(parent)) {
    if (m.remove) parent.splice(key as number, 1);
    else parent[key as number] = m.replacement;
  } else if (m.remove) {
    delete parent[key as string];
  } else {
    parent[key as string] = m.replacement;
  }
  return root;
}

function allPaths(node: Json, prefix: Path): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(node)) node.forEach((child, i) => out.push(...allPaths(child, [...prefix, i])));
  else if (node !== null && typeof node === "object") for (const [k, child] of Object.entries(node)) out.push(...allPaths(child, [...prefix, k]));
  return out;
}

/** The value as JSON when it is JSON-shaped (or JSON text / UTF-8 JSON bytes); otherwise undefined. */
export function asJson(payload: unknown): { value: unknown; wrap: (v: unknown) => unknown } | undefined {
  const encode = (v: unknown) => (v === undefined ? "" : JSON.stringify(v));
  try {
    if (Buffer.isBuffer(payload)) return { value: JSON.parse(payload.toString("utf8")), wrap: (v) => Buffer.from(encode(v), "utf8") };
    if (typeof payload === "string") return { value: JSON.parse(payload), wrap: encode };
    if (typeof payload === "object" && payload !== null) return { value: JSON.parse(JSON.stringify(payload)), wrap: (v) => v };
  } catch {
    return undefined;
  }
  return undefined;
}

/** Each of `bases` (as {@link asJson} gives them) with one part replaced or removed, encoded again as it came. */
export function mutatedJsonArb(bases: readonly { value: unknown; wrap: (v: unknown) => unknown }[]): fc.Arbitrary<unknown> {
  return fc.tuple(fc.nat(), jsonMutationArb).map(([i, m]) => {
    const base = bases[i % bases.length];
    return base.wrap(mutateJson(base.value, m));
  });
}

// ---------------------------------------------------------------------------------------------
// Garbage requests: the fixture's own header and query names with damaged values, random extra
// ones, and bodies ranging from the original to random bytes, so parsers of the signature header
// are exercised and not only the "header missing" branch.
// ---------------------------------------------------------------------------------------------

function damagedValue(real: string): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    fc.constant(undefined),
    fc.constant(real),
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 100 }),
    fc
      .tuple(fc.nat(), fc.nat({ max: 16 }), fc.string({ maxLength: 24 }))
      .map(([at, cut, insert]) => {
        const i = at % (real.length + 1);
        return real.slice(0, i) + insert + real.slice(i + cut);
      }),
    fc.integer({ min: 2, max: 60 }).map((n) => Array.from({ length: n }, () => real).join(",")),
    fc.constantFrom("", " ", ",", "=", "==,,", "t=", "v1=", "\u0000", "x".repeat(10_000)),
  );
}

function damagedRecord(real: Readonly<Record<string, string>>, name: fc.Arbitrary<string>): fc.Arbitrary<Record<string, string>> {
  const keys = Object.keys(real);
  return fc
    .tuple(fc.tuple(...keys.map((k) => damagedValue(real[k]))), fc.dictionary(name, fc.string({ maxLength: 100 }), { maxKeys: 4, noNullPrototype: true }))
    .map(([values, extra]) => {
      const out: Record<string, string> = { ...extra };
      keys.forEach((k, i) => {
        if (values[i] !== undefined) out[k] = values[i];
      });
      return out;
    });
}

/** Random bodies: the original, one byte changed, random bytes, random JSON text. */
export function bodyArb(original: Buffer): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.constant(original),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
      const b = Buffer.from(original);
      if (b.length) b[at % b.length] ^= x;
      return b;
    }),
    fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
    fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? "", "utf8")),
  );
}

/** Requests derived from `base` with damaged headers, query, body and receive time. */
export function garbageRequestArb(base: ChannelRequest): fc.Arbitrary<ChannelRequest> {
  return fc
    .record({
      headers: damagedRecord(base.headers, fc.stringMatching(/^[a-z][a-z0-9-]{0,24}$/)),
      query: damagedRecord(base.query, fc.string({ maxLength: 12 })),
      rawBody: bodyArb(base.rawBody),
      receivedAt: fc.option(fc.date({ noInvalidDate: true }), { nil: undefined }),
    })
    .map(({ headers, query, rawBody, receivedAt }) => withRequest(base, { headers, query, rawBody, receivedAt: receivedAt ?? base.receivedAt }));
}

/** Payloads handed straight to normalize: any JSON value, text, or bytes. */
export const garbagePayloadArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom<unknown>(undefined, null, ...NASTY),
  fc.string({ maxLength: 500 }),
  fc.uint8Array({ maxLength: 1024 }).map((a) => Buffer.from(a)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? "", "utf8")),
);
