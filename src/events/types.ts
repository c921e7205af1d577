/**
 * Domain events: what happened, after it committed. Small and serializable — they travel through
 * the outbox table, the PubSub and plugins' handlers. Each module declares the events it emits in its
 * own `events.ts`, by adding entries (type → fields) to this map:
 *
 *   declare module "../../events/types" {
 *     interface DomainEventMap { "customer.created": { type: "customer.created"; tenantId: string; customerId: string } }
 *   }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface DomainEventMap {}

export type DomainEvent = DomainEventMap[keyof DomainEventMap];

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
