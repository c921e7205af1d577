import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from "typeorm";
import { Field, Int, ObjectType, registerEnumType } from "type-graphql";
import { Node } from "../../core/node";
import { toGlobalId } from "../../core/global-id";

export enum ImportJobKind {
  CUSTOMERS_IMPORT = "customers_import",
  CUSTOMERS_EXPORT = "customers_export",
}
registerEnumType(ImportJobKind, { name: "ImportJobKind", description: "What a job moves: a customer file in, or the customer list out." });

export enum ImportJobStatus {
  RUNNING = "RUNNING",
  COMPLETED = "COMPLETED",
  FAILED = "FAILED",
}
registerEnumType(ImportJobStatus, {
  name: "ImportJobStatus",
  valuesConfig: {
    FAILED: { description: "Stopped early (see `error`); for imports, the rows counted were committed and stay." },
  },
});

/** File formats of imports and exports; stored lower-case, as the file extension. */
export enum ExportFormat {
  CSV = "csv",
  XLSX = "xlsx",
}
registerEnumType(ExportFormat, { name: "ExportFormat", description: "CSV is UTF-8 with a BOM (Excel opens it as is); XLSX keeps leading zeros and long numbers as text." });

@Entity({ name: "import_jobs" })
@ObjectType("ImportJob", { implements: Node, description: "One customer import (POST /import/customers) or export (exportCustomers)." })
export class ImportJob implements Node {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  tenantId: string;

  @Field(() => ImportJobKind)
  @Column({ type: "text" })
  kind: ImportJobKind;

  @Field(() => ImportJobStatus)
  @Column({ type: "text" })
  status: ImportJobStatus;

  @Field(() => ExportFormat)
  @Column({ type: "text" })
  format: ExportFormat;

  @Field(() => Int, { description: "Data rows read (imports: accepted + rejected; blank rows are not counted) or written (exports)." })
  @Column({ type: "int", default: 0 })
  processed: number;

  @Field(() => Int, { description: "Rows whose customer was created or updated." })
  @Column({ type: "int", default: 0 })
  accepted: number;

  @Field(() => Int, { description: "Rows refused; each has an entry in `errors`." })
  @Column({ type: "int", default: 0 })
  rejected: number;

  @Field(() => String, { nullable: true, description: "Why a FAILED job stopped." })
  @Column({ type: "text", nullable: true })
  error: string | null;

  /** Exports: the file, relative to DATA_DIR. */
  @Column({ type: "text", nullable: true })
  filePath: string | null;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  createdAt: Date;

  /** Refreshed while the job runs; a RUNNING job whose heartbeat stopped belongs to a process that died. */
  @Column({ type: "timestamptz", precision: 3 })
  heartbeatAt: Date;

  @Field(() => Date, { nullable: true })
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  finishedAt: Date | null;

  /** Exports: when the sweeper deleted the file (it expired, or the export failed); null while it may exist. */
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  fileDeletedAt: Date | null;

  get globalId(): string {
    return toGlobalId("ImportJob", this.id);
  }
}

@Entity({ name: "import_errors" })
@ObjectType("ImportRowError", { description: "Why one row of an import was refused." })
export class ImportRowError {
  @PrimaryColumn({ type: "uuid" })
  jobId: string;

  @Field(() => Int, { description: "1-based data row number, the header row not counted (row 1 is the file's second line)." })
  @PrimaryColumn({ type: "int" })
  row: number;

  @Field(() => String)
  @Column({ type: "text" })
  message: string;
}
