import type { TxCtx } from "../../core/context";
import { inTransaction } from "../../core/transaction";
import type { Ctx } from "../../core/context";

/**
 * A module's part in a person's rights (PIPL, GDPR): what it holds about customers, for a copy, and
 * how it removes or anonymizes that, for an erasure. Each module that stores personal data registers
 * one (`app.customers.personalData.register`) from its first commit; the privacy issue builds
 * `exportCustomerData` and `eraseCustomer` on top. Both steps are set-based: one call per hook for
 * all the customers concerned, in one transaction.
 */
export interface PersonalDataHook {
  /** Unique; the key of this module's section in the export document (e.g. `orders`). */
  name: string;
  /** What the module holds about each of these customers (local ids): one section value per customer that has any. */
  export?(tx: TxCtx, customerIds: readonly string[]): Promise<Map<string, unknown>>;
  /** Removes or anonymizes the module's personal data of these customers, in the erasure's transaction. */
  erase?(tx: TxCtx, customerIds: readonly string[]): Promise<void>;
}

/** An erase hook failed: the whole erasure is rolled back. */
export class PersonalDataHookFailed extends Error {
  constructor(
    readonly hook: string,
    readonly error: unknown,
  ) {
    super(`personal data hook ${hook} failed: ${(error as Error)?.message ?? String(error)}`);
  }
}

export class PersonalDataHooks {
  private readonly hooks: PersonalDataHook[] = [];

  register(hook: PersonalDataHook): void {
    if (this.hooks.some((h) => h.name === hook.name)) throw new Error(`Two personal data hooks are named "${hook.name}"`);
    this.hooks.push(hook);
  }

  /** The sections, in registration order. */
  get names(): string[] {
    return this.hooks.map((h) => h.name);
  }

  /**
   * Every registered module's data about these customers, read in one transaction (a consistent copy):
   * customer id → { section name → value }. A customer a module holds nothing about has no such section.
   */
  async export(ctx: Ctx, customerIds: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>(customerIds.map((id) => [id, {}]));
    if (!customerIds.length) return out;
    await inTransaction(ctx, async (tx) => {
      for (const hook of this.hooks) {
        if (!hook.export) continue;
        for (const [id, value] of await hook.export(tx, customerIds)) {
          const doc = out.get(id);
          if (doc) doc[hook.name] = value;
        }
      }
    });
    return out;
  }

  /** Runs every erase hook for these customers in `tx` (the caller's erasure transaction), in registration order. */
  async erase(tx: TxCtx, customerIds: readonly string[]): Promise<void> {
    if (!customerIds.length) return;
    for (const hook of this.hooks) {
      if (!hook.erase) continue;
      try {
        await hook.erase(tx, customerIds);
      } catch (err) {
        throw new PersonalDataHookFailed(hook.name, err);
      }
    }
  }
}
