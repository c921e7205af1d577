import { defineModule } from "../../core/module";
import { ImportJob, ImportRowError } from "./entity";
import { ImportJobResolver } from "./resolver";
import { createImportRoutes } from "./routes";
import { ImportsService } from "./service";

declare module "../../app" {
  interface App {
    imports: ImportsService;
  }
}

/** Customer imports (CSV, Excel) and exports, with the export sweeper. */
export const importsModule = defineModule({
  name: "imports",
  entities: [ImportJob, ImportRowError],
  resolvers: [ImportJobResolver],
  routes: (app) => createImportRoutes(app),
  setup(app) {
    app.imports = new ImportsService(app);
  },
  start: (app) => app.imports.start(), // interrupted jobs marked FAILED; the export sweep scheduled
  stop: (app) => app.imports.stop(),
});

export { ImportJob, ImportRowError } from "./entity";
export { ImportsService } from "./service";
