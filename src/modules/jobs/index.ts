import { defineModule } from "../../core/module";
import { JobsResolver } from "./resolver";

/** The job queue's admin API: `jobRuns`, `retryJob`. */
export const jobsModule = defineModule({
  name: "jobs",
  resolvers: [JobsResolver],
});
