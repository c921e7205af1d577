import { encryptedJson } from "../../db/encrypted-columns";
import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ID, InputType, ObjectType, registerEnumType } from "type-graphql";
import { toGlobalId } from "../../core/global-id";
import { Node } from "../../core/node";

/** An event whose identifiers could not be applied as given, recorded by the pipeline for review. */
@Entity({ name: "identity_conflicts" })
@ObjectType("IdentityConflict", { implements: Node, description: "An event whose identifiers could not be applied as given (e.g. a second unionid); for review." })
export class IdentityConflict implements Node {
  @PrimaryGeneratedColumn("uuid") id: string;
  @Column({ type: "uuid" }) tenantId: string;
  @Field(() => String) @Column({ type: "text" }) channel: string;
  @Field(() => String) @Column({ type: "text" }) externalId: string;
  @Column({ name: "identities", type: "jsonb", transformer: encryptedJson }) identityValues: { type: string; value: string }[];
  @Column({ name: "customer_ids", type: "uuid", array: true }) customerLocalIds: string[];
  @Field(() => String) @Column({ type: "text" }) reason: string;
  @Field(() => Date) @Column({ type: "timestamptz", precision: 3 }) createdAt: Date;
  @Field(() => Date, { nullable: true, description: "When it was closed with resolveIdentityConflict." })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  resolvedAt: Date | null;
  @Field(() => String, { nullable: true }) @Column({ type: "text", nullable: true }) resolutionNote: string | null;
  @Column({ type: "text", nullable: true }) resolvedBy: string | null;

  get globalId(): string {
    return toGlobalId("IdentityConflict", this.id);
  }
  /** type:value of the identities involved; served (masked by scope) by IdentityConflictResolver. */
  get identities(): string[] {
    return this.identityValues.map((i) => `${i.type}:${i.value}`);
  }
  @Field(() => [ID], { description: "The customers involved, as ids (`customers` gives the ones that still exist)." })
  get customerIds(): string[] {
    return this.customerLocalIds.map((c) => toGlobalId("Customer", c));
  }
}

export enum IdentityConflictStatus {
  OPEN = "OPEN",
  RESOLVED = "RESOLVED",
  ALL = "ALL",
}
registerEnumType(IdentityConflictStatus, { name: "IdentityConflictStatus", description: "OPEN: not yet resolved; RESOLVED: closed with resolveIdentityConflict." });

@InputType()
export class IdentityConflictFilter {
  @Field(() => IdentityConflictStatus, { nullable: true, defaultValue: IdentityConflictStatus.OPEN }) status?: IdentityConflictStatus | null;
  @Field(() => ID, { nullable: true, description: "Only conflicts that involve this customer." }) customerId?: string | null;
  @Field(() => String, { nullable: true, description: "Only conflicts from this channel." }) channel?: string | null;
}
