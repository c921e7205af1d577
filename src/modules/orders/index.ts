import "./events";
import { defineModule } from "../../core/module";
import { systemContext } from "../../core/context";
import { CustomerStats, Order, OrderRefund } from "./entity";
import { ORDER_EVENTS } from "./events";
import { createOrderLoaders, type OrderLoaders } from "./loaders";
import { CustomerOrdersResolver, CustomerStatsResolver, OrderItemResolver, OrderResolver } from "./resolver";
import { OrdersService } from "./service";

declare module "../../app" {
  interface App {
    orders: OrdersService;
  }
}
declare module "../../graphql/loaders" {
  interface Loaders {
    orders: OrderLoaders;
  }
}

/** Orders from every channel, refunds and each customer's order stats. */
export const ordersModule = defineModule({
  name: "orders",
  entities: [Order, OrderRefund, CustomerStats],
  resolvers: [OrderResolver, OrderItemResolver, CustomerOrdersResolver, CustomerStatsResolver],
  scopes: ["orders:read"],
  events: ORDER_EVENTS,
  loaders: createOrderLoaders,
  setup(app) {
    app.orders = new OrdersService(app);
    app.customers.merges.hooks.push(app.orders.mergeHook);
    app.customers.personalData.register({ name: "orders", export: (tx, ids) => app.orders.exportOf(tx, ids), erase: (tx, ids) => app.orders.unlinkFrom(tx, ids) });
    // Stats count only orders in the tenant's currency: a new currency re-derives them all, on the
    // queue (a delivery job, retried with backoff), never inside the settings transaction.
    app.outbox.on(
      "tenant.settings_changed",
      async (event) => {
        if (!event.changed.includes("currency")) return;
        const ctx = systemContext(app, event.tenantId, "orders.currency", `event-${event.eventId}`);
        const customers = await app.orders.rederiveAllStats(ctx);
        app.log.info({ tenantId: event.tenantId, customers }, "stats re-derived in the tenant's new currency");
      },
      "orders:currency",
    );
  },
});

export { Order, OrderRefund, CustomerStats, OrderStatus, OrderItem } from "./entity";
export { OrderConnection } from "./inputs";
export { OrdersService, type AppliedOrders, type OrderChange, type OrderEventItem } from "./service";
export { countedOrderSql, countedOrdersOfSql, joinCustomerStatsSql, orderTimeSql, netTotalSql, purchaseDaysSql, orderTotalsSinceSql, channelMixSql } from "./read-model";
