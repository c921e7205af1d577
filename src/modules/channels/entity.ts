import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ObjectType } from "type-graphql";
import { Node } from "../../core/node";
import { toGlobalId } from "../../core/global-id";

@Entity({ name: "channel_connections" })
@ObjectType("ChannelConnection", {
  implements: Node,
  description: "One merchant account on a channel (two WeChat mini-programs are two connections).",
})
export class ChannelConnection implements Node {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  tenantId: string;

  @Field(() => String, { description: "The channel plugin's name, e.g. http-json, wechat-miniprogram, youzan." })
  @Column({ type: "text" })
  channel: string;

  @Field(() => String)
  @Column({ type: "text" })
  name: string;

  /** Validated by the plugin's schema; secret keys are never returned. */
  @Column({ type: "jsonb" })
  config: Record<string, unknown>;

  @Field(() => Boolean)
  @Column({ type: "boolean", default: true })
  enabled: boolean;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  createdAt: Date;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  updatedAt: Date;

  get globalId(): string {
    return toGlobalId("ChannelConnection", this.id);
  }
}
