import pino, { type Logger } from "pino";

import type { KeyValueStore, PluginContext } from "../types";

/** Options of {@link testPluginContext}. */
export interface TestPluginContextOptions {
  /** The clock TTLs are measured against, in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Default: a silent pino logger. */
  log?: Logger;
}

/**
 * A {@link KeyValueStore} in memory with the host's semantics: values are JSON (stored as a copy,
 * so later mutation of the object does not change what was stored), `ttlSeconds` expires a key,
 * and `setIfAbsent` treats an expired key as absent.
 */
export class InMemoryKeyValueStore implements KeyValueStore {
  private readonly entries = new Map<string, { json: string; expiresAt?: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const entry = this.live(key);
    return entry === undefined ? undefined : (JSON.parse(entry.json) as T);
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.entries.set(key, this.entry(value, ttlSeconds));
  }

  async setIfAbsent(key: string, value: unknown, ttlSeconds?: number): Promise<boolean> {
    const entry = this.entry(value, ttlSeconds);
    if (this.live(key) !== undefined) return false;
    this.entries.set(key, entry);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  /** Live (unexpired) keys, for assertions. */
  keys(): string[] {
    return [...this.entries.keys()].filter((k) => this.live(k) !== undefined);
  }

  private live(key: string) {
    const entry = this.entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private entry(value: unknown, ttlSeconds: number | undefined) {
    if (ttlSeconds !== undefined && !(Number.isFinite(ttlSeconds) && ttlSeconds > 0)) {
      throw new RangeError(`ttlSeconds must be a positive number of seconds, got ${ttlSeconds}`);
    }
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError("KeyValueStore values must be JSON (got undefined, a function or a symbol)");
    return { json, expiresAt: ttlSeconds === undefined ? undefined : this.now() + ttlSeconds * 1000 };
  }
}

/** A {@link PluginContext} with in-memory state, for adapter tests; see {@link testPluginContext}. */
export interface TestPluginContext<C = unknown> extends PluginContext<C> {
  state(connectionId: string): InMemoryKeyValueStore;
}

/**
 * A minimal {@link PluginContext} for calling `verify` and `handshake` in tests: a silent logger and
 * an in-memory state store per connection id (the same store for the same id, TTLs honoured).
 * `ingest`, `customers.findByIdentity` and `connections` need the server and throw
 * "… is not available in the conformance kit"; test those paths through the host instead.
 */
export function testPluginContext<C = unknown>(options: TestPluginContextOptions = {}): TestPluginContext<C> {
  const now = options.now ?? Date.now;
  const stores = new Map<string, InMemoryKeyValueStore>();
  const unavailable = (what: string) => () => Promise.reject(new Error(`${what} is not available in the conformance kit`));
  return {
    log: options.log ?? pino({ level: "silent" }),
    state(connectionId) {
      let store = stores.get(connectionId);
      if (!store) stores.set(connectionId, (store = new InMemoryKeyValueStore(now)));
      return store;
    },
    ingest: unavailable("ctx.ingest"),
    customers: {
      findByIdentity: unavailable("ctx.customers.findByIdentity"),
      get: unavailable("ctx.customers.get"),
      identities: unavailable("ctx.customers.identities"),
    },
    connections: unavailable("ctx.connections"),
  };
}
