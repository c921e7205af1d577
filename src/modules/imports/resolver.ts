import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import type { RequestCtx } from "../../core/context";
import { badUserInput, forbidden } from "../../core/errors";
import { localId } from "../../core/global-id";
import { ConnectionArgs, ConnectionType } from "../../core/pagination";
import { toPayload } from "../../core/payload";
import { registerNodeType } from "../../core/node";
import { PII_SCOPE, seesPii } from "../customers";
import { ExportFormat, ImportJob, ImportRowError } from "./entity";
import { ExportCustomersInput, ExportCustomersPayload } from "./inputs";

export const ImportRowErrorConnection = ConnectionType(ImportRowError, "ImportRowError");

registerNodeType("ImportJob", "customers:read", (ctx, id) => ctx.app.imports.job(ctx, id));

const READ = "customers:read";

@Resolver(() => ImportJob)
export class ImportJobResolver {
  @Authorized(READ)
  @Query(() => ImportJob, { nullable: true, description: "An import or export job of your tenant; null for unknown ids and other tenants' jobs." })
  importJob(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx): Promise<ImportJob | null> | null {
    const local = localId(id, "ImportJob");
    return local ? ctx.app.imports.job(ctx, local) : null;
  }

  // One statement per job (two with totalCount); no query lists jobs, so this cannot fan out.
  @FieldResolver(() => ImportRowErrorConnection, { description: "Refused rows in row order (imports; empty for exports)." })
  errors(
    @Root() job: ImportJob,
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Arg("afterRow", () => Int, { nullable: true, description: "Only rows after this row number (a shortcut for jumping into a large file)." }) afterRow: number | null,
    @Ctx() ctx: RequestCtx,
  ) {
    return ctx.app.imports.rowErrors(job, page, afterRow);
  }

  @FieldResolver(() => String, { nullable: true, description: "A completed export's file until `expiresAt`: GET it with the same bearer key (scope customers:read)." })
  downloadUrl(@Root() job: ImportJob, @Ctx() ctx: RequestCtx): string | null {
    return ctx.app.imports.downloadUrl(job);
  }

  @FieldResolver(() => Date, {
    nullable: true,
    description: "A completed export's file is deleted at this time (EXPORT_RETENTION_HOURS after `finishedAt`); from then on the download answers 410. Null for imports and exports that did not complete.",
  })
  expiresAt(@Root() job: ImportJob, @Ctx() ctx: RequestCtx): Date | null {
    return ctx.app.imports.expiresAt(job);
  }

  @Authorized(READ)
  @Mutation(() => ExportCustomersPayload, {
    description: "Writes the customers matching `filter` (as `customers` filters them) to a file, in the background. Columns use the import's default headers, so the file imports back. Needs `customers:pii` as well: the file is unmasked.",
  })
  async exportCustomers(
    @Arg("input", () => ExportCustomersInput, { nullable: true, defaultValue: {} }) input: ExportCustomersInput,
    @Ctx() ctx: RequestCtx,
  ): Promise<ExportCustomersPayload> {
    // The file holds phones, e-mails and identity values unmasked (it imports back): personal data in bulk.
    if (!seesPii(ctx.principal)) throw forbidden(`Exporting customers needs the "${PII_SCOPE}" scope: the file holds their personal data unmasked`);
    const result = await ctx.app.imports.startExport(ctx, input?.filter ?? null, input?.format ?? ExportFormat.CSV);
    return toPayload(ExportCustomersPayload, result, (job) => ({ job }), { job: null });
  }
}
