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
  /** An order became known (from its first event of any kind). Ids are local. */
  | { type: "order.created"; tenantId: string; orderId: string; channel: string; externalOrderId: string; customerId: string | null }
  /** Payment (or completion) of an order became known. `total` in minor units of `currency`. */
  | { type: "order.paid"; tenantId: string; orderId: string; customerId: string | null; total: number; currency: string | null }
  /** New refunds of an order: `amount` is what they add, `refunded` the order's refunded amount now (at most its total). */
  | { type: "order.refunded"; tenantId: string; orderId: string; customerId: string | null; amount: number; refunded: number; status: string }
  | { type: "order.cancelled"; tenantId: string; orderId: string; customerId: string | null }
  /** A customer's order stats (count, spend, dates) changed; read them with Customer.stats. */
  | { type: "customer.stats_changed"; tenantId: string; customerId: string }
  /** A channel connection was created, changed, disabled or enabled again (`connectionId` is the local id). */
  | { type: "channel_connection.changed"; tenantId: string; connectionId: string; channel: string; change: "created" | "updated" | "disabled" | "enabled" };

export type DomainEventType = DomainEvent["type"];

/**
 * Who caused an event, so an integration can recognise its own writes (a CRM sync must not echo what
 * it wrote): a channel (webhook, `ingestEvents`, a plugin's `ctx.ingest`), an API key, the operator,
 * or the server itself (a job, an import, a plugin acting on its own).
 */
export type EventSource =
  | { kind: "channel"; channel: string; connectionId: string | null }
  | { kind: "api_key"; keyId: string }
  | { kind: "platform" }
  | { kind: "system"; actor: string };

/** The shape version of every domain event; a breaking change of an event's fields bumps it. */
export const DOMAIN_EVENT_VERSION = 1;
export type EventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/** A dispatched event: the outbox row id is its stable identity (handlers may see it twice). */
export type Delivered<E extends DomainEvent = DomainEvent> = E & { eventId: string; occurredAt: string; version: number; source: EventSource };
