/** The events the tenancy module emits (see DomainEventMap). */
declare module "../../events/types" {
  interface DomainEventMap {
    /** An API key was revoked: subscriptions authorized by it are closed on every instance. */
    "api_key.revoked": { type: "api_key.revoked"; tenantId: string; keyId: string };
  }
}

export const TENANCY_EVENTS = ["api_key.revoked"] as const;
