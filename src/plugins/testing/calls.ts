import fc from "fast-check";

import { NormalizationError, VerificationError, type ChannelConnectionInfo, type ChannelDefinition, type ChannelRequest, type PluginDefinition } from "../types";
import { testPluginContext } from "./context";
import { assertChannelRequest, withRequest } from "./requests";

/**
 * How the checks call an adapter: every call gets a fresh context and a deadline, and its outcome
 * is judged with a message meant for the adapter's author.
 */

/** A request, or a builder called for every use (so signatures and timestamps are fresh). */
export type RequestFixture<C = unknown> =
  | ChannelRequest
  | ((connection: ChannelConnectionInfo<C>) => ChannelRequest | Promise<ChannelRequest>);

/** How much the property-based checks try, and how long one call may take. */
export interface CheckLimits {
  /** fast-check runs per property. Default 100. */
  runs: number;
  /** Longest a single verify or normalize call may take, in ms. Default 2000. */
  deadlineMs: number;
  /**
   * Body positions the tamper check flips deterministically: every byte of a body up to this
   * length, else this many spread evenly from first to last (never fewer than
   * {@link MIN_TAMPER_POSITIONS}); `runs` random positions come on top. Default 2048.
   */
  tamperPositions: number;
  /** Fixes fast-check's seed to replay a failure it reported. */
  seed?: number;
}

/** Fewest body positions the tamper check flips, spread evenly from first to last byte. */
export const MIN_TAMPER_POSITIONS = 64;

/** The limits used where none are given: 100 runs per property, 2 s per call, 2048 tamper positions. */
export const DEFAULT_LIMITS: CheckLimits = { runs: 100, deadlineMs: 2000, tamperPositions: 2048 };

export function withDefaults(limits: Partial<CheckLimits>): CheckLimits {
  const merged = { ...DEFAULT_LIMITS, ...limits };
  for (const key of ["runs", "deadlineMs", "tamperPositions"] as const) {
    if (!(Number.isInteger(merged[key]) && merged[key] > 0)) throw new Error(`limits.${key} must be a positive integer, got ${merged[key]}`);
  }
  return merged;
}

/** The fixture's request (built afresh when it is a builder), checked for shape and copied. */
export async function resolveRequest<C>(fixture: { name: string; request: RequestFixture<C> }, connection: ChannelConnectionInfo<C>): Promise<ChannelRequest> {
  const req = typeof fixture.request === "function" ? await fixture.request(connection) : fixture.request;
  assertChannelRequest(req, fixture.name);
  // A copy per use: an adapter that mutates the request must not change the next check's input.
  return withRequest(req, {});
}

/** What a check of one fixture starts from: the limits (defaults filled in, checked), the plugin's channel and the fixture's request. */
export async function prepareCheck<C>(
  plugin: PluginDefinition<C>,
  connection: ChannelConnectionInfo<C>,
  fixture: { name: string; request: RequestFixture<C> },
  partialLimits: Partial<CheckLimits>,
): Promise<{ limits: CheckLimits; ch: ChannelDefinition<C>; req: ChannelRequest }> {
  const limits = withDefaults(partialLimits);
  const ch = channelOf(plugin);
  return { limits, ch, req: await resolveRequest(fixture, connection) };
}

/** The plugin's channel, or an error saying it has none usable. */
export function channelOf<C>(plugin: PluginDefinition<C>): ChannelDefinition<C> {
  const ch = plugin.channel;
  if (!ch || typeof ch.verify !== "function" || typeof ch.normalize !== "function") {
    throw new Error(`plugin "${plugin.name}" has no channel with verify and normalize functions`);
  }
  return ch;
}

// ---------------------------------------------------------------------------------------------
// Calling the adapter: every call gets a fresh context, a deadline, and a precise verdict.
// ---------------------------------------------------------------------------------------------

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

class DeadlineExceeded extends Error {}

export async function timed<T>(what: string, limits: CheckLimits, fn: () => T | Promise<T>): Promise<Outcome<T>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} did not settle within ${limits.deadlineMs} ms (hung?)`)), limits.deadlineMs);
  });
  let outcome: Outcome<T>;
  try {
    outcome = { ok: true, value: await Promise.race([Promise.resolve().then(fn), deadline]) };
  } catch (error) {
    if (error instanceof DeadlineExceeded) throw error;
    outcome = { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
  // A synchronous loop blocks the timer above; measuring afterwards still catches the slow ones.
  const took = performance.now() - started;
  if (took > limits.deadlineMs) throw new DeadlineExceeded(`${what} took ${Math.round(took)} ms (limit ${limits.deadlineMs} ms)`);
  return outcome;
}

export function callVerify<C>(ch: ChannelDefinition<C>, req: ChannelRequest, connection: ChannelConnectionInfo<C>, limits: CheckLimits) {
  return timed("verify", limits, () => ch.verify(req, connection, testPluginContext<C>()));
}

export function callNormalize<C>(ch: ChannelDefinition<C>, payload: unknown, connection: ChannelConnectionInfo<C>, limits: CheckLimits) {
  return timed("normalize", limits, () => ch.normalize(payload, connection));
}

export function describeError(error: unknown): string {
  // Duck-typed: errors from Node built-ins may come from another realm (Jest runs tests in a vm
  // context), where `instanceof Error` is false.
  if (typeof error === "object" && error !== null && typeof (error as Error).message === "string") {
    const name = (error as Error).constructor?.name && (error as Error).constructor.name !== "Error" ? (error as Error).constructor.name : (error as Error).name;
    return `${name || "Error"}: ${(error as Error).message}`;
  }
  return `a non-Error value (${String(error).slice(0, 100)})`;
}

/** Only `allowed` (with a reason) may escape: anything else becomes a 500 in the host. */
export function expectOnly(outcome: Outcome<unknown>, allowed: typeof VerificationError | typeof NormalizationError, what: string): void {
  if (outcome.ok) return;
  const e = outcome.error;
  if (!(e instanceof allowed)) {
    throw new Error(`${what} threw ${describeError(e)}; it may only throw ${allowed.name} (anything else is answered 500)`);
  }
  if (!e.message.trim()) throw new Error(`${what} threw ${allowed.name} without a reason; the reason is what the sender sees`);
}

export async function verifyOrFail<C>(ch: ChannelDefinition<C>, req: ChannelRequest, connection: ChannelConnectionInfo<C>, limits: CheckLimits, fixture: string): Promise<unknown> {
  const v = await callVerify(ch, req, connection, limits);
  if (!v.ok) throw new Error(`fixture "${fixture}": verify rejected a valid request: ${describeError(v.error)}`);
  return v.value;
}

export async function normalizeOrFail<C>(ch: ChannelDefinition<C>, payload: unknown, connection: ChannelConnectionInfo<C>, limits: CheckLimits, fixture: string): Promise<unknown[]> {
  const n = await callNormalize(ch, payload, connection, limits);
  if (!n.ok) throw new Error(`fixture "${fixture}": normalize rejected a valid payload: ${describeError(n.error)}`);
  if (!Array.isArray(n.value)) throw new Error(`fixture "${fixture}": normalize returned ${typeof n.value}, not an array of events`);
  return n.value;
}

export function externalIds(events: unknown[]): unknown[] {
  return events.map((e) => (typeof e === "object" && e !== null ? (e as { externalId?: unknown }).externalId : undefined));
}

export function fcParams<T>(limits: CheckLimits, extra: Partial<fc.Parameters<T>> = {}): fc.Parameters<T> {
  // includeErrorInReport: the adapter's author needs the reason, not only the counterexample.
  return { numRuns: limits.runs, includeErrorInReport: true, ...(limits.seed === undefined ? {} : { seed: limits.seed }), ...extra };
}

