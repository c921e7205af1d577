import { Field, ID, InputType, ObjectType } from "type-graphql";
import { UserError } from "../../core/user-error";
import { ApiKey, Tenant } from "./entity";

@InputType()
export class CreateTenantInput {
  @Field(() => String) name: string;
}

@ObjectType()
export class CreateTenantPayload {
  @Field(() => Tenant, { nullable: true }) tenant: Tenant | null;
  @Field(() => String, { nullable: true, description: "The new tenant's admin key. Shown once; store it now." }) apiKey: string | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class CreateApiKeyInput {
  @Field(() => ID, { nullable: true, description: "Required with the platform key; tenant admins may omit it (their own tenant)." })
  tenantId?: string | null;
  @Field(() => String) name: string;
  @Field(() => [String], { description: "Scopes the modules declare (customers:read, customers:write, orders:read, ingest, …; an unknown one is refused with the list) or admin, which implies all the others." }) scopes: string[];
  @Field(() => Date, { nullable: true }) expiresAt?: Date | null;
}

@ObjectType()
export class CreateApiKeyPayload {
  @Field(() => String, { nullable: true, description: "The key itself. Shown once; only its hash is stored." }) apiKey: string | null;
  @Field(() => ApiKey, { nullable: true }) key: ApiKey | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class RevokeApiKeyInput {
  @Field(() => ID) id: string;
}

@ObjectType()
export class RevokeApiKeyPayload {
  @Field(() => ApiKey, { nullable: true }) key: ApiKey | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@ObjectType({ description: "Who is calling." })
export class Viewer {
  @Field(() => Tenant, { nullable: true, description: "Null for the platform key." }) tenant: Tenant | null;
  @Field(() => [String]) scopes: string[];
  @Field(() => Boolean) isPlatform: boolean;
}
