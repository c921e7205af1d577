import { Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLJSONObject } from "graphql-scalars";
import { UserError } from "../../core/user-error";
import { ConnectionType } from "../../core/pagination";
import { Customer } from "../customers";
import { Segment, SegmentKind } from "./entity";

export const SegmentConnection = ConnectionType(Segment, "Segment");

@InputType()
export class CreateSegmentInput {
  @Field(() => String) name: string;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => SegmentKind, { nullable: true, description: "Default RULE when a query or condition is given, else STATIC." }) kind?: SegmentKind | null;
  @Field(() => String, { nullable: true, description: 'The rule in the segment language, e.g. `orders_count >= 3 AND tag = "vip"` (RULE only; or `condition`).' })
  query?: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "The rule as a condition tree (RULE only; or `query`)." })
  condition?: Record<string, unknown> | null;
  @Field(() => [ID], { nullable: true, description: "STATIC only: the first members (Customer ids, at most 1,000)." })
  customerIds?: string[] | null;
}

@InputType()
export class UpdateSegmentInput {
  @Field(() => ID) id: string;
  @Field(() => String, { nullable: true }) name?: string | null;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => String, { nullable: true, description: "A new rule (RULE segments); members are recomputed at once." }) query?: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true }) condition?: Record<string, unknown> | null;
}

@InputType()
export class SegmentIdInput {
  @Field(() => ID) id: string;
}

@InputType()
export class SegmentMembersInput {
  @Field(() => ID) segmentId: string;
  @Field(() => [ID], { description: "Customer ids, at most 1,000 per call." }) customerIds: string[];
}

@ObjectType()
export class SegmentPayload {
  @Field(() => Segment, { nullable: true }) segment: Segment | null;
  @Field(() => [UserError]) userErrors: UserError[];
}
@ObjectType() export class CreateSegmentPayload extends SegmentPayload {}
@ObjectType() export class UpdateSegmentPayload extends SegmentPayload {}
@ObjectType() export class RefreshSegmentPayload extends SegmentPayload {}
@ObjectType() export class AddSegmentMembersPayload extends SegmentPayload {}
@ObjectType() export class RemoveSegmentMembersPayload extends SegmentPayload {}

@ObjectType()
export class DeleteSegmentPayload {
  @Field(() => ID, { nullable: true }) deletedSegmentId: string | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@ObjectType({ description: "A problem in a segment query, at its position (1-based)." })
export class SegmentQueryError {
  @Field(() => String) message: string;
  @Field(() => Int) line: number;
  @Field(() => Int) column: number;
}

@ObjectType()
export class SegmentQueryValidation {
  @Field(() => Boolean) valid: boolean;
  @Field(() => [SegmentQueryError]) errors: SegmentQueryError[];
  @Field(() => GraphQLJSONObject, { nullable: true, description: "The parsed condition tree, when valid." }) condition: Record<string, unknown> | null;
  @Field(() => String, { nullable: true, description: "The query in canonical form, when valid." }) query: string | null;
}

@ObjectType({ description: "Who a rule would select now, without saving it." })
export class SegmentPreview {
  @Field(() => Int) size: number;
  /** The compiled rule, for `sample`. */
  run: (first: number) => Promise<Customer[]>;
  @Field(() => [UserError], { description: "Why the rule was refused (then size is 0)." }) userErrors: UserError[];
}

export enum SegmentMembershipChangeKind {
  ADDED = "ADDED",
  REMOVED = "REMOVED",
}
registerEnumType(SegmentMembershipChangeKind, { name: "SegmentMembershipChangeKind" });

@ObjectType({ description: "A customer joined or left a segment." })
export class SegmentMembershipChange {
  @Field(() => Segment, { nullable: true, description: "Null if the segment was deleted since." }) segment: Segment | null;
  /** Served by a field resolver (it takes customers:read). */
  customer: Customer | null;
  @Field(() => ID) customerId: string;
  @Field(() => SegmentMembershipChangeKind) change: SegmentMembershipChangeKind;
  @Field(() => Date) occurredAt: Date;
}

@ObjectType({ description: "A field of the segment language." })
export class SegmentField {
  @Field(() => String, { description: "As written in queries; a family ends with a dot (`attribute.`)." }) name: string;
  @Field(() => String) description: string;
  @Field(() => String, { description: "string, number, integer, boolean, date or any." }) kind: string;
  @Field(() => [String]) operators: string[];
  @Field(() => Boolean, { description: "Accepts `WITHIN 90d`." }) windowed: boolean;
  @Field(() => [String], { nullable: true, description: "The only values allowed, when the field has a fixed set." }) values: string[] | null;
}
