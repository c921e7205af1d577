import { Arg, Args, ArgsType, Authorized, Ctx, Field, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { GraphQLJSONObject } from "graphql-scalars";
import type { RequestCtx } from "../../core/context";
import { localId } from "../../core/global-id";
import { registerNodeType } from "../../core/node";
import { ConnectionArgs, MAX_PAGE_SIZE } from "../../core/pagination";
import { badUserInput } from "../../core/errors";
import { toPayload } from "../../core/payload";
import { Customer, CustomerConnection } from "../customers";
import { Segment } from "./entity";
import {
  AddSegmentMembersPayload,
  CreateSegmentInput,
  CreateSegmentPayload,
  DeleteSegmentPayload,
  RefreshSegmentPayload,
  RemoveSegmentMembersPayload,
  SegmentConnection,
  SegmentField,
  SegmentIdInput,
  SegmentMembersInput,
  SegmentPreview,
  SegmentQueryError,
  SegmentQueryValidation,
  UpdateSegmentInput,
  UpdateSegmentPayload,
} from "./inputs";

const READ = "segments:read";
const WRITE = "segments:write";

registerNodeType("Segment", READ, (ctx, id) => ctx.loaders.segments.byId.load(id));

@ArgsType()
class ForwardArgs {
  @Field(() => Int, { nullable: true, description: `Page size (max ${MAX_PAGE_SIZE}; default 50).` }) first?: number | null;
  @Field(() => String, { nullable: true }) after?: string | null;
}

@Resolver(() => Segment)
export class SegmentResolver {
  @Authorized(READ)
  @Query(() => SegmentConnection, { description: "Your tenant's segments, oldest first." })
  segments(@Args(() => ConnectionArgs) page: ConnectionArgs, @Ctx() ctx: RequestCtx) {
    return ctx.app.segments.list(ctx, page);
  }

  @Authorized(READ)
  @Query(() => Segment, { nullable: true })
  segment(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx) {
    const local = localId(id, "Segment");
    return local ? ctx.loaders.segments.byId.load(local) : null;
  }

  @Authorized(READ)
  @Query(() => [SegmentField], { description: "The fields of the segment language, built-in and registered by modules." })
  segmentFields(@Ctx() ctx: RequestCtx): SegmentField[] {
    return ctx.app.segments.conditions.all().map((d) =>
      Object.assign(new SegmentField(), {
        name: d.prefix ? `${d.name}.` : d.name,
        description: d.description,
        kind: d.kind,
        operators: [...d.operators],
        windowed: Boolean(d.windowed),
        values: d.dynamicValues ? [...d.dynamicValues()] : d.values ? [...d.values] : null,
      }),
    );
  }

  @Authorized(READ)
  @Query(() => SegmentQueryValidation, { description: "Checks a query in the segment language; errors carry their line and column." })
  validateSegmentQuery(@Arg("query", () => String) query: string, @Ctx() ctx: RequestCtx): SegmentQueryValidation {
    const r = ctx.app.segments.validateQuery(query);
    return Object.assign(new SegmentQueryValidation(), {
      valid: r.errors.length === 0,
      errors: r.errors.map((e) => Object.assign(new SegmentQueryError(), e)),
      condition: r.condition as Record<string, unknown> | null,
      query: r.query,
    });
  }

  @Authorized(READ)
  @Query(() => SegmentPreview, { description: "How many customers a rule selects now, and a sample of them, without saving it. Give `query` or `condition`." })
  async previewSegment(
    @Arg("query", () => String, { nullable: true }) query: string | null,
    @Arg("condition", () => GraphQLJSONObject, { nullable: true }) condition: Record<string, unknown> | null,
    @Ctx() ctx: RequestCtx,
  ): Promise<SegmentPreview> {
    const r = await ctx.app.segments.preview(ctx, { query, condition });
    const preview = new SegmentPreview();
    if (!r.ok) return Object.assign(preview, { size: 0, userErrors: r.errors, run: async () => [] });
    return Object.assign(preview, {
      size: r.value.size,
      userErrors: [],
      run: async (first: number) => (await ctx.loaders.customers.byId.loadMany(await r.value.sample(first))).filter((c): c is Customer => c instanceof Object && !(c instanceof Error)),
    });
  }

  @FieldResolver(() => Int, { description: "Current members." })
  size(@Root() s: Segment, @Ctx() ctx: RequestCtx): Promise<number> {
    return ctx.loaders.segments.size.load(s.id);
  }

  @Authorized("customers:read")
  @FieldResolver(() => CustomerConnection, { description: "Current members, in the order they joined (reading them takes customers:read; personal values are masked as everywhere)." })
  members(@Root() s: Segment, @Args(() => ForwardArgs) page: ForwardArgs, @Ctx() ctx: RequestCtx) {
    return ctx.app.segments.members(ctx, s.id, page, async (ids) => (await ctx.loaders.customers.byId.loadMany(ids)).map((c) => (c instanceof Error ? null : c)));
  }

  @Authorized(WRITE)
  @Mutation(() => CreateSegmentPayload, { description: "Creates a segment; a rule segment's members are computed before it answers (`size` is right at once)." })
  async createSegment(@Arg("input", () => CreateSegmentInput) input: CreateSegmentInput, @Ctx() ctx: RequestCtx) {
    return toPayload(CreateSegmentPayload, await ctx.app.segments.create(ctx, input), (segment) => ({ segment }), { segment: null });
  }

  @Authorized(WRITE)
  @Mutation(() => UpdateSegmentPayload, { description: "Renames a segment or changes its rule (members recomputed at once, changes announced)." })
  async updateSegment(@Arg("input", () => UpdateSegmentInput) input: UpdateSegmentInput, @Ctx() ctx: RequestCtx) {
    return toPayload(UpdateSegmentPayload, await ctx.app.segments.update(ctx, input), (segment) => ({ segment }), { segment: null });
  }

  @Authorized(WRITE)
  @Mutation(() => DeleteSegmentPayload, { description: "Deletes a segment and its membership history; refused while another segment names it (in_segment)." })
  async deleteSegment(@Arg("input", () => SegmentIdInput) input: SegmentIdInput, @Ctx() ctx: RequestCtx) {
    return toPayload(DeleteSegmentPayload, await ctx.app.segments.delete(ctx, input.id), (deletedSegmentId) => ({ deletedSegmentId }), { deletedSegmentId: null });
  }

  @Authorized(WRITE)
  @Mutation(() => RefreshSegmentPayload, { description: "Recomputes a rule segment's members in full now (and of the segments that name it)." })
  async refreshSegment(@Arg("input", () => SegmentIdInput) input: SegmentIdInput, @Ctx() ctx: RequestCtx) {
    return toPayload(RefreshSegmentPayload, await ctx.app.segments.refresh(ctx, input.id), (segment) => ({ segment }), { segment: null });
  }

  @Authorized(WRITE)
  @Mutation(() => AddSegmentMembersPayload, { description: "STATIC segments: adds customers (those already members stay as they are)." })
  async addSegmentMembers(@Arg("input", () => SegmentMembersInput) input: SegmentMembersInput, @Ctx() ctx: RequestCtx) {
    return toPayload(AddSegmentMembersPayload, await ctx.app.segments.changeMembers(ctx, input, "add"), (segment) => ({ segment }), { segment: null });
  }

  @Authorized(WRITE)
  @Mutation(() => RemoveSegmentMembersPayload, { description: "STATIC segments: removes customers (their stay ends; the history keeps it)." })
  async removeSegmentMembers(@Arg("input", () => SegmentMembersInput) input: SegmentMembersInput, @Ctx() ctx: RequestCtx) {
    return toPayload(RemoveSegmentMembersPayload, await ctx.app.segments.changeMembers(ctx, input, "remove"), (segment) => ({ segment }), { segment: null });
  }
}

@Resolver(() => SegmentPreview)
export class SegmentPreviewResolver {
  @Authorized("customers:read")
  @FieldResolver(() => [Customer], { description: "Up to `first` of the customers selected, oldest first (reading them takes customers:read)." })
  sample(@Root() p: SegmentPreview, @Arg("first", () => Int, { defaultValue: 10 }) first: number): Promise<Customer[]> {
    if (first < 0 || first > MAX_PAGE_SIZE) throw badUserInput(`"first" must be between 0 and ${MAX_PAGE_SIZE}`, "first");
    return p.run(first);
  }
}

@Resolver(() => Customer)
export class CustomerSegmentsResolver {
  @Authorized(READ)
  @FieldResolver(() => [Segment], { description: "The segments the customer is in now (needs segments:read)." })
  async segments(@Root() c: Customer, @Ctx() ctx: RequestCtx): Promise<Segment[]> {
    const ids = await ctx.loaders.segments.ofCustomer.load(c.id);
    return (await ctx.loaders.segments.byId.loadMany(ids)).filter((s): s is Segment => s instanceof Object && !(s instanceof Error) && s !== null);
  }
}
