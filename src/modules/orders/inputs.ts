import { Field, ID, InputType, registerEnumType } from "type-graphql";
import { ConnectionType, SortDirection } from "../../core/pagination";
import { Order, OrderStatus } from "./entity";

export enum OrderSortField {
  /** When the order was placed (first seen, for orders never reported as placed): the default. */
  PLACED_AT = "PLACED_AT",
  TOTAL = "TOTAL",
}
registerEnumType(OrderSortField, {
  name: "OrderSortField",
  valuesConfig: { PLACED_AT: { description: "When placed, or first seen if never reported as placed (the default)." }, TOTAL: { description: "The order's total." } },
});

@InputType()
export class OrderOrder {
  @Field(() => OrderSortField, { defaultValue: OrderSortField.PLACED_AT }) field: OrderSortField;
  @Field(() => SortDirection, { defaultValue: SortDirection.DESC }) direction: SortDirection;
}

@InputType({ description: "All given conditions must hold." })
export class OrderFilter {
  @Field(() => ID, { nullable: true, description: "Orders of this customer." })
  customerId?: string | null;

  @Field(() => OrderStatus, { nullable: true })
  status?: OrderStatus | null;

  @Field(() => String, { nullable: true, description: "The channel plugin's name, e.g. youzan." })
  channel?: string | null;

  @Field(() => Date, {
    nullable: true,
    description: "Placed at or after this instant (orders never reported as placed count from when we first saw them, as in the list order).",
  })
  placedAfter?: Date | null;

  @Field(() => Date, { nullable: true, description: "Placed before this instant (same rule as placedAfter)." })
  placedBefore?: Date | null;
}

export const OrderConnection = ConnectionType(Order, "Order");
