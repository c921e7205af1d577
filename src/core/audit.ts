/**
 * What a request did that the audit log must know but the response does not say: the customers whose personal
 * values it served unmasked. Resolvers note it; the audit module reads it once the response is ready. Kept beside
 * the request's context, gone with it.
 */
const served = new WeakMap<object, Set<string>>();

/** Notes that this request served `globalId`'s personal values unmasked. */
export function notePersonalDataServed(ctx: object, globalId: string): void {
  let set = served.get(ctx);
  if (!set) served.set(ctx, (set = new Set()));
  set.add(globalId);
}

/** The global ids whose personal values this request served unmasked, in the order first served. */
export function personalDataServed(ctx: object): string[] {
  return [...(served.get(ctx) ?? [])];
}
