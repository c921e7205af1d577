import { QueryFailedError } from "typeorm";
import type { App } from "../../app";
import { tenantOf, type Ctx, type TxCtx } from "../../core/context";
import { lockKeys } from "../../core/locks";
import { storableText } from "../../core/storable";
import { inTransaction, inTransactionOrRollback } from "../../core/transaction";
import type { OrderEvent } from "../../plugins/events";
import type { IngestResult } from "../../plugins/types";
import type { IdentityTypeName } from "../../plugins/identity";
import { fail, ok, userError, UserErrorCode, type Result, type UserError } from "../../core/user-error";
import { localId } from "../../core/global-id";
import { applyProfile, BatchState, identityLockKey, type Customer, type CustomerMerge, type MergeHook, type PersonalDataHook } from "../customers";
import { IdentityConflict } from "./conflict-entity";
import type { OrderEventItem } from "../orders";
import { IngestionHookFailed, IngestionHooks } from "./hooks";
import { IdentityConflicts } from "./conflicts";
import { prepareEvent, type PreparedEvent } from "./prepare";
import { identitySettings, validateIdentitySettings, type IdentitySettings, type IdentitySettingsPatch } from "./settings";

/** Most events one `ingestEvents` call may carry. */
export const MAX_EVENTS_PER_CALL = 1000;

export interface IngestSource {
  /** The channel the events came through (a plugin name, or "api" / "import"). */
  channel: string;
  connectionId: string | null;
}

type Idn = { type: IdentityTypeName; value: string };
/** An identity conflict found while resolving a batch, written to identity_conflicts at its end. */
type FoundConflict = { externalId: string; identities: Idn[]; customerIds: string[]; reason: string };
/** The digest an erased event's key is kept as (SHA-256 of its UTF-8 bytes; built into PostgreSQL 11+ and PGlite). */
const KEY_DIGEST_SQL = (column: string) => `sha256(convert_to(${column}, 'UTF8'))`;

/** After a CTE `gone(channel, external_id)` of deleted events of tenant `$1`: keeps their keys as digests only. */
const KEEP_ERASED_KEYS = `INSERT INTO erased_event_keys (tenant_id, channel, key_digest) SELECT $1, channel, ${KEY_DIGEST_SQL("external_id")} FROM gone ON CONFLICT DO NOTHING`;

const RETRYABLE = new Set(["40P01", "40001"]); // deadlock, serialization failure

function sqlState(err: unknown): string | undefined {
  if (err instanceof IngestionHookFailed) return sqlState(err.error); // a deadlock in a hook is retried like any
  if (!(err instanceof QueryFailedError)) return undefined;
  const driverError = (err as QueryFailedError & { driverError?: { code?: unknown } }).driverError;
  const code = driverError?.code ?? (err as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The database's refusal when it is about the data rather than the server: SQLSTATE class 22 (data
 * exception: bad encoding, out-of-range date or number, invalid JSON escape), 23502/23514 (a value a
 * column's constraint refuses) and class 54 (program limit exceeded: nesting, index row size).
 * Unique violations (23505) are races between batches, retried by the channel, not the data's fault.
 */
function dataFault(err: unknown): { code: string; message: string } | null {
  if (err instanceof IngestionHookFailed) return null; // a module's failure, retried as a whole
  const code = sqlState(err);
  if (!code || !(code.startsWith("22") || code === "23502" || code === "23514" || code.startsWith("54"))) return null;
  return { code, message: storableText((err as Error).message).slice(0, 200) };
}

/** What IngestionService uses of the app, and nothing more. */
export type IngestionDeps = Pick<App, "channels" | "customers" | "db" | "metrics" | "orders" | "tenancy" | "clock" | "dataKeys">;

/**
 * The ingestion pipeline: per batch, in one transaction — dedupe on (tenant, channel, externalId),
 * resolve identities to customers (create, attach, merge, or record a conflict), apply to modules,
 * write outbox rows. A bad event is rejected with its reason and does not sink the batch; a replay
 * is a duplicate and changes nothing.
 */
export class IngestionService {
  readonly conflicts: IdentityConflicts;
  /** Modules' parts in the batch transaction (see hooks.ts). */
  readonly hooks = new IngestionHooks();

  constructor(private readonly app: IngestionDeps) {
    this.conflicts = new IdentityConflicts(app);
  }

  /** Keeps ingested events pointing at the customer that absorbed their owner (and back on unmerge). */
  readonly mergeHook: MergeHook = {
    name: "ingested_events",
    move: async (tx, sourceId, targetId) => {
      const [rows] = await tx.manager.query(
        `UPDATE ingested_events SET customer_id = $1 WHERE tenant_id = $2 AND customer_id = $3 RETURNING channel, external_id`,
        [targetId, tenantOf(tx), sourceId],
      );
      return (rows as { channel: string; external_id: string }[]).map((r) => JSON.stringify([r.channel, r.external_id]));
    },
    restore: async (tx, ids, sourceId) => {
      if (!ids.length) return;
      const pairs = ids.map((id) => JSON.parse(id) as [string, string]);
      await tx.manager.query(
        `UPDATE ingested_events e SET customer_id = $1 FROM unnest($3::text[], $4::text[]) AS x(channel, external_id)
          WHERE e.tenant_id = $2 AND e.channel = x.channel AND e.external_id = x.external_id`,
        [sourceId, tenantOf(tx), pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      );
    },
  };

  /**
   * The customers' part of the ingested events and identity conflicts: exported as received, and on erasure
   * gone — an event leaves only a digest of its key in `erased_event_keys` (some channels' keys name the person,
   * and a replay must still be a duplicate), a conflict that involved the person is deleted (it is moot).
   */
  readonly personalDataHooks: PersonalDataHook[] = [
    {
      name: "events",
      export: async (tx, ids) => {
        const rows: { customer_id: string; channel: string; type: string; external_id: string; occurred_at: Date; received_at: Date; payload: unknown }[] = await tx.manager.query(
          `SELECT customer_id, channel, type, external_id, occurred_at, received_at, payload FROM ingested_events
            WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) ORDER BY occurred_at, channel, external_id`,
          [tenantOf(tx), ids],
        );
        const out = new Map<string, unknown[]>();
        for (const r of rows) {
          const e = { channel: r.channel, type: r.type, externalId: r.external_id, occurredAt: r.occurred_at, receivedAt: r.received_at, payload: this.app.dataKeys.decryptJson(r.payload) };
          out.set(r.customer_id, [...(out.get(r.customer_id) ?? []), e]);
        }
        return out;
      },
      erase: async (tx, ids) => {
        await tx.manager.query(
          `WITH gone AS (DELETE FROM ingested_events WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) RETURNING channel, external_id)
           ${KEEP_ERASED_KEYS}`,
          [tenantOf(tx), ids],
        );
      },
    },
    {
      name: "conflicts",
      export: async (tx, ids) => {
        const rows = await tx.manager
          .createQueryBuilder(IdentityConflict, "c")
          .where("c.tenantId = :tenantId AND c.customer_ids && :ids::uuid[]", { tenantId: tenantOf(tx), ids })
          .orderBy("c.createdAt", "ASC")
          .addOrderBy("c.id", "ASC")
          .getMany();
        const out = new Map<string, unknown[]>();
        for (const c of rows) {
          for (const id of c.customerLocalIds.filter((x) => ids.includes(x))) {
            const record = { channel: c.channel, externalId: c.externalId, identities: c.identityValues, reason: c.reason, createdAt: c.createdAt, resolvedAt: c.resolvedAt };
            out.set(id, [...(out.get(id) ?? []), record]);
          }
        }
        return out;
      },
      erase: async (tx, ids) => {
        // The event of a conflict names the person though it was given to someone else (its key may, too): it
        // goes like the person's own events; the other customer's profile keeps what the event gave it.
        await tx.manager.query(
          `WITH c AS (DELETE FROM identity_conflicts WHERE tenant_id = $1 AND customer_ids && $2::uuid[] RETURNING channel, external_id),
                gone AS (DELETE FROM ingested_events e USING c WHERE e.tenant_id = $1 AND e.channel = c.channel AND e.external_id = c.external_id RETURNING e.channel, e.external_id)
           ${KEEP_ERASED_KEYS}`,
          [tenantOf(tx), ids],
        );
      },
    },
  ];

  /**
   * Strips the payloads of events received more than each tenant's `eventPayloadRetentionDays` ago down to
   * what dedupe needs — the row stays (channel, key, type, times, customer), the payload becomes `{}` — so the
   * raw personal values a channel sent are not kept longer than necessary. One statement per tenant; the daily
   * job (`crm.ingestion.strip-payloads`) calls it. Returns how many events were stripped.
   */
  async stripOldPayloads(): Promise<number> {
    let stripped = 0;
    const now = this.app.clock.now().getTime();
    for (const { tenantId, settings } of await this.app.tenancy.settings.all()) {
      const cutoff = new Date(now - settings.eventPayloadRetentionDays * 86_400_000);
      const [, n]: [unknown, number] = await this.app.db.dataSource.query(
        `UPDATE ingested_events SET payload = '{}'::jsonb WHERE tenant_id = $1 AND received_at < $2 AND payload <> '{}'::jsonb`,
        [tenantId, cutoff],
      );
      stripped += n;
    }
    return stripped;
  }

  async settings(tenantId: string): Promise<IdentitySettings> {
    return (await this.tenantSettings(tenantId)).identity;
  }

  /** Changes the tenant's identity rules (the `identity` section of its settings, merged in one statement). */
  async updateSettings(ctx: Ctx, input: IdentitySettingsPatch): Promise<Result<IdentitySettings>> {
    const tenantId = tenantOf(ctx);
    const { stored, errors } = validateIdentitySettings(input, (await this.app.tenancy.settings.get(tenantId)).defaultPhoneRegion);
    if (errors.length) return fail(...errors);
    return ok(identitySettings(await this.app.tenancy.settings.mergeSection(tenantId, "identity", stored)));
  }

  /** The tenant's identity rules and phone region, from one read of its settings. */
  private async tenantSettings(tenantId: string): Promise<{ identity: IdentitySettings; phoneRegion: string }> {
    const { settings, section } = await this.app.tenancy.settings.read(tenantId);
    return { identity: identitySettings(section("identity")), phoneRegion: settings.defaultPhoneRegion };
  }

  /**
   * `ingestEvents`: a batch sent through one of the tenant's connections (by global id), which must be
   * enabled; at most MAX_EVENTS_PER_CALL events. What fails the call as a whole comes back as user errors;
   * each event then gets its own result. A module's hook failing throws IngestionHookFailed (retry later).
   */
  async ingestThrough(ctx: Ctx, connectionGlobalId: string, events: readonly unknown[]): Promise<Result<IngestResult[]>> {
    const errors: UserError[] = [];
    const id = localId(connectionGlobalId, "ChannelConnection");
    const connection = id ? await this.app.channels.byId(ctx, id) : null;
    if (!connection) errors.push(userError(["connectionId"], UserErrorCode.NOT_FOUND, "No such channel connection"));
    else if (!connection.enabled) errors.push(userError(["connectionId"], UserErrorCode.CONFLICT, "The connection is disabled"));
    if (events.length > MAX_EVENTS_PER_CALL) errors.push(userError(["events"], UserErrorCode.TOO_MANY, `At most ${MAX_EVENTS_PER_CALL} events per call`));
    if (errors.length || !connection) return fail(...errors);
    return ok(await this.ingest(ctx, { channel: connection.channel, connectionId: connection.id }, events));
  }

  /** `mergeCustomers`: folds the source into the target by hand, under the tenant's identity limits; undoable. */
  async mergeByHand(ctx: Ctx, targetGlobalId: string, sourceGlobalId: string): Promise<Result<{ merge: CustomerMerge; customer: Customer | null }>> {
    const targetId = localId(targetGlobalId, "Customer");
    const sourceId = localId(sourceGlobalId, "Customer");
    if (!targetId) return fail(userError(["targetId"], UserErrorCode.NOT_FOUND, "No such customer"));
    if (!sourceId) return fail(userError(["sourceId"], UserErrorCode.NOT_FOUND, "No such customer"));
    const limits = (await this.settings(tenantOf(ctx))).limits;
    return inTransactionOrRollback(ctx, async (tx) => {
      const m = await this.app.customers.merges.merge(tx, targetId, sourceId, { reason: "manual" }, limits);
      if (!m.ok) return m;
      return ok({ merge: m.value, customer: (await this.app.customers.byIds(tenantOf(ctx), [targetId], tx.manager))[0] ?? null });
    });
  }

  /** `unmergeCustomer`: restores both customers and what each owned before the merge. */
  unmerge(ctx: Ctx, mergeGlobalId: string): Promise<Result<{ target: Customer; source: Customer }>> {
    const mergeId = localId(mergeGlobalId, "CustomerMerge");
    if (!mergeId) return Promise.resolve(fail(userError(["mergeId"], UserErrorCode.NOT_FOUND, "No such merge")));
    return inTransactionOrRollback(ctx, (tx) => this.app.customers.merges.unmerge(tx, mergeId));
  }

  async ingest(ctx: Ctx, source: IngestSource, inputs: readonly unknown[]): Promise<IngestResult[]> {
    const timer = this.app.metrics.ingestBatchSeconds.startTimer({ channel: source.channel });
    const results = await this.ingestBatch(ctx, source, inputs);
    timer();
    const counts = new Map<string, number>();
    for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    for (const [status, n] of counts) this.app.metrics.ingestedEvents.inc({ channel: source.channel, status }, n);
    return results;
  }

  private async ingestBatch(ctx: Ctx, source: IngestSource, inputs: readonly unknown[]): Promise<IngestResult[]> {
    const tenantId = tenantOf(ctx);
    const { identity: settings, phoneRegion } = await this.tenantSettings(tenantId);
    const results: IngestResult[] = new Array(inputs.length);
    const batch: PreparedEvent[] = [];
    const seen = new Set<string>();
    inputs.forEach((input, index) => {
      const p = prepareEvent(input, index, settings, phoneRegion);
      if (!p.ok) results[index] = { externalId: p.externalId, status: "rejected", reason: p.reason };
      else if (seen.has(p.value.event.externalId)) results[index] = { externalId: p.value.event.externalId, status: "duplicate" };
      else {
        seen.add(p.value.event.externalId);
        batch.push(p.value);
      }
    });
    if (batch.length) await this.commit(ctx, source, batch, settings, results);
    return results;
  }

  /**
   * Applies `batch` in one transaction and records each event's result. When the database refuses the
   * batch for a reason that lies in its data (a value it cannot store that validation did not foresee),
   * the batch is split in halves and each retried on its own, down to the offending events, which are
   * rejected with the database's reason: the good events land. Anything else (database down, lock
   * timeout) is thrown, so the channel retries the whole request.
   */
  private async commit(ctx: Ctx, source: IngestSource, batch: PreparedEvent[], settings: IdentitySettings, results: IngestResult[]): Promise<void> {
    try {
      const accepted = await this.applyRetryingConflicts(ctx, source, batch, settings);
      for (const p of batch) {
        results[p.index] = { externalId: p.event.externalId, status: accepted.has(p.event.externalId) ? "accepted" : "duplicate" };
      }
    } catch (err) {
      const cause = dataFault(err);
      if (!cause) throw err;
      if (batch.length === 1) {
        ctx.log.warn({ sqlState: cause.code, channel: source.channel }, "event refused by the database; rejected");
        results[batch[0].index] = { externalId: batch[0].event.externalId, status: "rejected", reason: `the database cannot store this event: ${cause.message}` };
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.commit(ctx, source, batch.slice(0, half), settings, results);
      await this.commit(ctx, source, batch.slice(half), settings, results);
    }
  }

  private async applyRetryingConflicts(ctx: Ctx, source: IngestSource, batch: PreparedEvent[], settings: IdentitySettings): Promise<Set<string>> {
    for (let attempt = 1; ; attempt++) {
      try {
        // Everything the batch announces — customers, merges, orders — names the channel it came through.
        const from = { kind: "channel" as const, channel: source.channel, connectionId: source.connectionId };
        return await inTransaction(ctx, (tx) => this.apply({ ...tx, emit: (e, s) => tx.emit(e, s ?? from) }, source, batch, settings));
      } catch (err) {
        const code = sqlState(err);
        if (!code || !RETRYABLE.has(code) || attempt >= 5) throw err;
        ctx.log.debug({ attempt, code }, "ingest transaction retried");
      }
    }
  }

  private async apply(tx: TxCtx, source: IngestSource, batch: PreparedEvent[], settings: IdentitySettings): Promise<Set<string>> {
    const tenantId = tenantOf(tx);
    const m = tx.manager;
    const keys = this.app.dataKeys;
    // 1. Idempotency: only events whose key is new go on.
    const claimed: { external_id: string }[] = await m.query(
      `INSERT INTO ingested_events (tenant_id, channel, external_id, connection_id, type, occurred_at, payload)
       SELECT $1, $2, x.external_id, $3, x.type, x.occurred_at, x.payload
         FROM jsonb_to_recordset($4::jsonb) AS x(external_id text, type text, occurred_at timestamptz, payload jsonb)
        WHERE NOT EXISTS (SELECT 1 FROM erased_event_keys k WHERE k.tenant_id = $1 AND k.channel = $2 AND k.key_digest = ${KEY_DIGEST_SQL("x.external_id")})
       ON CONFLICT DO NOTHING RETURNING external_id`,
      // The event as received holds personal values: its payload is kept encrypted (CRM_DATA_KEY).
      [tenantId, source.channel, source.connectionId, JSON.stringify(batch.map((p) => ({ external_id: p.event.externalId, type: p.event.type, occurred_at: p.at, payload: keys.encryptJson(p.event) })))],
    );
    const accepted = new Set(claimed.map((r) => r.external_id));
    const todo = batch.filter((p) => accepted.has(p.event.externalId));
    if (!todo.length) return accepted;

    // 2. Serialize only what must be: the identity keys this batch touches, locked in sorted order.
    const identities = uniqueIdentities(todo);
    await lockKeys(m, "identity", tenantId, identities.map((i) => identityLockKey(i.type, i.value)));

    // 3. Resolve identities against one read of the owners.
    const state = await BatchState.load(m, tenantId, identities, keys);
    const eventCustomer = new Map<string, string>();
    const orderItems: OrderEventItem[] = [];
    const conflicts: FoundConflict[] = [];

    for (const p of todo) {
      const customerId = p.identities.length ? await this.resolve(tx, state, p, source, settings, conflicts) : null;
      if (customerId) {
        eventCustomer.set(p.event.externalId, customerId);
        const c = state.get(customerId);
        state.seenAt(c, p.at);
        if (p.profile) {
          const own = new Set(c.identities.map((i) => `${i.type}\u0000${i.value}`));
          const profile = { ...p.profile };
          if (profile.phone && !own.has(`phone\u0000${profile.phone}`)) delete profile.phone;
          if (profile.email && !own.has(`email\u0000${profile.email}`)) delete profile.email;
          for (const f of applyProfile(c.row, profile, p.at)) state.mark(c, f);
        }
      }
      if (p.event.type.startsWith("order.")) orderItems.push({ channel: source.channel, event: p.event as OrderEvent, customerId });
    }
    await state.flush(m);
    // Customers merged away later in the batch hand their events and orders to the survivor.
    for (const [ext, id] of eventCustomer) eventCustomer.set(ext, state.survivor(id));
    for (const item of orderItems) if (item.customerId) item.customerId = state.survivor(item.customerId);

    // 4. Apply to modules and record what happened.
    if (eventCustomer.size) {
      await m.query(
        `UPDATE ingested_events e SET customer_id = x.customer_id
           FROM jsonb_to_recordset($3::jsonb) AS x(external_id text, customer_id uuid)
          WHERE e.tenant_id = $1 AND e.channel = $2 AND e.external_id = x.external_id`,
        [tenantId, source.channel, JSON.stringify([...eventCustomer].map(([external_id, customer_id]) => ({ external_id, customer_id })))],
      );
    }
    // Recomputes the stats of the customers whose orders changed, too.
    const applied = orderItems.length ? await this.app.orders.applyEvents(tx, orderItems) : { orders: [], statsChanged: [] };
    if (conflicts.length) {
      await m.query(
        `INSERT INTO identity_conflicts (tenant_id, channel, external_id, identities, customer_ids, reason)
         SELECT $1, $2, x.external_id, x.identities, x.customer_ids, x.reason
           FROM jsonb_to_recordset($3::jsonb) AS x(external_id text, identities jsonb, customer_ids uuid[], reason text)`,
        [tenantId, source.channel, JSON.stringify(conflicts.map((c) => ({ external_id: c.externalId, identities: keys.encryptJson(c.identities), customer_ids: c.customerIds, reason: c.reason })))],
      );
    }
    const updated = state.updated();
    if (this.hooks.size) {
      const wanted = this.hooks.wanted();
      await this.hooks.run(
        tx,
        {
          channel: source.channel,
          connectionId: source.connectionId,
          orders: applied.orders,
          statsChanged: applied.statsChanged,
          customers: { created: [...state.created], updated, merged: state.merges() },
        },
        todo.filter((p) => wanted.has(p.event.type)).map((p) => ({ externalId: p.event.externalId, event: p.event, customerId: eventCustomer.get(p.event.externalId) ?? null })),
      );
    }
    for (const id of state.created) tx.emit({ type: "customer.created", tenantId, customerId: id });
    // A mere sighting is not news: no event for it, as for every order of a regular.
    for (const u of updated) tx.emit({ type: "customer.updated", tenantId, customerId: u.id, changed: u.changed });
    return accepted;
  }

  /** The customer an event belongs to: existing, new, or several merged into one. Records conflicts. */
  private async resolve(
    tx: TxCtx,
    state: BatchState,
    p: PreparedEvent,
    source: IngestSource,
    settings: IdentitySettings,
    conflicts: FoundConflict[],
  ): Promise<string> {
    const rank = (t: IdentityTypeName) => settings.precedence.indexOf(t);
    const byPrecedence = [...p.identities].sort((a, b) => rank(a.type) - rank(b.type));
    let matched = [...new Set(byPrecedence.map((i) => state.owner(i)).filter((x): x is string => Boolean(x)))];
    let target: string;
    if (matched.length === 0) {
      target = state.create(p.at).row.id;
    } else if (matched.length === 1) {
      target = matched[0];
    } else {
      // Several customers are one person: merge them into the oldest, unless limits forbid it. Rows one batch
      // created share a creation time; the one first seen on a channel is then the older, and the id breaks
      // what is left so that the same input always picks the same survivor.
      const rows = matched.map((id) => state.get(id));
      rows.sort(
        (a, b) =>
          a.row.createdAt.getTime() - b.row.createdAt.getTime() ||
          a.row.firstSeenAt.getTime() - b.row.firstSeenAt.getTime() ||
          a.row.id.localeCompare(b.row.id),
      );
      const violations = this.app.customers.merges.limitViolations(rows.flatMap((r) => r.identities), settings.limits);
      if (violations.length) {
        target = matched[0]; // the customer the highest-precedence identity names
        conflicts.push({
          externalId: p.event.externalId,
          identities: p.identities,
          customerIds: matched,
          reason: `matches ${matched.length} customers that cannot be merged (more than the allowed ${violations.join(", ")})`,
        });
      } else {
        target = rows[0].row.id;
        await state.flush(tx.manager);
        for (const r of rows.slice(1)) {
          const merged = await this.app.customers.merges.merge(tx, target, r.row.id, { reason: "identity", channel: source.channel, externalId: p.event.externalId }, settings.limits);
          if (!merged.ok) throw new Error(`merge refused after limits check: ${merged.errors[0]?.message}`);
          await state.afterMerge(tx.manager, target, r.row.id);
        }
        matched = [target];
      }
    }
    const c = state.get(target);
    for (const i of p.identities) {
      const owner = state.owner(i);
      if (owner === target) {
        state.touch(i, p.at);
        continue;
      }
      if (owner) continue; // another customer's, recorded as a conflict above
      const max = settings.limits[i.type];
      if (max !== undefined && new Set(c.identities.filter((x) => x.type === i.type).map((x) => x.value)).size >= max) {
        conflicts.push({ externalId: p.event.externalId, identities: [i], customerIds: [target], reason: `customer already has the allowed number of ${i.type} identities` });
        continue;
      }
      state.attach(c, i, source.channel, p.at);
    }
    return target;
  }
}

function uniqueIdentities(batch: PreparedEvent[]): Idn[] {
  const map = new Map<string, Idn>();
  for (const p of batch) for (const i of p.identities) map.set(`${i.type}\u0000${i.value}`, i);
  return [...map.values()];
}
