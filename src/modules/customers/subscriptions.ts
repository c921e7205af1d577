import { Arg, Authorized, ID, Resolver, Root, Subscription } from "type-graphql";
import { tenantOf, type RequestCtx } from "../../core/context";
import { forbidden } from "../../core/errors";
import { localId } from "../../core/global-id";
import { createLoaders } from "../../graphql/loaders";
import { Customer } from "./entity";

/**
 * Changes to customers of the caller's tenant, optionally one customer. Each event re-checks that
 * the caller's key is still valid (a revoked key's subscription ends with FORBIDDEN) and reloads the
 * customer, so what is delivered is current and tenant-scoped.
 */
async function* customerChanges(ctx: RequestCtx, id: string | null | undefined): AsyncGenerator<Customer> {
  const only = id ? localId(id, "Customer") : null;
  if (id && !only) return; // an id that names no customer of ours: nothing will ever match
  const tenantId = tenantOf(ctx);
  const merged = mergeIterables<{ tenantId: string; customerId: string }>([
    ctx.app.pubsub.subscribe("customer.created", tenantId),
    ctx.app.pubsub.subscribe("customer.updated", tenantId),
  ]);
  for await (const event of merged) {
    if (event.tenantId !== tenantId || (only && event.customerId !== only)) continue;
    if (!(await ctx.app.tenancy.stillValid(ctx.principal))) throw forbidden("The API key of this subscription is no longer valid");
    ctx.loaders = createLoaders(ctx);
    const customer = await ctx.loaders.customers.byId.load(event.customerId);
    if (customer) yield customer;
  }
}

/** Interleaves several async iterables; returning from it returns from all of them. */
async function* mergeIterables<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<T> }>>();
  const next = (i: number) => pending.set(i, iterators[i].next().then((r) => ({ i, r })));
  iterators.forEach((_, i) => next(i));
  try {
    while (pending.size) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) pending.delete(i);
      else {
        next(i);
        yield r.value;
      }
    }
  } finally {
    await Promise.all(iterators.map((it) => it.return?.()));
  }
}

@Resolver()
export class CustomerSubscriptionResolver {
  @Authorized("customers:read")
  @Subscription(() => Customer, {
    description: "A customer of your tenant was created or changed (profile, tags or identities). Pass `id` to follow one customer.",
    subscribe: ({ args, context }) => customerChanges(context as RequestCtx, (args as { id?: string | null }).id),
  })
  customerUpdated(@Root() customer: Customer, @Arg("id", () => ID, { nullable: true }) _id: string | null): Customer {
    return customer;
  }
}
