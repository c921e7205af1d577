import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ObjectType } from "type-graphql";
import { Node } from "../../core/node";
import { toGlobalId } from "../../core/global-id";

@Entity({ name: "tenants" })
@ObjectType("Tenant", { implements: Node, description: "A merchant: owner of customers, keys and channel connections." })
export class Tenant implements Node {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Field(() => String)
  @Column({ type: "text" })
  name: string;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  createdAt: Date;

  /**
   * Tenant settings: the general keys `currency`, `timeZone`, `locale`, `defaultPhoneRegion` (tenancy/settings.ts,
   * the only reader and writer; orders SQL reads `currency` too) and the `identity` section (ingestion/settings.ts).
   */
  @Column({ type: "jsonb", default: () => "'{}'" })
  settings: Record<string, unknown>;

  get globalId(): string {
    return toGlobalId("Tenant", this.id);
  }
}

@Entity({ name: "api_keys" })
@ObjectType("ApiKey", { implements: Node, description: "An API key's metadata; the key itself is shown once, at creation." })
export class ApiKey implements Node {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  tenantId: string;

  @Field(() => String)
  @Column({ type: "text" })
  name: string;

  /** sha256 of the key; keys are random enough that a slow hash adds nothing. */
  @Column({ type: "text" })
  keyHash: string;

  @Field(() => String, { description: "The first characters of the key, to recognise it." })
  @Column({ type: "text" })
  prefix: string;

  @Field(() => [String])
  @Column({ type: "text", array: true })
  scopes: string[];

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  expiresAt: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  revokedAt: Date | null;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  createdAt: Date;

  get globalId(): string {
    return toGlobalId("ApiKey", this.id);
  }
}
