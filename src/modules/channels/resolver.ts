import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import { GraphQLJSONObject } from "graphql-scalars";
import type { RequestCtx } from "../../core/context";
import { localId } from "../../core/global-id";
import { ConnectionArgs, ConnectionType } from "../../core/pagination";
import { toPayload } from "../../core/payload";
import { fail, ok, userError, UserErrorCode } from "../../core/user-error";
import { registerNodeType } from "../../core/node";
import { ChannelConnection } from "./entity";

const ChannelConnectionConnection = ConnectionType(ChannelConnection, "ChannelConnection");
import {
  CreateChannelConnectionInput,
  CreateChannelConnectionPayload,
  DisableChannelConnectionInput,
  DisableChannelConnectionPayload,
  PluginJobRun,
  RunPluginJobInput,
  RunPluginJobPayload,
  UpdateChannelConnectionInput,
  UpdateChannelConnectionPayload,
} from "./inputs";

registerNodeType("ChannelConnection", "admin", (ctx, id) => ctx.app.channels.byId(ctx, id));

@Resolver(() => ChannelConnection)
export class ChannelConnectionResolver {
  @FieldResolver(() => String, { description: "Where the channel must send its pushes: PUBLIC_URL/channels/<channel>/<id>." })
  webhookUrl(@Root() c: ChannelConnection, @Ctx() ctx: RequestCtx): string {
    return ctx.app.channels.webhookUrl(c);
  }

  @FieldResolver(() => GraphQLJSONObject, { description: "The connection's config without its secrets." })
  config(@Root() c: ChannelConnection, @Ctx() ctx: RequestCtx): Record<string, unknown> {
    return ctx.app.channels.publicConfig(c);
  }

  @Authorized("admin")
  @Query(() => ChannelConnectionConnection, { description: "Your tenant's connections, oldest first." })
  channelConnections(
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Arg("channel", () => String, { nullable: true }) channel: string | null,
    @Ctx() ctx: RequestCtx,
  ) {
    return ctx.app.channels.list(ctx, channel, page);
  }

  @Authorized("admin")
  @Query(() => ChannelConnection, { nullable: true })
  channelConnection(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx) {
    const local = localId(id, "ChannelConnection");
    return local ? ctx.app.channels.byId(ctx, local) : null;
  }

  @Authorized("admin")
  @Mutation(() => CreateChannelConnectionPayload)
  async createChannelConnection(@Arg("input", () => CreateChannelConnectionInput) input: CreateChannelConnectionInput, @Ctx() ctx: RequestCtx) {
    const r = await ctx.app.channels.create(ctx, input);
    return toPayload(CreateChannelConnectionPayload, r, (connection) => ({ connection }), { connection: null });
  }

  @Authorized("admin")
  @Mutation(() => UpdateChannelConnectionPayload)
  async updateChannelConnection(@Arg("input", () => UpdateChannelConnectionInput) input: UpdateChannelConnectionInput, @Ctx() ctx: RequestCtx) {
    const r = await ctx.app.channels.update(ctx, input);
    return toPayload(UpdateChannelConnectionPayload, r, (connection) => ({ connection }), { connection: null });
  }

  @Authorized("platform")
  @Mutation(() => RunPluginJobPayload, {
    description: "Platform key only. Runs a plugin's periodic job now, once (after a run in progress), e.g. a pull after a channel outage. Jobs serve every tenant's connections.",
  })
  async runPluginJob(@Arg("input", () => RunPluginJobInput) input: RunPluginJobInput, @Ctx() ctx: RequestCtx) {
    const run = await ctx.app.plugins.runJobNow(input.plugin, input.job);
    const r = run
      ? ok(Object.assign(new PluginJobRun(), { plugin: input.plugin, job: input.job, startedAt: run.startedAt, durationMs: run.durationMs, succeeded: run.error === null, error: run.error }))
      : fail<PluginJobRun>(userError(["job"], UserErrorCode.NOT_FOUND, `No job "${input.job}" in plugin "${input.plugin}"`));
    return toPayload(RunPluginJobPayload, r, (value) => ({ run: value }), { run: null });
  }

  @Authorized("admin")
  @Mutation(() => DisableChannelConnectionPayload, { description: "Its webhook answers 404 from now on; enable it again with updateChannelConnection." })
  async disableChannelConnection(@Arg("input", () => DisableChannelConnectionInput) input: DisableChannelConnectionInput, @Ctx() ctx: RequestCtx) {
    const r = await ctx.app.channels.disable(ctx, input.id);
    return toPayload(DisableChannelConnectionPayload, r, (connection) => ({ connection }), { connection: null });
  }
}
