import { parse } from "csv-parse/sync";
import { eventQuantity, multiplyRounded, parseDecimal, QUANTITY_DECIMALS } from "./money";

import {
  cardNumber,
  checkCurrency,
  checkStoreId,
  checkTransactionId,
  DEFAULT_CURRENCY,
  fail,
  MAX_LINES,
  MAX_TRANSACTIONS,
  parseDay,
  parseTimestamp,
  phoneNumber,
  title,
  type PosTransaction,
} from "./transaction";

/**
 * End-of-day CSV batches (README.md, "End-of-day CSV"): a header row, then one row per item line;
 * rows sharing (storeId, transactionId) are one transaction, in order of first appearance.
 */

export const CSV_COLUMNS = [
  "storeId",
  "registerId",
  "transactionId",
  "businessDay",
  "occurredAt",
  "type",
  "originalTransactionId",
  "memberCard",
  "memberPhone",
  "sku",
  "title",
  "quantity",
  "unitPrice",
  "discount",
  "currency",
] as const;
/** Accepted too: the original sale's store when it is another one, and receipt details. */
const OPTIONAL_EXTRA = ["originalStoreId", "receiptNumber", "cashier", "unit"] as const;
const REQUIRED = ["storeId", "transactionId", "occurredAt", "type", "sku", "quantity", "unitPrice"] as const;

type Column = (typeof CSV_COLUMNS)[number] | (typeof OPTIONAL_EXTRA)[number];
type Row = Partial<Record<Column, string>>;

/** Most rows one file may have: every transaction at its largest. */
const MAX_ROWS = 20_000;

export function readCsv(text: string): PosTransaction[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, info: true, skip_empty_lines: true, trim: true, max_record_size: 64 * 1024, relax_column_count: false }) as unknown as typeof records;
  } catch (err) {
    fail("", `malformed CSV: ${(err as Error).message}`);
  }
  if (records.length === 0) fail("", "the CSV file is empty (a header row is required)");
  if (records.length - 1 > MAX_ROWS) fail("", `too many rows: ${records.length - 1} (at most ${MAX_ROWS} per request)`);

  const known = new Map<string, Column>([...CSV_COLUMNS, ...OPTIONAL_EXTRA].map((c) => [c.toLowerCase(), c]));
  const header = records[0].record.map((h) => known.get(h.trim().toLowerCase()));
  const seen = new Set<Column>();
  for (const c of header) {
    if (!c) continue;
    if (seen.has(c)) fail("line 1", `column ${c} appears twice`);
    seen.add(c);
  }
  const missing = REQUIRED.filter((c) => !seen.has(c));
  if (missing.length) fail("line 1", `missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (the first row must name the columns)`);

  const groups = new Map<string, { tx: PosTransaction; first: Row; firstLine: number }>();
  for (const { record, info } of records.slice(1)) {
    const where = `line ${info.lines}`;
    const row: Row = {};
    header.forEach((c, i) => {
      if (c && record[i] !== "") row[c] = record[i];
    });
    const storeId = checkStoreId(row.storeId ?? "", `${where}: storeId`);
    const transactionId = checkTransactionId(row.transactionId ?? "", `${where}: transactionId`);
    const key = JSON.stringify([storeId, transactionId]);
    let group = groups.get(key);
    if (!group) {
      if (groups.size >= MAX_TRANSACTIONS) fail(where, `too many transactions (at most ${MAX_TRANSACTIONS} per request)`);
      group = { tx: transactionOf(row, storeId, transactionId, where), first: row, firstLine: info.lines };
      groups.set(key, group);
    } else {
      // Every row of a transaction repeats its header fields; a row that disagrees is a broken export, not a choice to make.
      for (const c of ["registerId", "businessDay", "occurredAt", "memberCard", "memberPhone", "currency"] as const) {
        if ((row[c] ?? "") !== (group.first[c] ?? "")) {
          fail(where, `${c} ${JSON.stringify(row[c] ?? "")} differs from line ${group.firstLine} of the same transaction (${JSON.stringify(group.first[c] ?? "")})`);
        }
      }
    }
    addLine(group.tx, row, where, storeId);
  }
  return [...groups.values()].map((g) => g.tx);
}

function transactionOf(row: Row, storeId: string, transactionId: string, where: string): PosTransaction {
  const endedAt = parseTimestamp(row.occurredAt ?? "") ?? fail(`${where}: occurredAt`, "must be a date-time such as 2026-11-20 14:05:09 or 2026-11-20T14:05:09+08:00");
  if (row.businessDay !== undefined && !parseDay(row.businessDay)) fail(`${where}: businessDay`, "must be a date YYYY-MM-DD");
  return {
    label: `transaction ${storeId}:${transactionId} (${where})`,
    storeId,
    transactionId,
    endedAt,
    currency: checkCurrency(row.currency ?? DEFAULT_CURRENCY, `${where}: currency`),
    member: { cardNumber: cardNumber(row.memberCard, `${where}: memberCard`), phone: phoneNumber(row.memberPhone, `${where}: memberPhone`) },
    sales: [],
    transactionDiscount: 0,
    returns: [],
  };
}

function addLine(tx: PosTransaction, row: Row, where: string, storeId: string): void {
  if (tx.sales.length + tx.returns.length >= MAX_LINES) fail(where, `more than ${MAX_LINES} lines in one transaction`);
  const sku = row.sku ?? fail(`${where}: sku`, "a SKU is required");
  if (sku.length > 100) fail(`${where}: sku`, "longer than 100 characters");
  // Whole units, or a weighed quantity with up to three decimals ("0.42" kg); signed for returns if the till does so.
  const parsed = row.quantity !== undefined && /^[+-]?\d{1,7}(\.\d+)?$/.test(row.quantity) ? parseDecimal(row.quantity) : undefined;
  if (!parsed) fail(`${where}: quantity`, `must be a number of units (up to ${QUANTITY_DECIMALS} decimals for weighed goods), got ${JSON.stringify((row.quantity ?? "").slice(0, 20))}`);
  const negative = parsed.units < 0n;
  const magnitude = { units: negative ? -parsed.units : parsed.units, scale: parsed.scale };
  if (magnitude.units === 0n) fail(`${where}: quantity`, "must not be 0");
  if (magnitude.units > 1_000_000n * 10n ** BigInt(magnitude.scale)) fail(`${where}: quantity`, "too large");
  const quantity = eventQuantity(magnitude) ?? fail(`${where}: quantity`, `more than ${QUANTITY_DECIMALS} decimal places cannot be kept exactly`);
  const unitPrice = amount(row.unitPrice, `${where}: unitPrice`);
  const discount = row.discount === undefined ? 0 : amount(row.discount, `${where}: discount`);
  const gross = multiplyRounded(unitPrice, magnitude) ?? fail(where, "amount too large");
  if (!Number.isSafeInteger(gross)) fail(where, "amount too large");
  if (discount > gross) fail(`${where}: discount`, "larger than the line's amount");

  const type = row.type?.toLowerCase();
  if (type === "sale") {
    if (negative) fail(`${where}: quantity`, "negative quantities are not allowed in a sale (use type return)");
    tx.sales.push({ sku, title: title(row.title), quantity, ...(lineUnit(row.unit, `${where}: unit`) ?? {}), unitPrice, discount, gross });
  } else if (type === "return") {
    const originalId = row.originalTransactionId ?? fail(`${where}: originalTransactionId`, "a return must name the original transaction");
    tx.returns.push({
      sku,
      quantity,
      amount: gross - discount,
      original: {
        storeId: row.originalStoreId === undefined ? storeId : checkStoreId(row.originalStoreId, `${where}: originalStoreId`),
        transactionId: checkTransactionId(originalId, `${where}: originalTransactionId`),
      },
    });
  } else {
    fail(`${where}: type`, `must be sale or return, got ${JSON.stringify((row.type ?? "").slice(0, 20))}`);
  }
}

function integer(value: string | undefined, where: string, what: string): number {
  if (value === undefined || !/^[+-]?\d{1,16}$/.test(value)) fail(where, `must be ${what}, got ${JSON.stringify((value ?? "").slice(0, 20))}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) fail(where, "too large");
  return n;
}

/** The optional unit column (kg, g, l…), empty for pieces. */
function lineUnit(value: string | undefined, where: string): { unit: string } | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (v.length > 20) fail(where, "longer than 20 characters");
  return { unit: v };
}

/** Integer fen, as in the JSON format: "12900" is ¥129.00. A decimal point is refused rather than guessed at. */
function amount(value: string | undefined, where: string): number {
  const n = integer(value, where, "an integer amount in minor units (fen: 12900 for ¥129.00)");
  if (n < 0) fail(where, "must not be negative");
  return n;
}
