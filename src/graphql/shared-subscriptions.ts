import { print, subscribe, type ExecutionArgs, type ExecutionResult } from "graphql";
import type { RequestCtx } from "../core/context";

/**
 * Subscriptions that would compute the same thing share one execution. Subscribers whose operation,
 * variables, tenant and scopes are the same — what decides a result: resolvers filter by tenant and
 * arguments, and authorization by scopes — are one group: the first subscriber's execution runs once
 * per event and every member gets its result. 10,000 identical `customerUpdated` subscriptions cost
 * one execution per event, not 10,000. Never shared across tenants or different scopes.
 *
 * Each member has its own queue: a member that falls more than `maxBehind` results behind (its socket
 * does not drain) is dropped with `onTooSlow`, so it never holds the others.
 */
export interface SharedSubscriptionsOptions {
  maxBehind?: number;
  /** Called for a member dropped for falling behind (the server closes its socket). */
  onTooSlow(ctx: RequestCtx): void;
  /** Counts executions, for /metrics and tests. */
  onExecution?(): void;
}

type Source = AsyncIterator<ExecutionResult>;

interface Member {
  ctx: RequestCtx;
  queue: ExecutionResult[];
  wake: (() => void) | null;
  done: boolean;
}

interface Group {
  members: Set<Member>;
  source: Source | null;
  pumping: Promise<void> | null;
}

function stable(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "undefined";
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  return `{${Object.keys(value as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
    .join(",")}}`;
}

/** What makes two subscriptions compute the same results. */
export function groupKey(args: ExecutionArgs): string | null {
  const ctx = args.contextValue as RequestCtx;
  const p = ctx.principal;
  if (p.kind !== "api_key") return null; // the operator's and the system's subscriptions are not shared
  return [p.tenantId, [...p.scopes].sort().join(" "), args.operationName ?? "", print(args.document), stable(args.variableValues ?? {})].join("\u0000");
}

export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  private readonly maxBehind: number;

  constructor(private readonly options: SharedSubscriptionsOptions) {
    this.maxBehind = options.maxBehind ?? 1000;
  }

  /** How many groups are open (tests, metrics). */
  get size(): number {
    return this.groups.size;
  }

  /** graphql-ws's `subscribe`: joins the group of an identical subscription, or starts one. */
  async subscribe(args: ExecutionArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const key = groupKey(args);
    if (key === null) return this.counted(await subscribe(args));
    let group = this.groups.get(key);
    if (!group) {
      // The first member's execution serves the group (its context is as good as any member's: same tenant, same scopes).
      const result = this.counted(await subscribe(args));
      if (!isAsyncIterable(result)) return result; // errors before the stream started: this subscriber's alone
      group = this.groups.get(key); // another identical subscription may have started meanwhile
      if (group) {
        void result[Symbol.asyncIterator]().return?.()?.catch(() => undefined);
      } else {
        group = { members: new Set(), source: result[Symbol.asyncIterator](), pumping: null };
        this.groups.set(key, group);
      }
    }
    return this.join(key, group, args.contextValue as RequestCtx);
  }

  private counted<T>(result: T): T {
    if (!isAsyncIterable(result)) return result;
    // Each result the source yields is one execution of the subscription's selection.
    const onExecution = this.options.onExecution;
    if (!onExecution) return result;
    const inner = (result as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator]();
    // Iterator and iterable at once, as graphql-js's results are: graphql-ws ends a subscription by
    // calling `return` on what `subscribe` gave it.
    const it: AsyncIterableIterator<ExecutionResult> = {
      next: async () => {
        const r = await inner.next();
        if (!r.done) onExecution();
        return r;
      },
      return: async () => (await inner.return?.()) ?? { done: true, value: undefined },
      [Symbol.asyncIterator]: () => it,
    };
    return it as unknown as T;
  }

  private join(key: string, group: Group, ctx: RequestCtx): AsyncIterableIterator<ExecutionResult> {
    const member: Member = { ctx, queue: [], wake: null, done: false };
    group.members.add(member);
    group.pumping ??= this.pump(key, group);
    const leave = async () => {
      member.done = true;
      member.wake?.();
      group.members.delete(member);
      if (!group.members.size && this.groups.get(key) === group) {
        this.groups.delete(key);
        // Not awaited: an async generator's return waits for its pending next (the next event) to settle.
        void group.source?.return?.()?.catch(() => undefined);
      }
    };
    // Iterator and iterable at once: graphql-ws ends a subscription by calling `return` on it.
    const it: AsyncIterableIterator<ExecutionResult> = {
      next: async (): Promise<IteratorResult<ExecutionResult>> => {
        for (;;) {
          if (member.queue.length) return { done: false, value: member.queue.shift()! };
          if (member.done) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (member.wake = resolve));
          member.wake = null;
        }
      },
      return: async (): Promise<IteratorResult<ExecutionResult>> => {
        await leave();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** Reads the group's source and hands each result to every member. */
  private async pump(key: string, group: Group): Promise<void> {
    try {
      for (;;) {
        const r = await group.source!.next();
        if (r.done) break;
        for (const m of group.members) {
          if (m.queue.length >= this.maxBehind) {
            group.members.delete(m);
            m.done = true;
            m.queue.length = 0;
            m.wake?.();
            this.options.onTooSlow(m.ctx);
            continue;
          }
          m.queue.push(r.value);
          m.wake?.();
        }
        if (!group.members.size) break;
      }
    } finally {
      if (this.groups.get(key) === group) this.groups.delete(key);
      for (const m of group.members) {
        m.done = true;
        m.wake?.();
      }
    }
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<ExecutionResult> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v;
}
