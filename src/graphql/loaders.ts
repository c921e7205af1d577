import type { Ctx } from "../core/context";
import { createCustomerLoaders } from "../modules/customers/loaders";
import { createOrderLoaders } from "../modules/orders/loaders";

/** Every module's per-request DataLoaders. Built fresh per request (and per subscription event). */
export function createLoaders(ctx: Ctx) {
  return {
    customers: createCustomerLoaders(ctx),
    orders: createOrderLoaders(ctx),
  };
}
export type Loaders = ReturnType<typeof createLoaders>;
