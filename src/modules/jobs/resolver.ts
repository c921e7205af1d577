import { Arg, Args, Authorized, Ctx, Field, ID, InputType, Int, Mutation, ObjectType, Query, registerEnumType, Resolver } from "type-graphql";
import { GraphQLJSONObject } from "graphql-scalars";
import type { RequestCtx } from "../../core/context";
import { badUserInput } from "../../core/errors";
import { toGlobalId, UUID_ANY_CASE } from "../../core/global-id";
import type { JobRunRow, JobState as QueueState } from "../../core/jobs";
import { ConnectionArgs, ConnectionType, decodeCursor, pageOf, pageSize } from "../../core/pagination";
import { UserError, userError, UserErrorCode } from "../../core/user-error";

export enum JobState {
  CREATED = "created",
  RETRY = "retry",
  ACTIVE = "active",
  COMPLETED = "completed",
  CANCELLED = "cancelled",
  FAILED = "failed",
}
registerEnumType(JobState, {
  name: "JobState",
  description: "CREATED: waiting; RETRY: failed, waiting for its next attempt; ACTIVE: running; COMPLETED; CANCELLED; FAILED: retries spent (a dead letter; retryJob runs it again).",
});

@ObjectType("JobRun", { description: "A job of the queue (a delivery, a scheduled sweep, a plugin's pull…): its state and attempts." })
export class JobRun {
  @Field(() => ID, { description: "The job's id, as retryJob takes it." }) id: string;
  @Field(() => String, { description: "Its queue, e.g. crm.imports.export-sweep." }) name: string;
  @Field(() => JobState) state: JobState;
  @Field(() => ID, { nullable: true, description: "The tenant it works for; null for the cluster's own jobs (platform key only)." }) tenantId: string | null;
  @Field(() => Int, { description: "Attempts made so far." }) attempts: number;
  @Field(() => Int, { description: "Retries allowed after the first attempt." }) retryLimit: number;
  @Field(() => String, { nullable: true, description: "The last failed attempt's error message." }) lastError: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "How far the job has got, for jobs that say (e.g. the re-encryption's rows per table); kept when it completes." })
  progress: Record<string, unknown> | null;
  @Field(() => Date) createdAt: Date;
  @Field(() => Date, { nullable: true }) startedAt: Date | null;
  @Field(() => Date, { nullable: true }) completedAt: Date | null;
}

@InputType()
export class JobRunFilter {
  @Field(() => String, { nullable: true, description: "Only this queue." }) name?: string | null;
  @Field(() => JobState, { nullable: true }) state?: JobState | null;
}

@InputType()
export class RetryJobInput {
  @Field(() => ID, { description: "A FAILED job's id." }) id: string;
}

@ObjectType()
export class RetryJobPayload {
  @Field(() => JobRun, { nullable: true }) job: JobRun | null;
  @Field(() => [UserError]) userErrors: UserError[];
}

const JobRunConnection = ConnectionType(JobRun, "JobRun");

function jobRunOf(r: JobRunRow): JobRun {
  const started = r.state !== "created" && r.state !== "retry";
  return Object.assign(new JobRun(), {
    id: r.id,
    name: r.name,
    state: r.state as JobState,
    tenantId: r.tenantId ? toGlobalId("Tenant", r.tenantId) : null,
    attempts: r.retryCount + (started ? 1 : 0),
    retryLimit: r.retryLimit,
    lastError: r.lastError,
    progress: r.progress,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    completedAt: r.completedAt,
  });
}

/** Tenant admins see their tenant's jobs; the platform key sees every job. */
const tenantScope = (ctx: RequestCtx): string | undefined => (ctx.principal.kind === "api_key" ? ctx.principal.tenantId : undefined);

@Resolver()
export class JobsResolver {
  @Authorized(["platform", "admin"])
  @Query(() => JobRunConnection, { description: "Jobs of the queue, newest first (forward pages only)." })
  async jobRuns(@Arg("filter", () => JobRunFilter, { nullable: true }) filter: JobRunFilter | null, @Args(() => ConnectionArgs) page: ConnectionArgs, @Ctx() ctx: RequestCtx) {
    if (page.last != null || page.before != null) throw badUserInput("jobRuns pages forward only: use first and after", "last");
    const { size } = pageSize(page);
    const after = page.after ? decodeCursor(page.after, "after") : undefined;
    const scope = { name: filter?.name, state: filter?.state as QueueState | undefined, tenantId: tenantScope(ctx) };
    const runs = (await ctx.app.jobs.runs(scope, size + 1, after)).map(jobRunOf);
    return pageOf(runs, { args: page, sortValue: (j) => j.createdAt.toISOString(), id: (j) => j.id }, () => ctx.app.jobs.count(scope));
  }

  @Authorized(["platform", "admin"])
  @Mutation(() => RetryJobPayload, { description: "Runs a FAILED job again, its retries starting over." })
  async retryJob(@Arg("input", () => RetryJobInput) input: RetryJobInput, @Ctx() ctx: RequestCtx): Promise<RetryJobPayload> {
    const id = UUID_ANY_CASE.test(input.id) ? input.id : null;
    const done = id ? await ctx.app.jobs.retry(id, tenantScope(ctx)) : false;
    if (!done) return Object.assign(new RetryJobPayload(), { job: null, userErrors: [userError(["id"], UserErrorCode.NOT_FOUND, "No failed job with this id")] });
    const [row] = await ctx.app.jobs.runs({ tenantId: tenantScope(ctx) }, 1, undefined, input.id);
    return Object.assign(new RetryJobPayload(), { job: row ? jobRunOf(row) : null, userErrors: [] });
  }
}
