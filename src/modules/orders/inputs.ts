import { Field, ID, InputType } from "type-graphql";
import { OrderStatus } from "./entity";

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
