import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from "type-graphql";
import { daysSince } from "../../core/calendar";
import { tenantOf, type RequestCtx } from "../../core/context";
import { badUserInput } from "../../core/errors";
import { localId } from "../../core/global-id";
import { DecimalScalar, minDecimal } from "../../core/decimal";
import { ConnectionArgs, pageSize } from "../../core/pagination";
import { Customer } from "../customers";
import { registerNodeType } from "../../core/node";
import { CustomerStats, Order, OrderItem } from "./entity";
import { OrderConnection, OrderFilter, OrderOrder } from "./inputs";

registerNodeType("Order", "orders:read", (ctx, id) => ctx.loaders.orders.byId.load(id));

const READ = "orders:read";
/** Customer.orders without `first` or `last`: a short page, as a customer card shows. */
const CUSTOMER_ORDERS_PAGE = 10;

@Resolver(() => Order)
export class OrderResolver {
  @Authorized(READ)
  @Query(() => Order, { nullable: true, description: "An order by global id; null when there is none for your tenant." })
  order(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx): Promise<Order | null> | null {
    const local = localId(id, "Order");
    return local ? ctx.loaders.orders.byId.load(local) : null;
  }

  @Authorized(READ)
  @Query(() => OrderConnection, { description: "Newest first by default: by when each order was placed, or first seen if it never was; or by total (orderBy)." })
  orders(
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Arg("filter", () => OrderFilter, { nullable: true }) filter: OrderFilter | null,
    @Arg("orderBy", () => OrderOrder, { nullable: true, description: "Default: newest placed first." }) orderBy: OrderOrder | null,
    @Ctx() ctx: RequestCtx,
  ) {
    let customerId: string | undefined;
    if (filter?.customerId != null) {
      customerId = localId(filter.customerId, "Customer") ?? undefined;
      if (!customerId) throw badUserInput('"filter.customerId" is not a Customer id', "filter.customerId");
    }
    return ctx.app.orders.list(ctx, filter && { ...filter, customerId }, orderBy, page);
  }

  @FieldResolver(() => [OrderItem])
  items(@Root() order: Order): OrderItem[] {
    return order.items.map((i) => Object.assign(new OrderItem(), { ...i, unit: i.unit ?? null, orderId: order.id }));
  }

  // The buyer is personal data: reading it takes the customers scope, not just the orders one.
  @Authorized("customers:read")
  @FieldResolver(() => Customer, { nullable: true, description: "Null when no customer was resolved for the order, or it was erased." })
  customer(@Root() order: Order, @Ctx() ctx: RequestCtx): Promise<Customer | null> | null {
    return order.customerId ? ctx.loaders.customers.byId.load(order.customerId) : null;
  }
}

@Resolver(() => OrderItem)
export class OrderItemResolver {
  // A field resolver, so that the refunds are read (once per page, through the loader) only when a client asks.
  @FieldResolver(() => DecimalScalar, { description: "How much of this SKU refunds of the order gave back, at most the line's quantity." })
  async refundedQuantity(@Root() item: OrderItem, @Ctx() ctx: RequestCtx): Promise<string> {
    const refunded = await ctx.loaders.orders.refundedQuantities.load(item.orderId);
    return minDecimal(refunded.get(item.sku) ?? 0, item.quantity);
  }
}

@Resolver(() => CustomerStats)
export class CustomerStatsResolver {
  @FieldResolver(() => Int, {
    nullable: true,
    description:
      "Calendar days in the tenant's time zone from the day of the last counted order to today: 0 the same day, 1 the day after; null without orders.",
  })
  async daysSinceLastOrder(@Root() stats: CustomerStats, @Ctx() ctx: RequestCtx): Promise<number | null> {
    if (!stats.lastOrderAt) return null;
    const { timeZone } = await ctx.loaders.tenancy.settings.load(tenantOf(ctx));
    return daysSince(stats.lastOrderAt, ctx.app.clock.now(), timeZone);
  }
}

@Resolver(() => Customer)
export class CustomerOrdersResolver {
  @Authorized(READ)
  @FieldResolver(() => OrderConnection, { description: "The customer's orders, newest first (default page: 10)." })
  async orders(@Root() customer: Customer, @Args(() => ConnectionArgs) page: ConnectionArgs, @Ctx() ctx: RequestCtx) {
    const args = page.first == null && page.last == null ? { ...page, first: CUSTOMER_ORDERS_PAGE } : page;
    const { size, backward } = pageSize(args);
    const count = () => ctx.loaders.orders.counts.load(customer.id);
    // The first page of every customer on a list comes from one statement; cursors and backward pages are per customer.
    if (backward || args.after || args.before) return ctx.app.orders.customerOrders(ctx, customer.id, args);
    const rows = size === 0 ? [] : await ctx.loaders.orders.latestOfCustomer.load({ customerId: customer.id, first: size + 1 });
    return ctx.app.orders.firstPageOf(rows, args, count);
  }

  @Authorized(READ)
  @FieldResolver(() => CustomerStats)
  stats(@Root() customer: Customer, @Ctx() ctx: RequestCtx): Promise<CustomerStats> {
    return ctx.loaders.orders.stats.load(customer.id);
  }
}
