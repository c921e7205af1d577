import fc from "fast-check";

import { VerificationError, NormalizationError, type ChannelConnectionInfo, type ChannelDefinition, type ChannelRequest, type PluginDefinition } from "../types";
import {
  callNormalize,
  callVerify,
  channelOf,
  expectOnly,
  fcParams,
  MIN_TAMPER_POSITIONS,
  resolveRequest,
  verifyOrFail,
  withDefaults,
  type CheckLimits,
  type Outcome,
  type RequestFixture,
} from "./calls";
import { asJson, assertChannelRequest, bodyArb, garbagePayloadArb, garbageRequestArb, jsonMutationArb, mutateJson, withRequest } from "./requests";

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
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  const req = await resolveRequest(fixture, connection);
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
 * For channels authenticated by a credential in headers or query (no body signature): the same
 * request without any header or query parameter fails verify.
 */
export async function checkCredentialRequired<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  const req = await resolveRequest(fixture, connection);
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
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  const base = await resolveRequest(fixture, connection);
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
  const mutated = bases.length
    ? fc.tuple(fc.nat(), jsonMutationArb).map(([i, m]) => {
        const base = bases[i % bases.length];
        return base.wrap(mutateJson(base.value, m));
      })
    : garbagePayloadArb;
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
  if (structured.length) {
    bodyArbs.push(
      fc.tuple(fc.nat(), jsonMutationArb).map(([i, m]) => {
        const base = structured[i % structured.length];
        return base.wrap(mutateJson(base.value, m)) as Buffer;
      }),
    );
  }
  await fc.assert(
    fc.asyncProperty(fc.oneof(...bodyArbs), async (body) => {
      const req = await authenticRequest(body, connection);
      await followThrough(ch, await callVerify(ch, req, connection, limits), connection, limits, "authentic request, random body");
    }),
    fcParams(limits, { numRuns: limits.runs * 2 }),
  );
}

