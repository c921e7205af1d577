import { Arg, Authorized, ID, Resolver, Root, Subscription } from "type-graphql";
import { tenantOf, type RequestCtx } from "../../core/context";
import { localId } from "../../core/global-id";
import { createLoaders, type Loaders } from "../../graphql/loaders";
import { Customer } from "./entity";
import { endsAtOnce, mergeIterables } from "../../graphql/async-iterables";

/**
 * Loaders shared by every subscriber of one event, per app: the customer (and whatever fields the
 * subscribers select) is read once per event and tenant, whatever the number of subscribers. The
 * loaders are tenant-scoped reads; what each subscriber may see is still decided per field by its own
 * scopes. Kept for the last events only: a subscriber that lags further reads again.
 */
const sharedByApp = new WeakMap<object, Map<string, Loaders>>();
const SHARED_EVENTS = 256;

function loadersOfEvent(ctx: RequestCtx, eventId: string, tenantId: string): Loaders {
  let shared = sharedByApp.get(ctx.app);
  if (!shared) sharedByApp.set(ctx.app, (shared = new Map()));
  const key = `${tenantId}:${eventId}`;
  let loaders = shared.get(key);
  if (!loaders) {
    loaders = createLoaders({ requestId: `event-${eventId}`, principal: { kind: "system", tenantId, actor: "subscriptions" }, app: ctx.app, log: ctx.log });
    shared.set(key, loaders);
    if (shared.size > SHARED_EVENTS) shared.delete(shared.keys().next().value!);
  }
  return loaders;
}

/**
 * Changes to customers of the caller's tenant, optionally one customer. The key's validity is not
 * re-checked per event: a revoked key's sockets are closed by the revocation event, an expiring key's
 * by a timer (graphql/ws.ts). Each event's customer is read once for all subscribers (loadersOfEvent).
 */
async function* customerChanges(ctx: RequestCtx, id: string | null | undefined): AsyncGenerator<Customer> {
  const only = id ? localId(id, "Customer") : null;
  if (id && !only) return; // an id that names no customer of ours: nothing will ever match
  const tenantId = tenantOf(ctx);
  const merged = mergeIterables<{ tenantId: string; customerId: string; eventId: string }>([
    ctx.app.pubsub.subscribe("customer.created", tenantId),
    ctx.app.pubsub.subscribe("customer.updated", tenantId),
  ]);
  for await (const event of merged) {
    if (event.tenantId !== tenantId || (only && event.customerId !== only)) continue;
    ctx.loaders = loadersOfEvent(ctx, event.eventId, tenantId);
    const customer = await ctx.loaders.customers.byId.load(event.customerId);
    if (customer) yield customer;
  }
}

@Resolver()
export class CustomerSubscriptionResolver {
  @Authorized("customers:read")
  @Subscription(() => Customer, {
    description: "A customer of your tenant was created or changed (profile, tags or identities). Pass `id` to follow one customer.",
    subscribe: ({ args, context }) => endsAtOnce(customerChanges(context as RequestCtx, (args as { id?: string | null }).id)),
  })
  customerUpdated(@Root() customer: Customer, @Arg("id", () => ID, { nullable: true }) _id: string | null): Customer {
    return customer;
  }
}
