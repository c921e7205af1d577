/** The events the tenancy module emits (see DomainEventMap). */
declare module "../../events/types" {
  interface DomainEventMap {
    /** An API key was revoked: subscriptions authorized by it are closed on every instance. */
    "api_key.revoked": { type: "api_key.revoked"; tenantId: string; keyId: string };
    /** A tenant's settings changed: `changed` names the fields (`currency`, `timeZone`, `locale`, `defaultPhoneRegion`). */
    "tenant.settings_changed": { type: "tenant.settings_changed"; tenantId: string; changed: string[] };
  }
}

export const TENANCY_EVENTS = ["api_key.revoked", "tenant.settings_changed"] as const;
