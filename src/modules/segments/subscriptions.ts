import { Arg, Authorized, FieldResolver, ID, Resolver, Root, Subscription } from "type-graphql";
import { Customer } from "../customers";
import { tenantOf, type RequestCtx } from "../../core/context";
import { localId, toGlobalId } from "../../core/global-id";
import { createLoaders } from "../../graphql/loaders";
import { endsAtOnce, mergeIterables } from "../../graphql/async-iterables";
import type { Delivered, EventOf } from "../../events/types";
import { SegmentMembershipChange, SegmentMembershipChangeKind } from "./inputs";

/**
 * One segment's joins and leaves, in the order they committed. Each event's segment and customer are
 * read with fresh loaders (nothing cached from an earlier event); identical subscriptions share one
 * execution (graphql/shared-subscriptions.ts), so this runs once per event per group.
 */
async function* membershipChanges(ctx: RequestCtx, segmentId: string): AsyncGenerator<SegmentMembershipChange> {
  const only = localId(segmentId, "Segment");
  if (!only) return; // names no segment: nothing will ever match
  const tenantId = tenantOf(ctx);
  const events = mergeIterables<Delivered<EventOf<"segment.member_added"> | EventOf<"segment.member_removed">>>([ctx.app.pubsub.subscribe("segment.member_added", tenantId), ctx.app.pubsub.subscribe("segment.member_removed", tenantId)]);
  for await (const e of events) {
    if (e.tenantId !== tenantId || e.segmentId !== only) continue;
    ctx.loaders = createLoaders({ requestId: `event-${e.eventId}`, principal: ctx.principal, app: ctx.app, log: ctx.log });
    const [segment, customer] = await Promise.all([ctx.loaders.segments.byId.load(e.segmentId), ctx.loaders.customers.byId.load(e.customerId)]);
    yield Object.assign(new SegmentMembershipChange(), {
      segment,
      customer,
      customerId: toGlobalId("Customer", e.customerId),
      change: e.type === "segment.member_added" ? SegmentMembershipChangeKind.ADDED : SegmentMembershipChangeKind.REMOVED,
      occurredAt: new Date(e.occurredAt),
    });
  }
}

@Resolver()
export class SegmentSubscriptionResolver {
  @Authorized("segments:read")
  @Subscription(() => SegmentMembershipChange, {
    description: "Customers joining and leaving one segment of your tenant, as the changes commit. `customer` needs customers:read as well.",
    subscribe: ({ args, context }) => endsAtOnce(membershipChanges(context as RequestCtx, (args as { segmentId: string }).segmentId)),
  })
  segmentMembershipChanged(@Root() change: SegmentMembershipChange, @Arg("segmentId", () => ID) _segmentId: string): SegmentMembershipChange {
    return change;
  }
}

@Resolver(() => SegmentMembershipChange)
export class SegmentMembershipChangeResolver {
  @Authorized("customers:read")
  @FieldResolver(() => Customer, { nullable: true, description: "Null if the customer no longer exists (merged into another, or erased). Needs customers:read." })
  customer(@Root() change: SegmentMembershipChange): Customer | null {
    return change.customer;
  }
}
