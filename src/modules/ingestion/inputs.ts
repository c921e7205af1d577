import { Field, ID, InputType, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLJSON } from "graphql-scalars";
import { UserError } from "../../core/user-error";
import { Customer, CustomerMerge, CustomerProfileInput, IdentityType } from "../customers";
import { IdentityConflict } from "./conflict-entity";

export { IdentityConflict };
import type { IdentityTypeName } from "../../plugins/identity";

/** GraphQL names in ALL_CAPS; the values are the lowercase words the webhooks answer with. */
export enum IngestStatus {
  ACCEPTED = "accepted",
  DUPLICATE = "duplicate",
  REJECTED = "rejected",
}
registerEnumType(IngestStatus, { name: "IngestStatus", description: "What became of one event (the webhooks answer the same in lower case)." });

@ObjectType()
export class IngestEventResult {
  @Field(() => String) externalId: string;
  @Field(() => IngestStatus) status: IngestStatus;
  @Field(() => String, { nullable: true, description: "Why it was rejected." }) reason: string | null;
}

@InputType()
export class IngestEventsInput {
  @Field(() => ID, { description: "The channel connection the events come through (their channel)." }) connectionId: string;
  @Field(() => [GraphQLJSON], { description: "Normalized events v1 (see docs/plugins.md), at most 1000." }) events: unknown[];
}

@ObjectType()
export class IngestEventsPayload {
  @Field(() => [IngestEventResult], { description: "One per event, in request order." }) results: IngestEventResult[];
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class IdentityKeyInput {
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => String) value: string;
}

@InputType()
export class UpsertCustomerInput extends CustomerProfileInput {
  @Field(() => IdentityKeyInput, { description: "The customer this identity resolves to is updated; without one, a customer with it is created." })
  identity: IdentityKeyInput;
  @Field(() => [String], { nullable: true, description: "Added to the customer's tags." }) tags?: string[] | null;
}

@ObjectType()
export class UpsertCustomerPayload {
  @Field(() => Customer, { nullable: true }) customer: Customer | null;
  @Field(() => Boolean, { description: "True when the customer was created by this call." }) created: boolean;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class MergeCustomersInput {
  @Field(() => ID, { description: "The customer that remains." }) targetId: string;
  @Field(() => ID, { description: "The customer folded into the target (restorable with unmergeCustomer)." }) sourceId: string;
}

@ObjectType()
export class MergeCustomersPayload {
  @Field(() => Customer, { nullable: true }) customer: Customer | null;
  @Field(() => CustomerMerge, { nullable: true }) merge: CustomerMerge | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class UnmergeCustomerInput {
  @Field(() => ID) mergeId: string;
}

@ObjectType()
export class UnmergeCustomerPayload {
  @Field(() => Customer, { nullable: true, description: "The customer that had remained." }) target: Customer | null;
  @Field(() => Customer, { nullable: true, description: "The customer restored." }) source: Customer | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class ResolveIdentityConflictInput {
  @Field(() => ID, { description: "The conflict's id, as identityConflicts gives it." }) id: string;
  @Field(() => String, { nullable: true, description: "What was decided (e.g. \"merged by hand\", \"shared family phone\"); at most 500 characters." })
  note?: string | null;
}

@ObjectType()
export class ResolveIdentityConflictPayload {
  @Field(() => IdentityConflict, { nullable: true }) conflict: IdentityConflict | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

