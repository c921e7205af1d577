import { Field, ID, InputType, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLJSONObject, GraphQLLocalDate } from "graphql-scalars";
import { ConnectionType, SortDirection } from "../../core/pagination";
import { UserError } from "../../core/user-error";
import { ConsentChannel, Customer, CustomerIdentity, Gender, IdentityType } from "./entity";
import { CustomerErasure } from "./erasure";
import type { IdentityTypeName } from "./normalize";

@InputType()
export class RegionInput {
  @Field(() => String, { nullable: true, description: "ISO 3166-1 alpha-2, e.g. CN." }) country?: string | null;
  @Field(() => String, { nullable: true }) province?: string | null;
  @Field(() => String, { nullable: true }) city?: string | null;
}

@InputType()
export class MarketingConsentInput {
  @Field(() => ConsentChannel) channel: ConsentChannel;
  @Field(() => Boolean) granted: boolean;
}

@InputType()
export class IdentityInput {
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => String) value: string;
}

/** Profile fields shared by create and update. Omitted fields are left alone; null clears. */
@InputType("CustomerProfileInput")
export abstract class CustomerProfileInput {
  @Field(() => String, { nullable: true }) displayName?: string | null;
  @Field(() => Gender, { nullable: true }) gender?: Gender | null;
  @Field(() => GraphQLLocalDate, { nullable: true }) birthday?: string | null;
  @Field(() => String, { nullable: true }) locale?: string | null;
  @Field(() => RegionInput, { nullable: true }) region?: RegionInput | null;
  @Field(() => String, { nullable: true, description: "Any common format; stored as E.164 (default region from DEFAULT_PHONE_REGION)." })
  phone?: string | null;
  @Field(() => String, { nullable: true }) email?: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "Replaces all attributes (at most 16 KB as JSON)." })
  attributes?: Record<string, unknown> | null;
  @Field(() => [MarketingConsentInput], { nullable: true, description: "Per channel; channels not listed keep their consent." })
  marketingConsent?: MarketingConsentInput[] | null;
}

@InputType()
export class CreateCustomerInput extends CustomerProfileInput {
  @Field(() => [String], { nullable: true }) tags?: string[] | null;
  @Field(() => [IdentityInput], { nullable: true, description: "More identities to attach (phone and e-mail above are attached too)." })
  identities?: IdentityInput[] | null;
}

@InputType()
export class UpdateCustomerInput extends CustomerProfileInput {
  @Field(() => ID) id: string;
}

@InputType()
export class DeleteCustomerInput {
  @Field(() => ID) id: string;
}

@InputType()
export class CustomerTagsInput {
  @Field(() => ID) id: string;
  @Field(() => [String]) tags: string[];
}

@InputType()
export class AttachCustomerIdentityInput {
  @Field(() => ID) customerId: string;
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => String) value: string;
  @Field(() => String, { nullable: true, description: "Channel the identity came from, if any." }) sourceChannel?: string | null;
}

@InputType()
export class DetachCustomerIdentityInput {
  @Field(() => ID) customerId: string;
  @Field(() => IdentityType) type: IdentityTypeName;
  @Field(() => String) value: string;
}

@InputType()
export class CustomerFilter {
  @Field(() => String, {
    nullable: true,
    description:
      "Matches part of the name, or a whole e-mail address, or a whole phone number (in any format), or the last four digits of the phone (`8000`). Phones and e-mail addresses are encrypted at rest: they are found by exact value only, never by a part.",
  })
  search?: string | null;
  @Field(() => String, { nullable: true, description: "Customers whose primary phone is this number (any format; read in the tenant's phone region)." })
  phone?: string | null;
  @Field(() => String, { nullable: true, description: "Customers whose primary e-mail is this address (case-insensitive)." })
  email?: string | null;
  @Field(() => String, { nullable: true, description: "Customers whose primary phone ends in these four digits (`8000`): the search staff use at the counter." })
  phoneLast4?: string | null;
  @Field(() => [String], { nullable: true, description: "Customers carrying every one of these tags." })
  tags?: string[] | null;
  @Field(() => Date, { nullable: true }) createdAfter?: Date | null;
  @Field(() => Date, { nullable: true }) createdBefore?: Date | null;
}

export enum CustomerSortField {
  CREATED_AT = "CREATED_AT",
  UPDATED_AT = "UPDATED_AT",
  LAST_SEEN_AT = "LAST_SEEN_AT",
  DISPLAY_NAME = "DISPLAY_NAME",
}
registerEnumType(CustomerSortField, { name: "CustomerSortField" });

@InputType()
export class CustomerOrder {
  @Field(() => CustomerSortField, { defaultValue: CustomerSortField.CREATED_AT }) field: CustomerSortField;
  @Field(() => SortDirection, { defaultValue: SortDirection.DESC }) direction: SortDirection;
}

@ObjectType()
export class CustomerPayload {
  @Field(() => Customer, { nullable: true }) customer: Customer | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@ObjectType()
export class CreateCustomerPayload extends CustomerPayload {}
@ObjectType()
export class UpdateCustomerPayload extends CustomerPayload {}
@ObjectType()
export class AddCustomerTagsPayload extends CustomerPayload {}
@ObjectType()
export class RemoveCustomerTagsPayload extends CustomerPayload {}
@ObjectType()
export class DetachCustomerIdentityPayload extends CustomerPayload {}

@ObjectType()
export class AttachCustomerIdentityPayload extends CustomerPayload {
  @Field(() => CustomerIdentity, { nullable: true }) identity: CustomerIdentity | null;
}

@InputType()
export class ExportCustomerDataInput {
  @Field(() => ID) customerId: string;
}

@ObjectType()
export class ExportCustomerDataPayload {
  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: "Everything held about the person: `customerId`, `exportedAt`, `sections` (the names present) and one key per section — `profile` (identities and consent included), `merges`, `orders`, and those later modules register.",
  })
  document: Record<string, unknown> | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class EraseCustomerInput {
  @Field(() => ID) customerId: string;
  @Field(() => String, { description: "Why (a request, a ticket number; at most 500 characters). Kept with the erasure record: write no personal data here." })
  reason: string;
}

@ObjectType()
export class EraseCustomerPayload {
  @Field(() => CustomerErasure, { nullable: true }) erasure: CustomerErasure | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@ObjectType()
export class ConsentPayload {
  @Field(() => Customer, { nullable: true }) customer: Customer | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@ObjectType()
export class DeleteCustomerPayload {
  @Field(() => ID, { nullable: true }) deletedCustomerId: string | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

export const CustomerConnection = ConnectionType(Customer, "Customer");
