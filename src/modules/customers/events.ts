/** The events the customers module emits (see DomainEventMap). Ids are local. */
declare module "../../events/types" {
  interface DomainEventMap {
    "customer.created": { type: "customer.created"; tenantId: string; customerId: string };
    "customer.updated": { type: "customer.updated"; tenantId: string; customerId: string; changed: string[] };
    "customer.deleted": { type: "customer.deleted"; tenantId: string; customerId: string };
    "customer.merged": { type: "customer.merged"; tenantId: string; customerId: string; sourceId: string; mergeId: string };
    "customer.unmerged": { type: "customer.unmerged"; tenantId: string; customerId: string; sourceId: string; mergeId: string };
    /**
     * The customer's personal data was erased (eraseCustomer, deleteCustomer, the retention job): propagate it —
     * a plugin deletes what it keeps about `customerId` (a CRM sync deletes the contact it maps to the id).
     * Followed by `customer.deleted`. Carries no personal value.
     */
    /** The person granted or withdrew consent (purpose MARKETING, SENSITIVE_DATA or CROSS_BORDER_TRANSFER; channel for marketing). Senders stop at once on a withdrawal. */
    "customer.consent_changed": { type: "customer.consent_changed"; tenantId: string; customerId: string; purpose: string; channel: string | null; granted: boolean };
    "customer.erased": { type: "customer.erased"; tenantId: string; customerId: string; erasureId: string; reason: string };
  }
}

export const CUSTOMER_EVENTS = ["customer.created", "customer.updated", "customer.deleted", "customer.merged", "customer.unmerged", "customer.consent_changed", "customer.erased"] as const;
