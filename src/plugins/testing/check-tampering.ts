import { isDeepStrictEqual } from "node:util";

import fc from "fast-check";

import { VerificationError, NormalizationError, type ChannelConnectionInfo, type ChannelDefinition, type ChannelRequest, type PluginDefinition } from "../types";
import {
  callNormalize,
  callVerify,
  channelOf,
  expectOnly,
  fcParams,
  MIN_TAMPER_POSITIONS,
  prepareCheck,
  resolveRequest,
  verifyOrFail,
  withDefaults,
  type CheckLimits,
  type Outcome,
  type RequestFixture,
} from "./calls";
import { asJson, assertChannelRequest, bodyArb, garbagePayloadArb, garbageRequestArb, mutatedJsonArb, withRequest } from "./requests";
import { positionsIn, positionsOutside, signedRanges, spread, type SignedPartIntegrity } from "./signed-part";

/** Checks that tampered, damaged and random input is refused the right way: each resolves when the adapter passes. */

/**
 * For channels that sign the body: the untouched request verifies, and changing any single byte
 * (every position of bodies up to `limits.tamperPositions` bytes, else that many spread over the
 * body, plus random positions and xor values from fast-check), or cutting or extending the body,
 * makes verify throw VerificationError.
 */
export async function checkBodyTamper<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const { limits, ch, req } = await prepareCheck(plugin, connection, fixture, partialLimits);
  const body = req.rawBody;
  if (body.length === 0) throw new Error(`fixture "${fixture.name}" has an empty body, so the body signature cannot be checked`);
  await verifyOrFail(ch, req, connection, limits, fixture.name);

  const mustFail = async (tampered: Buffer, how: string) => {
    const v = await callVerify(ch, withRequest(req, { rawBody: tampered }), connection, limits);
    if (v.ok) throw new Error(`fixture "${fixture.name}": verify accepted the body with ${how}`);
    expectOnly(v, VerificationError, `verify (body with ${how})`);
  };
  await mustFail(body.subarray(0, body.length - 1), "its last byte cut off");
  await mustFail(Buffer.concat([body, Buffer.from(" ")]), "a space appended");

  // Deterministic positions first, so a signature blind to one byte cannot slip past by luck.
  const count = Math.min(body.length, Math.max(MIN_TAMPER_POSITIONS, limits.tamperPositions));
  for (let k = 0; k < count; k++) {
    const at = count === 1 ? 0 : Math.round((k * (body.length - 1)) / (count - 1));
    const xor = 1 + ((k * 37) % 255);
    const tampered = Buffer.from(body);
    tampered[at] ^= xor;
    await mustFail(tampered, `byte ${at} xor 0x${xor.toString(16)}`);
  }
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: body.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
      const tampered = Buffer.from(body);
      tampered[at] ^= xor;
      await mustFail(tampered, `byte ${at} xor 0x${xor.toString(16)}`);
    }),
    fcParams(limits),
  );
}

/**
 * For channels that sign part of the body (`integrity.signedPart` names the byte ranges): the
 * untouched request verifies, and changing any single byte inside the ranges (sampled as
 * {@link checkBodyTamper} samples the whole body, plus the lowest bit of every range's first and
 * last byte), cutting a range's last byte or repeating it makes verify throw VerificationError.
 *
 * A change verify accepts is tolerated when the payload it hands on is deep-equal to the untouched
 * request's: an equivalent encoding of the same signed value (`%7b` for `%7B`, `\u00E9` for
 * `\u00e9`) forges nothing. But when more than a quarter of the sampled changes pass that way, the
 * signature is evidently not checked over the declared part, and the check fails.
 *
 * Bytes outside the ranges may change freely; the check only requires that verify then answers
 * with a payload or VerificationError, and normalize with events or NormalizationError.
 */
export async function checkSignedPartTamper<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  integrity: SignedPartIntegrity,
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const { limits, ch, req } = await prepareCheck(plugin, connection, fixture, partialLimits);
  const body = req.rawBody;
  const ranges = signedRanges(body, integrity, fixture.name);
  const untouched = await verifyOrFail(ch, req, connection, limits, fixture.name);
  const where = (at: number) => {
    const i = ranges.findIndex((r) => at >= r.start && at < r.end);
    return `byte ${at} (signed part ${i + 1} of ${ranges.length}, bytes ${ranges[i].start}–${ranges[i].end - 1})`;
  };

  /** Resolves true when verify accepted the change and handed on the very same payload. */
  const mustFail = async (tampered: Buffer, how: string): Promise<boolean> => {
    const v = await callVerify(ch, withRequest(req, { rawBody: tampered }), connection, limits);
    if (v.ok) {
      if (isDeepStrictEqual(v.value, untouched)) return true;
      throw new Error(`fixture "${fixture.name}": verify accepted the body with ${how}, and handed on a different payload`);
    }
    expectOnly(v, VerificationError, `verify (body with ${how})`);
    return false;
  };
  const flip = (at: number, xor: number) => {
    const tampered = Buffer.from(body);
    tampered[at] ^= xor;
    return mustFail(tampered, `${where(at)} xor 0x${xor.toString(16)}`);
  };

  for (const [i, r] of ranges.entries()) {
    const part = `signed part ${i + 1} (bytes ${r.start}–${r.end - 1})`;
    await mustFail(Buffer.concat([body.subarray(0, r.end - 1), body.subarray(r.end)]), `the last byte of ${part} cut out`);
    await mustFail(Buffer.concat([body.subarray(0, r.end), body.subarray(r.end - 1)]), `the last byte of ${part} repeated`);
  }

  // Deterministic positions first, as for a whole signed body. On top, every range's first and
  // last byte with its lowest bit flipped: a short range between long ones is never skipped by the
  // spread, and the changed byte stays in the field's alphabet (hex, base64, %XX), so a parser
  // passes it on to the signature check rather than refusing it first.
  const signed = positionsIn(ranges);
  const chosen: [at: number, xor: number][] = spread(signed, Math.max(MIN_TAMPER_POSITIONS, limits.tamperPositions)).map((at, k) => [at, 1 + ((k * 37) % 255)]);
  for (const r of ranges) chosen.push([r.start, 0x01], [r.end - 1, 0x01]);
  let tolerated = 0;
  for (const [at, xor] of chosen) {
    if (await flip(at, xor)) tolerated++;
  }
  if (tolerated * 4 > chosen.length) {
    throw new Error(
      `fixture "${fixture.name}": verify accepted ${tolerated} of ${chosen.length} single-byte changes inside the signed part (with an unchanged payload); ` +
        "does it check the signature over the part signedPart names?",
    );
  }
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: signed.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, xor) => {
      await flip(signed[i], xor);
    }),
    fcParams(limits),
  );

  for (const [k, at] of spread(positionsOutside(body.length, ranges), MIN_TAMPER_POSITIONS).entries()) {
    const tampered = Buffer.from(body);
    tampered[at] ^= 1 + ((k * 37) % 255);
    const v = await callVerify(ch, withRequest(req, { rawBody: tampered }), connection, limits);
    await followThrough(ch, v, connection, limits, `body with unsigned byte ${at} changed`);
  }
}

/**
 * For channels authenticated by a credential in headers or query (no body signature): the same
 * request without any header or query parameter fails verify.
 */
export async function checkCredentialRequired<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const { limits, ch, req } = await prepareCheck(plugin, connection, fixture, partialLimits);
  await verifyOrFail(ch, req, connection, limits, fixture.name);
  const v = await callVerify(ch, withRequest(req, { headers: {}, query: {} }), connection, limits);
  if (v.ok) throw new Error(`fixture "${fixture.name}": verify accepted the request without any header or query parameter`);
  expectOnly(v, VerificationError, "verify (credentials removed)");
}

/** Whatever verify returns may reach normalize: it must answer with an array or NormalizationError. */
async function followThrough<C>(ch: ChannelDefinition<C>, v: Outcome<unknown>, connection: ChannelConnectionInfo<C>, limits: CheckLimits, what: string) {
  expectOnly(v, VerificationError, `verify (${what})`);
  if (!v.ok) return;
  const n = await callNormalize(ch, v.value, connection, limits);
  expectOnly(n, NormalizationError, `normalize (${what})`);
  if (n.ok && !Array.isArray(n.value)) throw new Error(`normalize (${what}) returned ${typeof n.value}, not an array`);
}

/**
 * Damaged requests (headers, query, body, receive time derived from the fixture's) never make
 * verify throw anything but VerificationError, nor normalize anything but NormalizationError.
 */
export async function checkGarbageRequests<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const { limits, ch, req: base } = await prepareCheck(plugin, connection, fixture, partialLimits);
  await fc.assert(
    fc.asyncProperty(garbageRequestArb(base), async (req) => followThrough(ch, await callVerify(ch, req, connection, limits), connection, limits, "damaged request")),
    fcParams(limits),
  );
}

/**
 * normalize, called directly with random JSON values, text and bytes, and with the fixtures'
 * verified payloads with one part replaced or removed, returns an array or throws
 * NormalizationError.
 */
export async function checkGarbagePayloads<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixtures: { name: string; request: RequestFixture<C> }[],
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  const bases: { value: unknown; wrap: (v: unknown) => unknown }[] = [];
  for (const f of fixtures) {
    const json = asJson(await verifyOrFail(ch, await resolveRequest(f, connection), connection, limits, f.name));
    if (json) bases.push(json);
  }
  const mutated = bases.length ? mutatedJsonArb(bases) : garbagePayloadArb;
  await fc.assert(
    fc.asyncProperty(fc.oneof(garbagePayloadArb, mutated), async (payload) => {
      const n = await callNormalize(ch, payload, connection, limits);
      expectOnly(n, NormalizationError, "normalize (random payload)");
      if (n.ok && !Array.isArray(n.value)) throw new Error(`normalize returned ${typeof n.value}, not an array`);
    }),
    fcParams(limits, { numRuns: limits.runs * 2 }),
  );
}

/**
 * Authentic requests (built by `authenticRequest`) around random bodies and around the fixtures'
 * bodies with one JSON part replaced or removed: verify and normalize end in events,
 * VerificationError or NormalizationError — nothing else.
 */
export async function checkAuthenticGarbage<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixtures: { name: string; request: RequestFixture<C> }[],
  authenticRequest: (rawBody: Buffer, connection: ChannelConnectionInfo<C>) => ChannelRequest | Promise<ChannelRequest>,
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  const bodies: Buffer[] = [];
  for (const f of fixtures) bodies.push((await resolveRequest(f, connection)).rawBody);
  const probe = await authenticRequest(bodies[0], connection);
  assertChannelRequest(probe, "authenticRequest(fixture body)");
  await verifyOrFail(ch, probe, connection, limits, "authenticRequest(fixture body)");

  const structured = bodies
    .map((b) => asJson(b))
    .filter((j): j is NonNullable<typeof j> => j !== undefined);
  const bodyArbs = [...bodies.map(bodyArb)];
  if (structured.length) bodyArbs.push(mutatedJsonArb(structured) as fc.Arbitrary<Buffer>);
  await fc.assert(
    fc.asyncProperty(fc.oneof(...bodyArbs), async (body) => {
      const req = await authenticRequest(body, connection);
      await followThrough(ch, await callVerify(ch, req, connection, limits), connection, limits, "authentic request, random body");
    }),
    fcParams(limits, { numRuns: limits.runs * 2 }),
  );
}

