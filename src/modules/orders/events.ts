/** The events the orders module emits (see DomainEventMap). Ids are local. */
declare module "../../events/types" {
  interface DomainEventMap {
    /** An order became known (from its first event of any kind). */
    "order.created": { type: "order.created"; tenantId: string; orderId: string; channel: string; externalOrderId: string; customerId: string | null };
    /** Payment (or completion) of an order became known. `total` in minor units of `currency`. */
    "order.paid": { type: "order.paid"; tenantId: string; orderId: string; customerId: string | null; total: number; currency: string | null };
    /** New refunds of an order: `amount` is what they add, `refunded` the order's refunded amount now (at most its total). */
    "order.refunded": { type: "order.refunded"; tenantId: string; orderId: string; customerId: string | null; amount: number; refunded: number; status: string };
    "order.cancelled": { type: "order.cancelled"; tenantId: string; orderId: string; customerId: string | null };
    /** A customer's order stats (count, spend, dates) changed; read them with Customer.stats. */
    "customer.stats_changed": { type: "customer.stats_changed"; tenantId: string; customerId: string };
  }
}

export const ORDER_EVENTS = ["order.created", "order.paid", "order.refunded", "order.cancelled", "customer.stats_changed"] as const;
