import { sourceOf, type Ctx, type TxCtx } from "./context";
import { DOMAIN_EVENT_VERSION, type DomainEvent, type EventSource } from "../events/types";

/**
 * Runs `fn` in one database transaction. Events emitted inside are written to the outbox in the
 * same transaction and dispatched only after it commits, so subscribers never hear of a change
 * that rolled back, and a crash after commit loses nothing (the outbox is replayed at start).
 */
export async function inTransaction<T>(ctx: Ctx, fn: (tx: TxCtx) => Promise<T>): Promise<T> {
  const { dataSource } = ctx.app.db;
  let emitted = 0;
  const result = await dataSource.transaction(async (manager) => {
    const events: (DomainEvent & { version: number; source: EventSource })[] = [];
    const source = sourceOf(ctx.principal);
    const tx: TxCtx = { ...ctx, manager, emit: (e, from) => void events.push({ ...e, version: DOMAIN_EVENT_VERSION, source: from ?? source }) };
    const value = await fn(tx);
    if (events.length) await ctx.app.outbox.write(manager, events);
    emitted = events.length;
    return value;
  });
  if (emitted) ctx.app.outbox.kick();
  return result;
}

/** Marks a transaction for rollback from inside `fn` while returning a value (e.g. userErrors found late). */
export class Rollback<T> extends Error {
  constructor(readonly value: T) {
    super("rollback");
  }
}

export async function inTransactionOrRollback<T>(ctx: Ctx, fn: (tx: TxCtx) => Promise<T>): Promise<T> {
  try {
    return await inTransaction(ctx, fn);
  } catch (err) {
    if (err instanceof Rollback) return err.value as T;
    throw err;
  }
}
