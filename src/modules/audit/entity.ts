import { Field, ID, InputType, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { toGlobalId } from "../../core/global-id";
import { Node } from "../../core/node";

export enum AuditKind {
  MUTATION = "MUTATION",
  PII_READ = "PII_READ",
  SUBSCRIPTION = "SUBSCRIPTION",
}
registerEnumType(AuditKind, {
  name: "AuditKind",
  description: "A mutation (exports included), a read that served personal values unmasked, or a subscription started by a key that sees them unmasked (one record when it starts).",
});

export enum AuditResult {
  OK = "OK",
  USER_ERROR = "USER_ERROR",
  ERROR = "ERROR",
}
registerEnumType(AuditResult, { name: "AuditResult", description: "OK; USER_ERROR: refused with userErrors, nothing written; ERROR: a GraphQL error." });

@Entity({ name: "audit_log" })
@ObjectType("AuditRecord", { implements: Node, description: "One audited action: who, what, whom, when, from where, and how it ended. Append-only." })
export class AuditRecord implements Node {
  @PrimaryGeneratedColumn("uuid") id: string;
  @Column({ type: "uuid", nullable: true }) tenantId: string | null;
  @Field(() => Date) @Column({ type: "timestamptz", precision: 3 }) at: Date;
  @Field(() => String, { description: "api_key, plugin, system or platform." }) @Column({ type: "text" }) actorKind: string;
  @Field(() => ID, { nullable: true, description: "The API key's global id (ApiKey), or the plugin's or system job's name." })
  @Column({ type: "text", nullable: true })
  actorId: string | null;
  @Field(() => String, { nullable: true, description: "The API key's name when it acted." }) @Column({ type: "text", nullable: true }) actorName: string | null;
  @Field(() => AuditKind) @Column({ type: "text" }) kind: AuditKind;
  @Field(() => String, { description: "The operation's name, or its root fields (e.g. `updateCustomer`)." }) @Column({ type: "text" }) operation: string;
  @Field(() => [ID], { description: "Global ids the operation named or whose personal values it served." }) @Column({ type: "text", array: true }) targetIds: string[];
  @Field(() => String, { nullable: true, description: "The client's address as the server saw it." }) @Column({ type: "text", nullable: true }) ip: string | null;
  @Field(() => AuditResult) @Column({ type: "text" }) result: AuditResult;

  get globalId(): string {
    return toGlobalId("AuditRecord", this.id);
  }
}

@InputType()
export class AuditLogFilter {
  @Field(() => String, { nullable: true, description: "An actor's id (an ApiKey's global id) or name." }) actor?: string | null;
  @Field(() => ID, { nullable: true, description: "Records that name this global id." }) targetId?: string | null;
  @Field(() => String, { nullable: true }) operation?: string | null;
  @Field(() => Date, { nullable: true, description: "At or after (inclusive)." }) after?: Date | null;
  @Field(() => Date, { nullable: true, description: "Before (exclusive)." }) before?: Date | null;
}
