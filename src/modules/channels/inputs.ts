import { Field, ID, InputType, Int, ObjectType } from "type-graphql";
import { GraphQLJSONObject } from "graphql-scalars";
import { UserError } from "../../core/user-error";
import { ChannelConnection } from "./entity";

@InputType()
export class RunPluginJobInput {
  @Field(() => String, { description: "The plugin's name (for channel plugins, the channel)." }) plugin: string;
  @Field(() => String, { description: "The job's name, as the plugin declares it." }) job: string;
}

@ObjectType({ description: "One run of a plugin job started with runPluginJob." })
export class PluginJobRun {
  @Field(() => String) plugin: string;
  @Field(() => String) job: string;
  @Field(() => Date) startedAt: Date;
  @Field(() => Int) durationMs: number;
  @Field(() => Boolean) succeeded: boolean;
  @Field(() => String, { nullable: true, description: "What the job failed with; it runs again at its next scheduled time." }) error: string | null;
}

@ObjectType()
export class RunPluginJobPayload {
  @Field(() => PluginJobRun, { nullable: true }) run: PluginJobRun | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

@InputType()
export class CreateChannelConnectionInput {
  @Field(() => String, { description: "A registered channel plugin's name." }) channel: string;
  @Field(() => String) name: string;
  @Field(() => GraphQLJSONObject, { description: "Validated by the channel plugin's config schema." }) config: Record<string, unknown>;
}

@InputType()
export class UpdateChannelConnectionInput {
  @Field(() => ID) id: string;
  @Field(() => String, { nullable: true }) name?: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "Keys given replace the stored ones (rotate a secret by giving it); the result is validated again." })
  config?: Record<string, unknown> | null;
  @Field(() => Boolean, { nullable: true }) enabled?: boolean | null;
}

@InputType()
export class DisableChannelConnectionInput {
  @Field(() => ID) id: string;
}

@ObjectType()
export class ChannelConnectionPayload {
  @Field(() => ChannelConnection, { nullable: true }) connection: ChannelConnection | null;
  @Field(() => [UserError]) userErrors: UserError[];
}
@ObjectType()
export class CreateChannelConnectionPayload extends ChannelConnectionPayload {}
@ObjectType()
export class UpdateChannelConnectionPayload extends ChannelConnectionPayload {}
@ObjectType()
export class DisableChannelConnectionPayload extends ChannelConnectionPayload {}
