import { Arg, Args, Authorized, Ctx, Extensions, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import { ConnectionArgs, ConnectionType } from "../../core/pagination";
import { VALIDATES_OWN_INPUT } from "../../graphql/input-guard";
import { tenantOf, type RequestCtx } from "../../core/context";
import { unavailable } from "../../core/errors";
import { IngestionHookFailed } from "./hooks";
import { localId } from "../../core/global-id";
import { toPayload } from "../../core/payload";
import { Customer, CustomerMerge, maskIdentityValue, seesPii } from "../customers";
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

  @FieldResolver(() => [String], { description: "type:value of the identities involved (types as normalized events spell them); values masked for keys without `customers:pii`." })
  identities(@Root() c: IdentityConflict, @Ctx() ctx: RequestCtx): string[] {
    return seesPii(ctx.principal) ? c.identities : c.identityValues.map((i) => `${i.type}:${maskIdentityValue(i.type, i.value)}`);
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
    const r = await ctx.app.ingestion.ingestThrough(ctx, input.connectionId, input.events).catch((err) => {
      // A module's hook refused the batch: nothing was written, and the caller may send it again.
      if (err instanceof IngestionHookFailed) throw unavailable(`The batch was not ingested (${err.hook} failed); nothing was written: send it again later`);
      throw err;
    });
    return toPayload(IngestEventsPayload, r, (results) => ({ results: results.map((x) => ({ externalId: x.externalId, status: x.status as IngestStatus, reason: x.reason ?? null })) }), { results: [] });
  }

  @Authorized("customers:write")
  @Mutation(() => UpsertCustomerPayload, { description: "Creates or updates the customer an identity resolves to." })
  async upsertCustomer(@Arg("input", () => UpsertCustomerInput) input: UpsertCustomerInput, @Ctx() ctx: RequestCtx): Promise<UpsertCustomerPayload> {
    const r = await ctx.app.customers.upsertByIdentity(ctx, input);
    return toPayload(UpsertCustomerPayload, r, (v) => ({ customer: v.customer, created: v.created }), { customer: null, created: false });
  }

  @Authorized("customers:write")
  @Mutation(() => MergeCustomersPayload, { description: "Folds one customer into another; everything the source owned moves. Reversible with unmergeCustomer." })
  async mergeCustomers(@Arg("input", () => MergeCustomersInput) input: MergeCustomersInput, @Ctx() ctx: RequestCtx): Promise<MergeCustomersPayload> {
    const r = await ctx.app.ingestion.mergeByHand(ctx, input.targetId, input.sourceId);
    return toPayload(MergeCustomersPayload, r, (v) => ({ merge: v.merge, customer: v.customer }), { merge: null, customer: null });
  }

  @Authorized("customers:write")
  @Mutation(() => UnmergeCustomerPayload, { description: "Restores both customers and what each owned before the merge." })
  async unmergeCustomer(@Arg("input", () => UnmergeCustomerInput) input: UnmergeCustomerInput, @Ctx() ctx: RequestCtx): Promise<UnmergeCustomerPayload> {
    const r = await ctx.app.ingestion.unmerge(ctx, input.mergeId);
    return toPayload(UnmergeCustomerPayload, r, (v) => ({ target: v.target, source: v.source }), { target: null, source: null });
  }

  @Authorized("customers:read")
  @Query(() => CustomerMergeConnection, { description: "Merges into this customer, newest first (undone ones included)." })
  customerMerges(@Arg("customerId", () => ID) customerId: string, @Args(() => ConnectionArgs) page: ConnectionArgs, @Ctx() ctx: RequestCtx) {
    // An id that names no customer lists nothing, as a customer without merges does.
    return ctx.app.customers.merges.list(ctx, localId(customerId, "Customer"), page);
  }

  @Authorized("customers:read")
  @Query(() => IdentityConflictConnection, { description: "Identity conflicts, newest first: the open ones unless `filter.status` says otherwise." })
  identityConflicts(
    @Arg("filter", () => IdentityConflictFilter, { nullable: true }) filter: IdentityConflictFilter | null,
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Ctx() ctx: RequestCtx,
  ) {
    return ctx.app.ingestion.conflicts.list(ctx, filter, page);
  }

  @Authorized("customers:write")
  @Mutation(() => ResolveIdentityConflictPayload, {
    description: "Closes a conflict after review (it leaves identityConflicts). Changes no customer: merge or attach by hand first if that is the decision.",
  })
  async resolveIdentityConflict(@Arg("input", () => ResolveIdentityConflictInput) input: ResolveIdentityConflictInput, @Ctx() ctx: RequestCtx): Promise<ResolveIdentityConflictPayload> {
    const r = await ctx.app.ingestion.conflicts.resolve(ctx, input.id, input.note ?? null);
    return toPayload(ResolveIdentityConflictPayload, r, (conflict) => ({ conflict }), { conflict: null });
  }
}
