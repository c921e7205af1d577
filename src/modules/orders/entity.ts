import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn, type ValueTransformer } from "typeorm";
import { Field, Int, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLSafeInt } from "graphql-scalars";
import { Node } from "../../core/node";
import { toGlobalId } from "../../core/global-id";
import { DecimalScalar } from "../../core/decimal";

export enum OrderStatus {
  PENDING = "PENDING",
  PLACED = "PLACED",
  PAID = "PAID",
  CANCELLED = "CANCELLED",
  COMPLETED = "COMPLETED",
  REFUNDED = "REFUNDED",
}
registerEnumType(OrderStatus, {
  name: "OrderStatus",
  description: "Derived from the events seen so far; PENDING means only a refund has arrived (channels may send it before the order).",
  valuesConfig: {
    REFUNDED: { description: "Paid, and refunds add up to the total." },
  },
});

/** Both drivers return int8 as text; amounts are bounded by the event schema, so they fit a JS number. */
const int8: ValueTransformer = {
  to: (v: number | null | undefined) => v,
  from: (v: string | null) => (v == null ? null : Number(v)),
};

/** One line of an order as stored in `orders.items` (the event's line, optional fields as null). */
export interface StoredOrderItem {
  sku: string;
  title: string | null;
  category: string | null;
  /** A canonical decimal string ("0.42"); lines stored before decimals hold a JSON integer. */
  quantity: string | number;
  /** Null or absent: pieces. */
  unit?: string | null;
  unitPrice: number;
  discount: number | null;
}

@ObjectType({ description: "One line of an order. Money in minor units of the order's currency." })
export class OrderItem {
  @Field(() => String) sku: string;
  @Field(() => String, { nullable: true }) title: string | null;
  @Field(() => String, { nullable: true }) category: string | null;
  @Field(() => DecimalScalar, { description: 'Exact, as the channel sent it: "2" pieces, or "0.42" of `unit`.' }) quantity: string | number;
  @Field(() => String, { nullable: true, description: "What `quantity` counts in (kg, g, l, m…); null for pieces." }) unit: string | null;
  @Field(() => GraphQLSafeInt, { description: "Per unit of `unit` (per kg for a weighed line)." }) unitPrice: number;
  @Field(() => GraphQLSafeInt, { nullable: true, description: "Null when the channel did not report one." }) discount: number | null;
  /** The order it belongs to (not in the API): `refundedQuantity` is read through it, only when selected. */
  orderId: string;
}

@Entity({ name: "orders" })
@ObjectType("Order", {
  implements: Node,
  description: "An order from a channel, folded from its events. Money in integer minor units of `currency`.",
})
export class Order implements Node {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  tenantId: string;

  @Field(() => String)
  @Column({ type: "text" })
  channel: string;

  @Field(() => String, { name: "externalId", description: "The channel's order id." })
  @Column({ type: "text" })
  externalOrderId: string;

  @Column({ type: "uuid", nullable: true })
  customerId: string | null;

  @Field(() => String, { nullable: true })
  @Column({ type: "text", nullable: true })
  storeId: string | null;

  @Field(() => OrderStatus)
  @Column({ type: "text", insert: false, update: false })
  status: OrderStatus;

  @Field(() => String, { nullable: true, description: "ISO 4217; null while only a refund of the order is known." })
  @Column({ type: "text", nullable: true })
  currency: string | null;

  @Field(() => GraphQLSafeInt, { nullable: true, description: "Null when the channel did not report it." })
  @Column({ type: "bigint", nullable: true, transformer: int8 })
  subtotal: number | null;

  @Field(() => GraphQLSafeInt, { nullable: true, description: "Null when the channel did not report it." })
  @Column({ type: "bigint", nullable: true, transformer: int8 })
  discount: number | null;

  @Field(() => GraphQLSafeInt, { nullable: true, description: "Null when the channel did not report it." })
  @Column({ type: "bigint", nullable: true, transformer: int8 })
  shipping: number | null;

  @Field(() => GraphQLSafeInt, { description: "0 while only a refund of the order is known." })
  @Column({ type: "bigint", transformer: int8 })
  total: number;

  /** Sum of the refunds recorded for the order, as the channels sent them (saturating at 2^53 − 1). */
  @Column({ name: "refunded", type: "bigint", transformer: int8 })
  refundsSum: number;

  @Field(() => GraphQLSafeInt, {
    description:
      "Sum of the order's refunds, at most its total: refunds beyond the total are recorded as sent but not counted twice. " +
      "While only refunds of the order are known, their sum.",
  })
  get refunded(): number {
    return this.currency === null ? this.refundsSum : Math.min(this.refundsSum, this.total);
  }

  /** Exposed as `items` by the resolver, which adds refunded quantities. */
  @Column({ type: "jsonb" })
  items: StoredOrderItem[];

  @Column({ type: "timestamptz", precision: 3, nullable: true })
  amountsAt: Date | null;

  @Column({ type: "smallint", nullable: true })
  amountsRank: number | null;

  @Column({ type: "text", nullable: true })
  amountsEventId: string | null;

  /** Per optional field, the stamp of the event its value comes from (see fold-events.ts). */
  @Column({ type: "jsonb", default: {} })
  fieldStamps: Record<string, string>;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  placedAt: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  paidAt: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  cancelledAt: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  completedAt: Date | null;

  @Field(() => Date, { description: "When we first heard of the order." })
  @Column({ type: "timestamptz", precision: 3 })
  createdAt: Date;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  updatedAt: Date;

  get globalId(): string {
    return toGlobalId("Order", this.id);
  }
}

@Entity({ name: "order_refunds" })
export class OrderRefund {
  @PrimaryColumn({ type: "uuid" })
  tenantId: string;

  @PrimaryColumn({ type: "text" })
  channel: string;

  @PrimaryColumn({ type: "text" })
  externalOrderId: string;

  @PrimaryColumn({ type: "text" })
  refundId: string;

  @Column({ type: "bigint", transformer: int8 })
  amount: number;

  @Column({ type: "jsonb" })
  /** Quantities as canonical decimal strings (integers in refunds stored before decimals). */
  items: { sku: string; quantity: string | number; amount: number }[];

  @Column({ type: "timestamptz", precision: 3 })
  occurredAt: Date;
}

@Entity({ name: "customer_stats" })
@ObjectType("CustomerStats", {
  description:
    "What a customer bought, over orders paid or completed in the tenant's currency and not fully refunded. " +
    "Money in minor units of `currency`.",
})
export class CustomerStats {
  @PrimaryColumn({ type: "uuid" })
  customerId: string;

  @PrimaryColumn({ type: "uuid" })
  tenantId: string;

  @Field(() => Int)
  @Column({ type: "int" })
  ordersCount: number;

  @Field(() => GraphQLSafeInt, { description: "Totals of the counted orders less their refunds." })
  @Column({ type: "bigint", transformer: int8 })
  totalSpent: number;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  firstOrderAt: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  lastOrderAt: Date | null;

  @Field(() => String, { description: "The tenant's currency (ISO 4217); orders in other currencies are not counted." })
  @Column({ type: "text" })
  currency: string;

  @Field(() => GraphQLSafeInt, { description: "totalSpent / ordersCount, rounded; 0 without orders." })
  get averageOrderValue(): number {
    return this.ordersCount ? Math.round(this.totalSpent / this.ordersCount) : 0;
  }
}
