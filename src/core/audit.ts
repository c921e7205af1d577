import { toGlobalId } from "./global-id";

/**
 * What a request did that the audit log must know but the response does not say: the customers whose personal
 * values it served unmasked. Resolvers note each customer's local id (cheap, once per field); the audit module reads
 * them as global ids once the response is ready. Kept beside the request's context, gone with it.
 */
const served = new WeakMap<object, Set<string>>();

/** Notes that this request served the personal values of the customer with this local id unmasked. */
export function notePersonalDataServed(ctx: object, customerId: string): void {
  let set = served.get(ctx);
  if (!set) served.set(ctx, (set = new Set()));
  set.add(customerId);
}

/** The global ids of the customers whose personal values this request served unmasked, in the order first served. */
export function personalDataServed(ctx: object): string[] {
  return [...(served.get(ctx) ?? [])].map((id) => toGlobalId("Customer", id));
}
