import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLJSONObject } from "graphql-scalars";
import { Node } from "../../core/node";
import { toGlobalId } from "../../core/global-id";
import type { Condition } from "./condition";

export enum SegmentKind {
  RULE = "RULE",
  STATIC = "STATIC",
}
registerEnumType(SegmentKind, {
  name: "SegmentKind",
  valuesConfig: {
    RULE: { description: "Members are the customers matching the condition, kept current as their facts change." },
    STATIC: { description: "Members are added and removed by hand (or by an import of ids)." },
  },
});

@Entity({ name: "segments" })
@ObjectType("Segment", { implements: Node, description: "A group of the tenant's customers: by rule (dynamic) or hand-picked." })
export class Segment implements Node {
  @PrimaryGeneratedColumn("uuid") id: string;
  @Column({ type: "uuid" }) tenantId: string;
  @Field(() => String) @Column({ type: "text" }) name: string;
  @Field(() => String) @Column({ type: "text", default: "" }) description: string;
  @Field(() => SegmentKind) @Column({ type: "text" }) kind: SegmentKind;
  @Field(() => String, { nullable: true, description: "The rule in the segment language (docs/segments.md), canonical; null for a static segment." })
  @Column({ type: "text", nullable: true })
  query: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "The rule as a condition tree (all / any / not over { field, op, value, within })." })
  @Column({ type: "jsonb", nullable: true })
  condition: Condition | null;
  @Field(() => Boolean, { description: "Whether time alone changes the members (relative dates, windows): refreshed hourly besides every change of a customer's facts." })
  @Column({ type: "boolean", default: false })
  timeBased: boolean;
  @Field(() => String, { nullable: true, description: "Set on the built-in segments a module created (the value tiers: HIGH_VALUE, POTENTIAL, ORDINARY, DORMANT); they can be edited like any other." })
  @Column({ type: "text", nullable: true })
  systemKey: string | null;
  @Field(() => Date, { nullable: true, description: "When the members were last recomputed in full." })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  refreshedAt: Date | null;
  @Field(() => Date) @Column({ type: "timestamptz", precision: 3 }) createdAt: Date;
  @Field(() => Date) @Column({ type: "timestamptz", precision: 3 }) updatedAt: Date;

  get globalId(): string {
    return toGlobalId("Segment", this.id);
  }
}
