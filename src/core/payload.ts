import type { Result, UserError } from "./user-error";

/** Maps a service result onto a mutation payload: the result fields on success, userErrors otherwise. */
export function toPayload<P extends { userErrors: UserError[] }, T>(
  Payload: new () => P,
  result: Result<T>,
  onOk: (value: T) => Omit<P, "userErrors">,
  empty: Omit<P, "userErrors">,
): P {
  const p = new Payload();
  return Object.assign(p, result.ok ? { ...onOk(result.value), userErrors: [] } : { ...empty, userErrors: result.errors });
}
