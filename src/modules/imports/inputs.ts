import { Field, ObjectType } from "type-graphql";
import { UserError } from "../../core/user-error";
import { ImportJob } from "./entity";

export { ExportFormat } from "./entity";

@ObjectType()
export class ExportCustomersPayload {
  @Field(() => ImportJob, { nullable: true, description: "The export job, RUNNING at first; poll `importJob(id)` until COMPLETED, then fetch `downloadUrl`." })
  job: ImportJob | null;

  @Field(() => [UserError])
  userErrors: UserError[];
}
