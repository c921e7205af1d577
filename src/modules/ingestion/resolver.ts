import { Arg, Args, Authorized, Ctx, Extensions, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { ConnectionArgs, ConnectionType } from "../../core/pagination";
import { VALIDATES_OWN_INPUT } from "../../graphql/input-guard";
import { tenantOf, type RequestCtx } from "../../core/context";
import { badUserInput, unavailable } from "../../core/errors";
import { IngestionHookFailed } from "./hooks";
import { localId } from "../../core/global-id";
import { inTransactionOrRollback } from "../../core/transaction";
import { fail, ok, userError, UserErrorCode, type Result } from "../../core/user-error";
import { toPayload } from "../../core/payload";
import { Customer } from "../customers";
import { CustomerMerge } from "../customers";
import { registerNodeType } from "../../core/node";
import { IdentityConflictFilter } from "./conflict-entity";
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

registerNodeType("CustomerMerge", "customers:read", (ctx, id) => ctx.app.db.dataSource.manager.findOne(CustomerMerge, { where: { id, tenantId: tenantOf(ctx) } }));

const CustomerMergeConnection = ConnectionType(CustomerMerge, "CustomerMerge");
const IdentityConflictConnection = ConnectionType(IdentityConflict, "IdentityConflict");

registerNodeType("IdentityConflict", "customers:read", (ctx, id) => ctx.app.ingestion.conflicts.byId(ctx, id));

@Resolver(() => IdentityConflict)
export class IdentityConflictResolver {
  @FieldResolver(() => [Customer], { description: "The customers involved that still exist (merged-away or erased ones are left out)." })
  async customers(@Root() c: IdentityConflict, @Ctx() ctx: RequestCtx): Promise<Customer[]> {
    const found = await ctx.loaders.customers.byId.loadMany(c.customerLocalIds);
    return found.filter((x): x is Customer => x instanceof Customer);
  }
}

/** The customers of a merge as objects to follow (ids stay as `targetCustomerId` / `sourceCustomerId`). */
@Resolver(() => CustomerMerge)
export class CustomerMergeResolver {
  @FieldResolver(() => Customer, { nullable: true, description: "The customer that remained; null once it was itself merged away or erased." })
  target(@Root() m: CustomerMerge, @Ctx() ctx: RequestCtx): Promise<Customer | null> {
    return ctx.loaders.customers.byId.load(m.targetId);
  }

  @FieldResolver(() => Customer, { nullable: true, description: "The customer merged away: null while the merge stands, the restored customer after unmergeCustomer." })
  source(@Root() m: CustomerMerge, @Ctx() ctx: RequestCtx): Promise<Customer | null> {
    return ctx.loaders.customers.byId.load(m.sourceId);
  }
}

@Resolver()
export class IngestionResolver {
  @Authorized("ingest")
  @Mutation(() => IngestEventsPayload, { description: "For trusted server-side producers: the same pipeline and results as the channel webhooks." })
  @Extensions({ [VALIDATES_OWN_INPUT]: true }) // each event is checked by the pipeline and rejected on its own
  async ingestEvents(@Arg("input", () => IngestEventsInput) input: IngestEventsInput, @Ctx() ctx: RequestCtx): Promise<IngestEventsPayload> {
    const payload: IngestEventsPayload = Object.assign(new IngestEventsPayload(), { results: [] as IngestEventsPayload["results"], userErrors: [] as IngestEventsPayload["userErrors"] });
    const id = localId(input.connectionId, "ChannelConnection");
    const connection = id ? await ctx.app.channels.byId(ctx, id) : null;
    if (!connection) payload.userErrors.push(userError(["connectionId"], UserErrorCode.NOT_FOUND, "No such channel connection"));
    else if (!connection.enabled) payload.userErrors.push(userError(["connectionId"], UserErrorCode.CONFLICT, "The connection is disabled"));
    if (input.events.length > MAX_EVENTS_PER_CALL) payload.userErrors.push(userError(["events"], UserErrorCode.TOO_MANY, `At most ${MAX_EVENTS_PER_CALL} events per call`));
    if (payload.userErrors.length || !connection) return payload;
    const results = await ctx.app.ingestion.ingest(ctx, { channel: connection.channel, connectionId: connection.id }, input.events).catch((err) => {
      // A module's hook refused the batch: nothing was written, and the caller may send it again.
      if (err instanceof IngestionHookFailed) throw unavailable(`The batch was not ingested (${err.hook} failed); nothing was written: send it again later`);
      throw err;
    });
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
  @Query(() => CustomerMergeConnection, { description: "Merges into this customer, newest first (undone ones included)." })
  customerMerges(@Arg("customerId", () => ID) customerId: string, @Args(() => ConnectionArgs) page: ConnectionArgs, @Ctx() ctx: RequestCtx) {
    // An id that names no customer lists nothing, as a customer without merges does.
    return ctx.app.customers.merges.list(ctx, localId(customerId, "Customer"), page, CustomerMergeConnection);
  }

  @Authorized("customers:read")
  @Query(() => IdentityConflictConnection, { description: "Identity conflicts, newest first: the open ones unless `filter.status` says otherwise." })
  identityConflicts(
    @Arg("filter", () => IdentityConflictFilter, { nullable: true }) filter: IdentityConflictFilter | null,
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Ctx() ctx: RequestCtx,
  ) {
    return ctx.app.ingestion.conflicts.list(ctx, filter, page, IdentityConflictConnection);
  }

  @Authorized("customers:write")
  @Mutation(() => ResolveIdentityConflictPayload, {
    description: "Closes a conflict after review (it leaves identityConflicts). Changes no customer: merge or attach by hand first if that is the decision.",
  })
  async resolveIdentityConflict(@Arg("input", () => ResolveIdentityConflictInput) input: ResolveIdentityConflictInput, @Ctx() ctx: RequestCtx): Promise<ResolveIdentityConflictPayload> {
    const r = await ctx.app.ingestion.conflicts.resolve(ctx, input.id, input.note ?? null);
    return Object.assign(new ResolveIdentityConflictPayload(), r.ok ? { conflict: r.value, userErrors: [] } : { conflict: null, userErrors: r.errors });
  }
}
