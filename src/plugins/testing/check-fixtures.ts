import { parseNormalizedEvent, type NormalizedEvent, type NormalizedEventType } from "../events";
import { NormalizationError, VerificationError, type ChannelConnectionInfo, type ChannelResponse, type IngestResult, type PluginDefinition } from "../types";
import {
  callNormalize,
  callVerify,
  channelOf,
  describeError,
  expectOnly,
  externalIds,
  normalizeOrFail,
  prepareCheck,
  resolveRequest,
  timed,
  verifyOrFail,
  withDefaults,
  type CheckLimits,
  type Outcome,
  type RequestFixture,
} from "./calls";
import { testPluginContext } from "./context";
import { withRequest } from "./requests";

/** Checks of the plugin's declaration and of each fixture: each resolves when the adapter passes. */

/** A path segment of `/channels/<name>/…`: lower-case letters, digits and dashes (the host's rule). */
const PLUGIN_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** The plugin's `name` can be a URL segment, its `version` is semver, and it has a usable channel. */
export function checkPluginIdentity(plugin: PluginDefinition<unknown>): void {
  if (typeof plugin.name !== "string" || !PLUGIN_NAME.test(plugin.name)) {
    throw new Error(`plugin name ${JSON.stringify(plugin.name)} must be 1–63 lower-case letters, digits or dashes, starting with a letter or digit (it is a URL path segment)`);
  }
  if (typeof plugin.version !== "string" || !SEMVER.test(plugin.version)) {
    throw new Error(`plugin version ${JSON.stringify(plugin.version)} must be a semantic version such as 1.0.0`);
  }
  const ch = channelOf(plugin);
  for (const hook of ["handshake", "acknowledge", "reject"] as const) {
    if (ch[hook] !== undefined && typeof ch[hook] !== "function") throw new Error(`channel.${hook} must be a function when present`);
  }
}

/**
 * The connection the host would build from `fixture`: config parsed by `configSchema` (so the
 * adapter sees defaults and transforms applied), and every `secretKeys` entry present in it.
 */
export async function buildConnection<C>(
  plugin: PluginDefinition<C>,
  fixture: { config: unknown; id?: string; tenantId?: string; name?: string },
): Promise<ChannelConnectionInfo<C>> {
  let config = fixture.config as C;
  if (plugin.configSchema) {
    const r = await plugin.configSchema.safeParseAsync(fixture.config);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new Error(`configSchema rejects the fixture connection config at ${issue.path.join(".") || "config"}: ${issue.message}`);
    }
    config = r.data;
  }
  for (const key of plugin.secretKeys ?? []) {
    if (typeof config !== "object" || config === null || !(key in config)) {
      throw new Error(`secretKeys names "${key}", which the parsed fixture config does not have (a typo here would expose a secret through the API)`);
    }
  }
  return {
    id: fixture.id ?? "9b2f6c1e-3d4a-4f5b-8c7d-000000000001",
    tenantId: fixture.tenantId ?? "9b2f6c1e-3d4a-4f5b-8c7d-0000000000aa",
    channel: plugin.name,
    name: fixture.name ?? "conformance fixture",
    config,
  };
}

/**
 * A valid fixture verifies, normalizes to an array whose every element passes
 * `parseNormalizedEvent`, with distinct externalIds (the same key twice in one request makes the
 * second a duplicate), and, when `types` is given, exactly those event types in order.
 */
export async function checkValidFixture<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C>; types?: NormalizedEventType[] },
  partialLimits: Partial<CheckLimits> = {},
): Promise<NormalizedEvent[]> {
  const { limits, ch, req } = await prepareCheck(plugin, connection, fixture, partialLimits);
  const payload = await verifyOrFail(ch, req, connection, limits, fixture.name);
  const raw = await normalizeOrFail(ch, payload, connection, limits, fixture.name);
  const events: NormalizedEvent[] = [];
  raw.forEach((e, i) => {
    const r = parseNormalizedEvent(e);
    if (!r.ok) throw new Error(`fixture "${fixture.name}": event ${i} is not a valid normalized event: ${r.reason}`);
    events.push(r.event);
  });
  const seen = new Set<string>();
  for (const e of events) {
    if (seen.has(e.externalId)) throw new Error(`fixture "${fixture.name}": externalId ${JSON.stringify(e.externalId)} appears twice in one request`);
    seen.add(e.externalId);
  }
  if (fixture.types) {
    const got = events.map((e) => e.type);
    if (JSON.stringify(got) !== JSON.stringify(fixture.types)) {
      throw new Error(`fixture "${fixture.name}": expected event types ${JSON.stringify(fixture.types)}, got ${JSON.stringify(got)}`);
    }
  }
  return events;
}

/**
 * Idempotency rests on externalIds: normalizing the same payload again, or a second delivery of
 * the same request, must produce the same ids in the same order.
 */
export async function checkDeterminism<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const { limits, ch, req } = await prepareCheck(plugin, connection, fixture, partialLimits);
  const payload = await verifyOrFail(ch, req, connection, limits, fixture.name);
  const first = externalIds(await normalizeOrFail(ch, payload, connection, limits, fixture.name));
  const again = externalIds(await normalizeOrFail(ch, payload, connection, limits, fixture.name));
  // A redelivery: the same request verified afresh (a new context, as after a restart).
  const redelivered = await verifyOrFail(ch, withRequest(req, {}), connection, limits, fixture.name);
  const replay = externalIds(await normalizeOrFail(ch, redelivered, connection, limits, fixture.name));
  for (const [label, ids] of [["normalized again", again], ["redelivered", replay]] as const) {
    if (JSON.stringify(ids) !== JSON.stringify(first)) {
      throw new Error(`fixture "${fixture.name}": externalIds differ when the payload is ${label}: ${JSON.stringify(first)} vs ${JSON.stringify(ids)}`);
    }
  }
}

/** 401: verify throws VerificationError. 400: verify passes and normalize throws NormalizationError. */
export async function checkInvalidFixture<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C>; expect: 401 | 400; reason?: string | RegExp },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const { limits, ch, req } = await prepareCheck(plugin, connection, fixture, partialLimits);
  const v = await callVerify(ch, req, connection, limits);
  let failure: Outcome<unknown>;
  if (fixture.expect === 401) {
    if (v.ok) throw new Error(`fixture "${fixture.name}": expected 401 but verify accepted the request`);
    expectOnly(v, VerificationError, `fixture "${fixture.name}": verify`);
    failure = v;
  } else {
    if (!v.ok) throw new Error(`fixture "${fixture.name}": expected 400 (verify passes, normalize fails) but verify rejected it: ${describeError(v.error)}`);
    const n = await callNormalize(ch, v.value, connection, limits);
    if (n.ok) throw new Error(`fixture "${fixture.name}": expected 400 but normalize accepted the payload`);
    expectOnly(n, NormalizationError, `fixture "${fixture.name}": normalize`);
    failure = n;
  }
  const message = (failure as { error: Error }).error.message;
  const matches = fixture.reason === undefined || (typeof fixture.reason === "string" ? message.includes(fixture.reason) : fixture.reason.test(message));
  if (!matches) throw new Error(`fixture "${fixture.name}": reason ${JSON.stringify(message)} does not match ${String(fixture.reason)}`);
}

function checkResponseShape(r: unknown, what: string): asserts r is ChannelResponse {
  const res = r as ChannelResponse | null;
  if (typeof res !== "object" || res === null) throw new Error(`${what} returned ${typeof r}, not a ChannelResponse`);
  if (res.status !== undefined && !(Number.isInteger(res.status) && res.status >= 100 && res.status <= 599)) {
    throw new Error(`${what} returned status ${JSON.stringify(res.status)}`);
  }
  if (typeof res.body !== "string" && typeof res.body !== "object") throw new Error(`${what} returned no body`);
  if (res.headers !== undefined && Object.values(res.headers).some((v) => typeof v !== "string")) {
    throw new Error(`${what} returned non-string header values`);
  }
}

/** acknowledge and reject, when present, answer with a sendable ChannelResponse. */
export async function checkResponses<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  if (ch.acknowledge) {
    const payload = await verifyOrFail(ch, await resolveRequest(fixture, connection), connection, limits, fixture.name);
    const results: IngestResult[] = [
      { externalId: "conformance:1", status: "accepted" },
      { externalId: "conformance:2", status: "duplicate" },
      { externalId: "conformance:3", status: "rejected", reason: "payload.total: must be an integer amount in minor units" },
    ];
    for (const r of [results, []]) checkResponseShape(ch.acknowledge(r, payload, connection), `acknowledge(${r.length} results)`);
  }
  if (ch.reject) {
    for (const status of [400, 401, 404]) {
      const res = ch.reject(status, "conformance reason");
      checkResponseShape(res, `reject(${status})`);
    }
  }
}

/** A handshake request answers with `status` (and `body` when given, compared as JSON). */
export async function checkHandshake<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C>; status?: number; body?: unknown },
  partialLimits: Partial<CheckLimits> = {},
): Promise<void> {
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  if (!ch.handshake) throw new Error(`fixture "${fixture.name}": the channel has no handshake`);
  const req = await resolveRequest(fixture, connection);
  const h = await timed("handshake", limits, () => ch.handshake!(req, connection, testPluginContext<C>()));
  if (!h.ok) throw new Error(`fixture "${fixture.name}": handshake threw ${describeError(h.error)}; answer with a ChannelResponse instead`);
  checkResponseShape(h.value, `handshake "${fixture.name}"`);
  const status = h.value.status ?? 200;
  if (status !== (fixture.status ?? 200)) throw new Error(`fixture "${fixture.name}": handshake answered ${status}, expected ${fixture.status ?? 200}`);
  if (fixture.body !== undefined) {
    const body = Buffer.isBuffer(h.value.body) ? h.value.body.toString("utf8") : h.value.body;
    if (JSON.stringify(body) !== JSON.stringify(fixture.body)) {
      throw new Error(`fixture "${fixture.name}": handshake body ${JSON.stringify(body)}, expected ${JSON.stringify(fixture.body)}`);
    }
  }
}
