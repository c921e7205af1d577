/** The events the analytics module emits (see DomainEventMap). */
declare module "../../events/types" {
  interface DomainEventMap {
    /** A customer moved to another lifecycle stage (`from` null: their first stage was computed with a change of facts). */
    "customer.lifecycle_changed": { type: "customer.lifecycle_changed"; tenantId: string; customerId: string; from: string | null; to: string };
  }
}

export const ANALYTICS_EVENTS = ["customer.lifecycle_changed"] as const;
