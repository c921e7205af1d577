import fs from "node:fs";
import { once } from "node:events";
import { pipeline } from "node:stream/promises";
import { stringify } from "csv-stringify";
import ExcelJS from "exceljs";
import { ExportFormat } from "./entity";
import { guardFormula } from "./mapping";

/** Writes an export file row by row, waiting when the disk is slower than the database. */
export interface RowWriter {
  write(cells: string[]): Promise<void>;
  /** Finishes the file. */
  close(): Promise<void>;
  /** Stops and removes the partial file. */
  abort(): Promise<void>;
}

export function openWriter(format: ExportFormat, file: string): RowWriter {
  return format === ExportFormat.XLSX ? xlsxWriter(file) : csvWriter(file);
}

/** UTF-8 with a BOM (Excel otherwise guesses the ANSI code page), CRLF line ends, formula-looking cells guarded. */
function csvWriter(file: string): RowWriter {
  const csv = stringify({ bom: true, record_delimiter: "windows" });
  const done = pipeline(csv, fs.createWriteStream(file));
  done.catch(() => undefined);
  return {
    async write(cells) {
      if (!csv.write(cells.map(guardFormula))) await Promise.race([once(csv, "drain"), done]);
    },
    async close() {
      csv.end();
      await done;
    },
    async abort() {
      csv.destroy();
      await done.catch(() => undefined);
      await fs.promises.rm(file, { force: true });
    },
  };
}

/** One worksheet, every cell a string (phones and member numbers keep their digits), no shared-string table to hold in memory. */
function xlsxWriter(file: string): RowWriter {
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useStyles: false, useSharedStrings: false });
  const sheet = workbook.addWorksheet("客户");
  let closed = false;
  let rows = 0;
  return {
    async write(cells) {
      sheet.addRow(cells).commit();
      // exceljs offers no drain signal: yield now and then so the zip stream can catch up.
      if (++rows % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    },
    async close() {
      closed = true;
      sheet.commit();
      await workbook.commit();
    },
    async abort() {
      if (!closed) {
        closed = true;
        sheet.commit();
        await workbook.commit().catch(() => undefined);
      }
      await fs.promises.rm(file, { force: true });
    },
  };
}
