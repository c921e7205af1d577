import { createPubSub } from "@graphql-yoga/subscription";
import type { Delivered, DomainEvent, DomainEventType, EventOf } from "./types";

/**
 * Fan-out of committed domain events to GraphQL subscriptions, keyed by event type and tenant.
 * In-process by default; `createPubSub` takes an `eventTarget`, so a Redis-backed target
 * (`@graphql-yoga/redis-event-target`) spreads it across instances without touching callers.
 */
export class PubSub {
  private readonly inner = createPubSub<Record<string, [string, Delivered]>>();

  publish(event: Delivered): void {
    this.inner.publish(event.type, event.tenantId, event);
  }

  subscribe<T extends DomainEventType>(type: T, tenantId: string): AsyncIterable<Delivered<EventOf<T>>> {
    return this.inner.subscribe(type, tenantId) as AsyncIterable<Delivered<EventOf<T>>>;
  }
}

export type { DomainEvent };
