/**
 * Domain events: what happened, after it committed. Small and serializable — they travel through
 * the outbox table, the PubSub and plugins' handlers. Add a variant here when a module starts
 * announcing something new.
 */
export type DomainEvent =
  | { type: "customer.created"; tenantId: string; customerId: string }
  | { type: "customer.updated"; tenantId: string; customerId: string; changed: string[] }
  | { type: "customer.deleted"; tenantId: string; customerId: string }
  | { type: "customer.merged"; tenantId: string; customerId: string; sourceId: string; mergeId: string }
  | { type: "customer.unmerged"; tenantId: string; customerId: string; sourceId: string; mergeId: string }
  | { type: "api_key.revoked"; tenantId: string; keyId: string }
  /** A channel connection was created, changed, disabled or enabled again (`connectionId` is the local id). */
  | { type: "channel_connection.changed"; tenantId: string; connectionId: string; channel: string; change: "created" | "updated" | "disabled" | "enabled" };

export type DomainEventType = DomainEvent["type"];
export type EventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/** A dispatched event: the outbox row id is its stable identity (handlers may see it twice). */
export type Delivered<E extends DomainEvent = DomainEvent> = E & { eventId: string; occurredAt: string };
