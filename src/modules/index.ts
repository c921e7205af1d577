import type { ModuleManifest } from "../core/module";
import { tenancyModule } from "./tenancy";
import { customersModule } from "./customers";
import { channelsModule } from "./channels";
import { ingestionModule } from "./ingestion";
import { ordersModule } from "./orders";
import { segmentsModule } from "./segments";
import { analyticsModule } from "./analytics";
import { importsModule } from "./imports";
import { jobsModule } from "./jobs";
import { auditModule } from "./audit";

/**
 * The modules the server is made of, in setup order (a module after those it uses). Adding a module
 * is adding it here; its manifest brings everything else.
 */
export const builtinModules: readonly ModuleManifest[] = [tenancyModule, customersModule, channelsModule, ingestionModule, ordersModule, segmentsModule, analyticsModule, importsModule, jobsModule, auditModule];
