import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { tenantOf, type RequestCtx } from "../../core/context";
import { badUserInput } from "../../core/errors";
import { localId, toGlobalId } from "../../core/global-id";
import { inTransactionOrRollback } from "../../core/transaction";
import { fail, ok, userError, UserErrorCode, type Result } from "../../core/user-error";
import { toPayload } from "../../core/payload";
import { Customer } from "../customers/entity";
import { CustomerMerge } from "../customers/merge";
import { registerNodeType } from "../nodes/node";
import {
  IdentityConflict,
  IngestEventsInput,
  IngestEventsPayload,
  IngestStatus,
  MergeCustomersInput,
  MergeCustomersPayload,
  ResolveIdentityConflictInput,
  ResolveIdentityConflictPayload,
  UnmergeCustomerInput,
  UnmergeCustomerPayload,
  UpsertCustomerInput,
  UpsertCustomerPayload,
} from "./inputs";

export const MAX_EVENTS_PER_CALL = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONFLICT_COLUMNS = "id, channel, external_id, identities, customer_ids, reason, created_at, resolved_at, resolution_note";
type ConflictRow = {
  id: string;
  channel: string;
  external_id: string;
  identities: { type: string; value: string }[];
  customer_ids: string[];
  reason: string;
  created_at: Date;
  resolved_at: Date | null;
  resolution_note: string | null;
};

function conflictOf(r: ConflictRow): IdentityConflict {
  return Object.assign(new IdentityConflict(), {
    id: r.id,
    channel: r.channel,
    externalId: r.external_id,
    identities: r.identities.map((i) => `${i.type}:${i.value}`),
    customerIds: r.customer_ids.map((c) => toGlobalId("Customer", c)),
    reason: r.reason,
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
    resolutionNote: r.resolution_note,
  });
}

registerNodeType("CustomerMerge", (ctx, id) => ctx.app.db.dataSource.manager.findOne(CustomerMerge, { where: { id, tenantId: tenantOf(ctx) } }));

@Resolver()
export class IngestionResolver {
  @Authorized("ingest")
  @Mutation(() => IngestEventsPayload, { description: "For trusted server-side producers: the same pipeline and results as the channel webhooks." })
  async ingestEvents(@Arg("input", () => IngestEventsInput) input: IngestEventsInput, @Ctx() ctx: RequestCtx): Promise<IngestEventsPayload> {
    const payload: IngestEventsPayload = Object.assign(new IngestEventsPayload(), { results: [] as IngestEventsPayload["results"], userErrors: [] as IngestEventsPayload["userErrors"] });
    const id = localId(input.connectionId, "ChannelConnection");
    const connection = id ? await ctx.app.channels.byId(ctx, id) : null;
    if (!connection) payload.userErrors.push(userError(["connectionId"], UserErrorCode.NOT_FOUND, "No such channel connection"));
    else if (!connection.enabled) payload.userErrors.push(userError(["connectionId"], UserErrorCode.CONFLICT, "The connection is disabled"));
    if (input.events.length > MAX_EVENTS_PER_CALL) payload.userErrors.push(userError(["events"], UserErrorCode.TOO_MANY, `At most ${MAX_EVENTS_PER_CALL} events per call`));
    if (payload.userErrors.length || !connection) return payload;
    const results = await ctx.app.ingestion.ingest(ctx, { channel: connection.channel, connectionId: connection.id }, input.events);
    payload.results = results.map((r) => ({ externalId: r.externalId, status: r.status as IngestStatus, reason: r.reason ?? null }));
    return payload;
  }

  @Authorized("customers:write")
  @Mutation(() => UpsertCustomerPayload, { description: "Creates or updates the customer an identity resolves to." })
  async upsertCustomer(@Arg("input", () => UpsertCustomerInput) input: UpsertCustomerInput, @Ctx() ctx: RequestCtx): Promise<UpsertCustomerPayload> {
    const { identity, tags, ...profile } = input;
    const payload = (r: Result<Customer>, created: boolean) =>
      Object.assign(new UpsertCustomerPayload(), r.ok ? { customer: r.value, created, userErrors: [] } : { customer: null, created: false, userErrors: r.errors });
    // A concurrent upsert may create the customer between our look-up and our create: then update it.
    for (let attempt = 0; attempt < 2; attempt++) {
      const existing = await ctx.app.customers.findByIdentity(ctx, identity.type, identity.value);
      if (existing) {
        return payload(await ctx.app.customers.update(ctx, { ...profile, id: existing.globalId }, tags ?? []), false);
      }
      const created = await ctx.app.customers.create(ctx, { ...profile, tags, identities: [identity] });
      if (created.ok || !created.errors.some((e) => e.code === UserErrorCode.TAKEN) || attempt === 1) {
        return payload(
          created.ok ? created : fail(...created.errors.map((e) => (e.field?.[0] === "identities" ? userError(["identity", "value"], e.code, e.message) : e))),
          created.ok,
        );
      }
    }
    throw new Error("unreachable");
  }

  @Authorized("customers:write")
  @Mutation(() => MergeCustomersPayload, { description: "Folds one customer into another; everything the source owned moves. Reversible with unmergeCustomer." })
  async mergeCustomers(@Arg("input", () => MergeCustomersInput) input: MergeCustomersInput, @Ctx() ctx: RequestCtx): Promise<MergeCustomersPayload> {
    const targetId = localId(input.targetId, "Customer");
    const sourceId = localId(input.sourceId, "Customer");
    const limits = (await ctx.app.ingestion.settings(tenantOf(ctx))).limits;
    const r: Result<{ merge: CustomerMerge; customer: Customer | null }> =
      !targetId
        ? fail(userError(["targetId"], UserErrorCode.NOT_FOUND, "No such customer"))
        : !sourceId
          ? fail(userError(["sourceId"], UserErrorCode.NOT_FOUND, "No such customer"))
          : await inTransactionOrRollback(ctx, async (tx) => {
              const m = await ctx.app.customers.merges.merge(tx, targetId, sourceId, { reason: "manual" }, limits);
              if (!m.ok) return m;
              return ok({ merge: m.value, customer: await tx.manager.findOne(Customer, { where: { id: targetId, tenantId: tenantOf(ctx) } }) });
            });
    return toPayload(MergeCustomersPayload, r, (v) => ({ merge: v.merge, customer: v.customer }), { merge: null, customer: null });
  }

  @Authorized("customers:write")
  @Mutation(() => UnmergeCustomerPayload, { description: "Restores both customers and what each owned before the merge." })
  async unmergeCustomer(@Arg("input", () => UnmergeCustomerInput) input: UnmergeCustomerInput, @Ctx() ctx: RequestCtx): Promise<UnmergeCustomerPayload> {
    const mergeId = localId(input.mergeId, "CustomerMerge");
    const r = mergeId
      ? await inTransactionOrRollback(ctx, (tx) => ctx.app.customers.merges.unmerge(tx, mergeId))
      : fail<{ target: Customer; source: Customer }>(userError(["mergeId"], UserErrorCode.NOT_FOUND, "No such merge"));
    return toPayload(UnmergeCustomerPayload, r, (v) => ({ target: v.target, source: v.source }), { target: null, source: null });
  }

  @Authorized("customers:read")
  @Query(() => [CustomerMerge], { description: "Merges into this customer, newest first (undone ones included)." })
  customerMerges(@Arg("customerId", () => ID) customerId: string, @Ctx() ctx: RequestCtx): Promise<CustomerMerge[]> | [] {
    const id = localId(customerId, "Customer");
    if (!id) return [];
    return ctx.app.db.dataSource.manager.find(CustomerMerge, { where: { tenantId: tenantOf(ctx), targetId: id }, order: { mergedAt: "DESC" } });
  }

  @Authorized("customers:read")
  @Query(() => [IdentityConflict], { description: "Unresolved identity conflicts, newest first." })
  async identityConflicts(@Arg("first", () => Int, { defaultValue: 50 }) first: number, @Ctx() ctx: RequestCtx): Promise<IdentityConflict[]> {
    if (first < 0 || first > 250) throw badUserInput('"first" must be between 0 and 250', "first");
    const rows: ConflictRow[] = await ctx.app.db.dataSource.query(
      `SELECT ${CONFLICT_COLUMNS} FROM identity_conflicts
        WHERE tenant_id = $1 AND resolved_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $2`,
      [tenantOf(ctx), first],
    );
    return rows.map(conflictOf);
  }

  @Authorized("customers:write")
  @Mutation(() => ResolveIdentityConflictPayload, {
    description: "Closes a conflict after review (it leaves identityConflicts). Changes no customer: merge or attach by hand first if that is the decision.",
  })
  async resolveIdentityConflict(@Arg("input", () => ResolveIdentityConflictInput) input: ResolveIdentityConflictInput, @Ctx() ctx: RequestCtx): Promise<ResolveIdentityConflictPayload> {
    const payload = (r: Result<IdentityConflict>) =>
      Object.assign(new ResolveIdentityConflictPayload(), r.ok ? { conflict: r.value, userErrors: [] } : { conflict: null, userErrors: r.errors });
    const note = input.note?.trim() || null;
    if (note && note.length > 500) return payload(fail(userError(["note"], UserErrorCode.TOO_LONG, "At most 500 characters")));
    if (!UUID.test(input.id)) return payload(fail(userError(["id"], UserErrorCode.NOT_FOUND, "No such identity conflict")));
    const actor = ctx.principal.kind === "api_key" ? `api_key:${ctx.principal.keyId}` : ctx.principal.kind;
    // Only an open conflict of the caller's tenant is closed; closing it again is refused, not repeated.
    const [rows]: [ConflictRow[]] = await ctx.app.db.dataSource.query(
      `UPDATE identity_conflicts SET resolved_at = now(), resolution_note = $3, resolved_by = $4
        WHERE id = $1 AND tenant_id = $2 AND resolved_at IS NULL RETURNING ${CONFLICT_COLUMNS}`,
      [input.id, tenantOf(ctx), note, actor],
    );
    if (rows.length) return payload(ok(conflictOf(rows[0])));
    const [{ n }] = await ctx.app.db.dataSource.query(`SELECT count(*)::int AS n FROM identity_conflicts WHERE id = $1 AND tenant_id = $2`, [input.id, tenantOf(ctx)]);
    return payload(fail(n ? userError(["id"], UserErrorCode.CONFLICT, "The conflict is already resolved") : userError(["id"], UserErrorCode.NOT_FOUND, "No such identity conflict")));
  }
}
