import type { TxCtx } from "../../core/context";
import type { NormalizedEvent, NormalizedEventType } from "../../plugins/events";
import type { OrderChange } from "../orders";

/** What one ingested batch changed, handed to every ingestion hook set-based (never per event). */
export interface IngestionChanges {
  /** The channel and connection the batch came through. */
  channel: string;
  connectionId: string | null;
  /** Orders the batch created or changed, with what they were before (payment, cancellation, refunds). */
  orders: OrderChange[];
  /** Customers whose order stats changed (already recomputed). */
  statsChanged: string[];
  customers: {
    created: string[];
    /** Profile changes, by field (sightings are not changes). */
    updated: { id: string; changed: string[] }[];
    /** Customers the batch merged: `sourceId` now lives on as `targetId`. */
    merged: { sourceId: string; targetId: string }[];
  };
  /** The batch's accepted events of the types the hook asked for, in request order, with their customer. */
  events: { externalId: string; event: NormalizedEvent; customerId: string | null }[];
}

/**
 * A module's part in the ingestion transaction (loyalty's points on a paid order, segments marking
 * changed customers, tickets from messages). It runs after customers, orders and stats are written and
 * before the batch's outbox rows, in the same transaction: what it writes commits with the batch or
 * not at all, and it may `tx.emit` domain events of its own. It must use one statement per step for
 * the whole batch, never one per event.
 */
export interface IngestionHook {
  /** Unique; names the hook in logs and errors. */
  name: string;
  /** Event types whose accepted events the hook wants in `changes.events` (none: it gets none). */
  eventTypes?: readonly NormalizedEventType[];
  /**
   * Runs after every hook without it: for hooks that read what others write in the batch (segments,
   * whose conditions read lifecycle stages and tiers that analytics and loyalty update in the same batch).
   */
  last?: boolean;
  run(tx: TxCtx, changes: IngestionChanges): Promise<void>;
}

/** A hook failed: the batch is rolled back and the channel told to retry (never taken for the data's fault). */
export class IngestionHookFailed extends Error {
  constructor(
    readonly hook: string,
    readonly error: unknown,
  ) {
    super(`ingestion hook ${hook} failed: ${(error as Error)?.message ?? String(error)}`);
  }
}

/** The hooks of the ingestion pipeline, in registration order. */
export class IngestionHooks {
  private readonly hooks: IngestionHook[] = [];

  register(hook: IngestionHook): void {
    if (this.hooks.some((h) => h.name === hook.name)) throw new Error(`Two ingestion hooks are named "${hook.name}"`);
    this.hooks.push(hook);
  }

  get size(): number {
    return this.hooks.length;
  }

  /** Event types any hook wants: the pipeline collects only those. */
  wanted(): Set<NormalizedEventType> {
    return new Set(this.hooks.flatMap((h) => [...(h.eventTypes ?? [])]));
  }

  async run(tx: TxCtx, changes: Omit<IngestionChanges, "events">, accepted: IngestionChanges["events"]): Promise<void> {
    const ordered = [...this.hooks.filter((h) => !h.last), ...this.hooks.filter((h) => h.last)];
    for (const hook of ordered) {
      const types = new Set(hook.eventTypes ?? []);
      const events = types.size ? accepted.filter((e) => types.has(e.event.type)) : [];
      try {
        await hook.run(tx, { ...changes, events });
      } catch (err) {
        throw new IngestionHookFailed(hook.name, err);
      }
    }
  }
}
