import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from "type-graphql";
import type { RequestCtx } from "../../core/context";
import { badUserInput } from "../../core/errors";
import { localId } from "../../core/global-id";
import { ConnectionArgs, MAX_PAGE_SIZE } from "../../core/pagination";
import { Customer } from "../customers/entity";
import { registerNodeType } from "../nodes/node";
import { CustomerStats, Order, OrderItem } from "./entity";
import { OrderFilter } from "./inputs";
import { OrderConnection } from "./service";

registerNodeType("Order", "orders:read", (ctx, id) => ctx.loaders.orders.byId.load(id));

const READ = "orders:read";

@Resolver(() => Order)
export class OrderResolver {
  @Authorized(READ)
  @Query(() => Order, { nullable: true, description: "An order by global id; null when there is none for your tenant." })
  order(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx): Promise<Order | null> | null {
    const local = localId(id, "Order");
    return local ? ctx.loaders.orders.byId.load(local) : null;
  }

  @Authorized(READ)
  @Query(() => OrderConnection, { description: "Newest first: by when each order was placed, or first seen if it never was." })
  orders(
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Arg("filter", () => OrderFilter, { nullable: true }) filter: OrderFilter | null,
    @Ctx() ctx: RequestCtx,
  ) {
    return ctx.app.orders.list(ctx, filter, page);
  }

  @FieldResolver(() => [OrderItem])
  async items(@Root() order: Order, @Ctx() ctx: RequestCtx): Promise<OrderItem[]> {
    const refunded = await ctx.loaders.orders.refundedQuantities.load(order.id);
    return order.items.map((i) => Object.assign(new OrderItem(), { ...i, refundedQuantity: Math.min(refunded.get(i.sku) ?? 0, i.quantity) }));
  }

  // The buyer is personal data: reading it takes the customers scope, not just the orders one.
  @Authorized("customers:read")
  @FieldResolver(() => Customer, { nullable: true, description: "Null when no customer was resolved for the order, or it was erased." })
  customer(@Root() order: Order, @Ctx() ctx: RequestCtx): Promise<Customer | null> | null {
    return order.customerId ? ctx.loaders.customers.byId.load(order.customerId) : null;
  }
}

@Resolver(() => Customer)
export class CustomerOrdersResolver {
  @Authorized(READ)
  @FieldResolver(() => [Order], { description: "The customer's newest orders first." })
  orders(
    @Root() customer: Customer,
    @Arg("first", () => Int, { nullable: true, defaultValue: 10, description: `At most ${MAX_PAGE_SIZE}.` }) firstArg: number | null,
    @Ctx() ctx: RequestCtx,
  ): Promise<Order[]> {
    const first = firstArg ?? 10;
    if (first < 0 || first > MAX_PAGE_SIZE) throw badUserInput(`"first" must be between 0 and ${MAX_PAGE_SIZE}`, "first");
    return ctx.loaders.orders.latestOfCustomer.load({ customerId: customer.id, first });
  }

  @Authorized(READ)
  @FieldResolver(() => CustomerStats)
  stats(@Root() customer: Customer, @Ctx() ctx: RequestCtx): Promise<CustomerStats> {
    return ctx.loaders.orders.stats.load(customer.id);
  }
}
