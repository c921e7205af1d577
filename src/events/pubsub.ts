import { createPubSub } from "@graphql-yoga/subscription";
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Delivered, DomainEvent, DomainEventType, EventOf } from "./types";

/** Event types every instance must hear whatever the tenant (revoking a key closes its sockets everywhere). */
const BROADCAST: ReadonlySet<DomainEventType> = new Set(["api_key.revoked"]);
/** The topic key of broadcast events (tenant ids are uuids, so it cannot clash). */
export const ALL_TENANTS = "*";

/**
 * Fan-out of committed domain events to GraphQL subscriptions, keyed by event type and tenant.
 * In-process by default; with REDIS_URL, through Redis pub/sub, so that a subscriber connected to
 * any instance hears events dispatched by any other.
 */
export class PubSub {
  private readonly inner: ReturnType<typeof createPubSub<Record<string, [string, Delivered]>>>;

  private constructor(
    private readonly clients: Redis[] = [],
    config?: Parameters<typeof createPubSub<Record<string, [string, Delivered]>>>[0],
  ) {
    this.inner = createPubSub<Record<string, [string, Delivered]>>(config);
  }

  static inProcess(): PubSub {
    return new PubSub();
  }

  /** Redis-backed; resolves once both connections are up, so a bad REDIS_URL stops start with a reason. */
  static async redis(url: string, log: Logger): Promise<PubSub> {
    const options = { lazyConnect: true, maxRetriesPerRequest: 3, connectionName: "omnichannel-crm" };
    const publishClient = new Redis(url, options);
    const subscribeClient = new Redis(url, options);
    for (const client of [publishClient, subscribeClient]) client.on("error", (err: Error) => log.warn({ err: err.message }, "redis pub/sub connection error"));
    try {
      await Promise.all([publishClient.connect(), subscribeClient.connect()]);
    } catch (err) {
      publishClient.disconnect();
      subscribeClient.disconnect();
      throw new Error(`REDIS_URL: cannot connect (${(err as Error).message})`);
    }
    return new PubSub([publishClient, subscribeClient], { eventTarget: createRedisEventTarget({ publishClient, subscribeClient }) });
  }

  publish(event: Delivered): void {
    this.inner.publish(event.type, event.tenantId, event);
    if (BROADCAST.has(event.type)) this.inner.publish(event.type, ALL_TENANTS, event);
  }

  /** Events of `type` for `tenantId`, or every tenant's with ALL_TENANTS (broadcast types only). */
  subscribe<T extends DomainEventType>(type: T, tenantId: string): AsyncIterable<Delivered<EventOf<T>>> {
    return this.inner.subscribe(type, tenantId) as AsyncIterable<Delivered<EventOf<T>>>;
  }

  /** "in-process" or "redis", for /readyz. */
  get kind(): "in-process" | "redis" {
    return this.clients.length ? "redis" : "in-process";
  }

  /** For /readyz: whether Redis answers a PING (always true in-process). */
  async reachable(): Promise<boolean> {
    if (!this.clients.length) return true;
    try {
      return (await this.clients[0].ping()) === "PONG";
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

export type { DomainEvent };
