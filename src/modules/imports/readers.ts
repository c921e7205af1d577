import { PassThrough, Transform, type Readable, type Writable } from "node:stream";
import { parse } from "csv-parse";
import ExcelJS from "exceljs";

/**
 * Streaming readers for uploaded customer files. Each yields the header (row 0) and then the data rows,
 * numbered from 1 (for CSV the n-th record after the header, for XLSX the sheet row minus the header's row),
 * pulling from the input only as fast as the consumer asks: memory stays bounded whatever the file size.
 */
export interface SheetRecord {
  row: number;
  cells: string[];
}

export type CsvEncoding = "utf-8" | "gbk" | "gb18030";

/** Labels `?encoding=` accepts, to the decoder used. GB2312 files decode correctly as GBK (a superset). */
export const ENCODINGS: Record<string, CsvEncoding> = { "utf-8": "utf-8", utf8: "utf-8", gbk: "gbk", gb2312: "gbk", gb18030: "gb18030" };

/** The upload stopped before its end (the client went away). */
export class UploadInterrupted extends Error {
  constructor() {
    super("the upload stopped before the end of the file");
    this.name = "UploadInterrupted";
  }
}

/** The file cannot be read as the format it was sent as. */
export class UnreadableFile extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnreadableFile";
  }
}

/** Longest CSV record accepted: an unclosed quote must not swallow the rest of the file into memory. */
const MAX_RECORD_BYTES = 256 * 1024;

/**
 * Connects `input` to `target` with backpressure and makes input failures (an aborted upload) reach the target.
 * Returns a detach function that leaves `input` alone (so an HTTP request can still be answered and drained).
 */
function feed(input: Readable, target: Writable & { destroy(err?: Error): unknown }): () => void {
  const ended = () => input.readableEnded || (input as Readable & { complete?: boolean }).complete === true;
  const onError = () => target.destroy(new UploadInterrupted());
  const onClose = () => {
    if (!ended()) target.destroy(new UploadInterrupted());
  };
  input.on("error", onError);
  input.on("close", onClose);
  input.pipe(target);
  return () => {
    input.off("error", onError);
    input.off("close", onClose);
    input.unpipe(target);
  };
}

function decoder(encoding: CsvEncoding): Transform {
  const d = new TextDecoder(encoding);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, Buffer.from(d.decode(chunk, { stream: true }), "utf8"));
    },
    flush(cb) {
      cb(null, Buffer.from(d.decode(), "utf8"));
    },
  });
}

export async function* readCsv(input: Readable, encoding: CsvEncoding = "utf-8"): AsyncGenerator<SheetRecord> {
  const parser = parse({
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: false,
    max_record_size: MAX_RECORD_BYTES,
    // Passed on to the Transform: a parse error must not throw away the records parsed before it (a destroyed
    // stream's buffer is dropped by the async iterator); we destroy the parser ourselves when done.
    ...({ autoDestroy: false } as object),
  });
  const decode = encoding === "utf-8" ? null : decoder(encoding);
  if (decode) {
    decode.on("error", (err) => parser.destroy(err));
    decode.pipe(parser);
  }
  const detach = feed(input, decode ?? parser);
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) yield { row: row++, cells: record };
  } catch (err) {
    if (err instanceof UploadInterrupted) throw err;
    throw new UnreadableFile(`not a readable CSV file: ${(err as Error).message}`);
  } finally {
    detach();
    decode?.destroy();
    parser.destroy();
  }
}

function cellText(v: ExcelJS.CellValue | undefined): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  if (typeof v === "boolean") return v ? "TRUE" : "FALSE";
  if (v instanceof Date) {
    const iso = v.toISOString();
    // Date cells hold the wall-clock date as UTC midnight.
    return iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : iso;
  }
  if ("richText" in v && Array.isArray(v.richText)) return v.richText.map((t) => t.text).join("");
  if ("formula" in v || "sharedFormula" in v) return cellText((v as ExcelJS.CellFormulaValue).result as ExcelJS.CellValue);
  if ("text" in v) return cellText((v as ExcelJS.CellHyperlinkValue).text);
  return "";
}

/** The first worksheet of an xlsx upload, row by row (exceljs' streaming reader). Other sheets are read past and ignored. */
export async function* readXlsx(input: Readable): AsyncGenerator<SheetRecord> {
  const zip = new PassThrough();
  // exceljs pipes `zip` into its unzipper without listening for errors: a failed upload must also
  // stop our pulls, or they would wait forever.
  let failed: (err: Error) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => undefined);
  zip.on("error", (err) => failed(err));
  const detach = feed(input, zip);
  const pull = <T>(p: Promise<T>) => Promise.race([p, failure]);
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(zip, { worksheets: "emit", sharedStrings: "cache", hyperlinks: "ignore", styles: "cache", entries: "ignore" });
  const sheets = reader[Symbol.asyncIterator]();
  try {
    const first = await pull(sheets.next());
    if (first.done) throw new UnreadableFile("the workbook has no worksheet");
    const rows = (first.value as unknown as AsyncIterable<ExcelJS.Row>)[Symbol.asyncIterator]();
    let headerRow: number | null = null;
    for (;;) {
      const r = await pull(rows.next());
      if (r.done) break;
      const values = Array.isArray(r.value.values) ? (r.value.values as ExcelJS.CellValue[]) : [];
      const cells = values.slice(1).map(cellText);
      if (headerRow === null) {
        if (cells.every((c) => !c.trim())) continue;
        headerRow = r.value.number;
        yield { row: 0, cells };
      } else {
        yield { row: r.value.number - headerRow, cells };
      }
    }
    if (headerRow === null) throw new UnreadableFile("the first worksheet is empty");
    // Read past the other sheets, so the upload is consumed and exceljs removes its temporary files.
    for (;;) {
      const s = await pull(sheets.next());
      if (s.done) break;
    }
  } catch (err) {
    if (err instanceof UploadInterrupted || err instanceof UnreadableFile) throw err;
    throw new UnreadableFile(`not a readable xlsx workbook: ${(err as Error).message}`);
  } finally {
    detach();
    zip.destroy();
  }
}
