import { Field, InputType, ObjectType } from "type-graphql";
import { UserError } from "../../core/user-error";
import { CustomerFilter } from "../customers";
import { ExportFormat, ImportJob } from "./entity";

export { ExportFormat };

@InputType()
export class ExportCustomersInput {
  @Field(() => CustomerFilter, { nullable: true, description: "As `customers` filters; omitted: every customer." })
  filter?: CustomerFilter | null;

  @Field(() => ExportFormat, { nullable: true, defaultValue: ExportFormat.CSV })
  format?: ExportFormat | null;
}

@ObjectType()
export class ExportCustomersPayload {
  @Field(() => ImportJob, { nullable: true, description: "The export job, RUNNING at first; poll `importJob(id)` until COMPLETED, then fetch `downloadUrl`." })
  job: ImportJob | null;

  @Field(() => [UserError])
  userErrors: UserError[];
}
