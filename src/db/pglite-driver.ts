import { EventEmitter } from "node:events";
import type { PGlite } from "@electric-sql/pglite";

/**
 * A `pg`-shaped driver module over one embedded PGlite database, for TypeORM's `postgres` dialect.
 *
 * PGlite is a single connection. TypeORM runs a transaction as BEGIN … COMMIT on a query runner's
 * connection, so two requests sharing that connection would interleave their statements inside each
 * other's transactions. This pool therefore hands the connection out exclusively: `connect()` waits
 * until the previous holder released it. (typeorm-pglite shares it without a lock, which is why we
 * do not use it.) Code inside a transaction must use the transaction's manager only — asking the pool
 * for a second connection there waits forever, just as a real pool of size 1 would.
 */
export function pgliteDriverModule(db: PGlite): { Pool: new (options?: unknown) => PGlitePool } {
  return {
    Pool: class extends PGlitePool {
      constructor() {
        super(db);
      }
    },
  };
}

type Callback = (err: Error | null, client?: PGliteClient, release?: (err?: unknown) => void) => void;

class PGliteClient extends EventEmitter {
  constructor(private readonly db: PGlite) {
    super();
  }

  /** `query(sql, params?)` → Promise, or node-postgres' callback forms `query(sql, cb)` / `query(sql, params, cb)`. */
  query(sql: string, paramsOrCb?: unknown[] | QueryCallback, cb?: QueryCallback) {
    const params = typeof paramsOrCb === "function" ? undefined : paramsOrCb;
    const callback = typeof paramsOrCb === "function" ? paramsOrCb : cb;
    const result = this.run(sql, params);
    if (!callback) return result;
    result.then(
      (r) => callback(null, r),
      (err: Error) => callback(err),
    );
    return undefined;
  }

  private async run(sql: string, params?: unknown[]) {
    // Without parameters use the simple protocol, which accepts several statements (migrations do).
    if (!params || params.length === 0) {
      const results = await this.db.exec(sql);
      return results[results.length - 1] ?? { rows: [], rowCount: 0, command: "" };
    }
    return this.db.query(sql, params);
  }
}

type QueryCallback = (err: Error | null, result?: unknown) => void;

export class PGlitePool extends EventEmitter {
  private tail: Promise<void> = Promise.resolve();
  private readonly client: PGliteClient;
  private ended = false;

  constructor(private readonly db: PGlite) {
    super();
    this.client = new PGliteClient(db);
  }

  connect(callback?: Callback): Promise<PGliteClient> | void {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const previous = this.tail;
    this.tail = previous.then(() => turn);
    const acquired = previous.then(() => {
      if (this.ended) {
        release();
        throw new Error("PGlite pool has ended");
      }
      let released = false;
      const done = () => {
        if (!released) {
          released = true;
          release();
        }
      };
      return { client: this.client, done };
    });
    if (callback) {
      acquired.then(
        ({ client, done }) => callback(null, client, done),
        (err: Error) => callback(err),
      );
      return;
    }
    return acquired.then(({ client }) => client);
  }

  async query(sql: string, params?: unknown[]) {
    const { client, done } = await new Promise<{ client: PGliteClient; done: () => void }>((resolve, reject) =>
      this.connect((err, client, done) => (err ? reject(err) : resolve({ client: client!, done: done! }))),
    );
    try {
      return await client.query(sql, params);
    } finally {
      done();
    }
  }

  end(callback?: (err?: Error | null) => void) {
    this.ended = true;
    this.tail
      .then(() => this.db.close())
      .then(
        () => callback?.(null),
        (err: Error) => callback?.(err),
      );
  }
}
