import { XMLParser, XMLValidator } from "fast-xml-parser";

import { decimalToMinor, divideRounded, eventQuantity, multiplyRounded, parseDecimal, QUANTITY_DECIMALS, wholeNumber, type Decimal } from "./money";
import {
  cardNumber,
  checkCurrency,
  checkStoreId,
  checkTransactionId,
  DEFAULT_CURRENCY,
  DEFAULT_OFFSET,
  fail,
  looksLikePhone,
  MAX_LINES,
  MAX_TRANSACTIONS,
  parseDay,
  parseTimestamp,
  title,
  type PosTransaction,
  type ReturnLine,
  type SaleLine,
} from "./transaction";

/**
 * NRF ARTS POSLog (README.md, "POSLog XML"): `POSLog/Transaction*` with `RetailTransaction`
 * line items. Namespaces and prefixes are dropped (vendor extensions such as NCR's
 * `acs:LoyaltyMembership` read like standard elements); decimal amounts become minor units exactly.
 * Voided, cancelled, suspended and training-mode transactions, and non-retail ones (sign-on,
 * till control), produce nothing.
 */

/** A parsed element: attributes as "@_Name", text as "#text", children always as arrays. */
interface XNode {
  [key: string]: XNode[] | string | undefined;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  removeNSPrefix: true,
  // Strings only: "00000000067591" is a SKU, not a number, and "0.10" must not become a float.
  parseTagValue: false,
  parseAttributeValue: false,
  alwaysCreateTextNode: true,
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
  trimValues: true,
  processEntities: true,
  // Paths as plain strings: measurably faster than matcher objects on large end-of-day files.
  jPath: true,
});

const SKIPPED_STATUSES = new Set(["voided", "void", "cancelled", "canceled", "suspended", "suspendeddeleted", "postvoided", "aborted"]);

export function readPosLog(text: string): PosTransaction[] {
  // No DTDs: entity definitions are how XML bombs are built, and POSLog has no use for them.
  if (/<!DOCTYPE/i.test(text)) fail("", "malformed XML: DOCTYPE declarations are not accepted");
  const valid = XMLValidator.validate(text);
  if (valid !== true) fail("", `malformed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  let doc: XNode;
  try {
    doc = parser.parse(text) as XNode;
  } catch (err) {
    fail("", `malformed XML: ${(err as Error).message}`);
  }
  const root = kid(doc, "POSLog");
  const transactions = root ? kids(root, "Transaction") : kids(doc, "Transaction");
  if (!root && transactions.length === 0) fail("", "not a POSLog document: the root element must be POSLog (or a single Transaction)");
  if (transactions.length > MAX_TRANSACTIONS) fail("", `too many transactions: ${transactions.length} (at most ${MAX_TRANSACTIONS} per request)`);
  const out: PosTransaction[] = [];
  transactions.forEach((t, i) => {
    const tx = readTransaction(t, `Transaction ${i + 1}`);
    if (tx) out.push(tx);
  });
  return out;
}

function readTransaction(t: XNode, label: string): PosTransaction | undefined {
  const rt = kid(t, "RetailTransaction");
  if (!rt) return undefined; // control, tender control, store-close… transactions: no sale in them
  if (flag(t, "TrainingModeFlag") || flag(rt, "TrainingModeFlag")) return undefined;
  if (flag(t, "CancelFlag") || flag(t, "VoidFlag") || flag(rt, "CancelFlag") || flag(rt, "VoidFlag")) return undefined;
  if (SKIPPED_STATUSES.has((attr(rt, "TransactionStatus") ?? text(kid(rt, "TransactionStatus"))).toLowerCase())) return undefined;

  const storeId = checkStoreId(storeOf(t) ?? fail(label, "no RetailStoreID (or BusinessUnit/UnitID)"), `${label}: RetailStoreID`);
  const transactionId = checkTransactionId(transactionIdOf(t) ?? fail(label, "no TransactionID, nor WorkstationID, SequenceNumber and BusinessDayDate to identify it"), `${label}: TransactionID`);
  const where = `${label} (${storeId}:${transactionId})`;
  const currency = checkCurrency(currencyOf(t, rt) ?? DEFAULT_CURRENCY, `${where}: CurrencyCode`);
  const begin = timestampOf(kid(t, "BeginDateTime"), `${where}: BeginDateTime`);
  const end =
    timestampOf(kid(t, "EndDateTime"), `${where}: EndDateTime`) ?? timestampOf(kid(rt, "ReceiptDateTime"), `${where}: ReceiptDateTime`) ?? begin ?? fail(where, "no EndDateTime, ReceiptDateTime or BeginDateTime");

  const lineItems = kids(rt, "LineItem");
  if (lineItems.length > MAX_LINES * 4) fail(where, `too many LineItems (${lineItems.length})`);
  const lines: { kind: "sale" | "return"; key: string; sale?: SaleLine; ret?: ReturnLine | null }[] = [];
  let transactionDiscount = 0;
  const member: { cardNumber?: string; phone?: string } = {};
  collectMember(t, member, where);
  collectMember(rt, member, where);

  lineItems.forEach((li, i) => {
    const at = `${where}: LineItem ${text(kid(li, "SequenceNumber")) || i + 1}`;
    const voided = flag(li, "VoidFlag");
    for (const kind of ["sale", "return"] as const) {
      const el = kid(li, kind === "sale" ? "Sale" : "Return");
      if (!el) continue;
      const item = readItem(el, kind, currency, `${at} ${kind === "sale" ? "Sale" : "Return"}`);
      if (voided) {
        // Two dialects: the standard marks the voided line itself; others (NCR) keep it and append
        // a negative reversal with VoidFlag. Skip the flagged line, and let a reversal cancel its twin.
        if (item.negative) {
          const twin = lines.findLastIndex((l) => l.kind === kind && l.key === item.key);
          if (twin >= 0) lines.splice(twin, 1);
        }
        continue;
      }
      if (item.zero) continue; // nothing changed hands
      if (kind === "sale") {
        if (item.negative) fail(`${at} Sale`, "negative quantity in a sale (returns are Return line items)");
        lines.push({ kind, key: item.key, sale: { sku: item.sku, title: item.title, quantity: item.quantity, unit: item.unit, unitPrice: item.unitPrice, discount: item.discount, gross: item.gross } });
      } else {
        const original = originalOf(el, rt, storeId, `${at} Return`);
        // A blind return (no receipt) names no sale to refund: nothing for the CRM to record.
        lines.push({ kind, key: item.key, ret: original ? { sku: item.sku, quantity: item.quantity, amount: item.gross - item.discount, original } : null });
      }
    }
    if (voided) return;
    const discount = kid(li, "Discount");
    if (discount && !flag(discount, "VoidFlag")) {
      transactionDiscount += Math.abs(minor(kid(discount, "Amount"), currency, `${at} Discount/Amount`) ?? 0);
    }
    collectMember(li, member, at);
  });

  const sales = lines.flatMap((l) => (l.sale ? [l.sale] : []));
  const returns = lines.flatMap((l) => (l.ret ? [l.ret] : []));
  if (sales.length > MAX_LINES || returns.length > MAX_LINES) fail(where, `more than ${MAX_LINES} lines`);
  const grand = kids(rt, "Total").find((x) => attr(x, "TotalType") === "TransactionGrandAmount");
  return {
    label: where,
    storeId,
    transactionId,
    startedAt: begin,
    endedAt: end,
    currency,
    member,
    sales,
    transactionDiscount,
    returns,
    statedTotal: grand ? minor(grand, currency, `${where}: Total TransactionGrandAmount`) : undefined,
  };
}

interface Item {
  sku: string;
  title?: string;
  quantity: number | string;
  /** From the Quantity's UnitOfMeasureCode (UN/ECE Rec. 20): kg, g, l, ml, m, lb; undefined for pieces or no code. */
  unit?: string;
  unitPrice: number;
  gross: number;
  discount: number;
  negative: boolean;
  zero: boolean;
  /** SKU and unsigned quantity: what a void reversal matches on. */
  key: string;
}

/** UN/ECE Rec. 20 unit codes POS systems send, as normalized events name them; pieces (EA, PCE, C62…) have none. */
const UNITS: Record<string, string | undefined> = { KGM: "kg", GRM: "g", LTR: "l", MLT: "ml", MTR: "m", LBR: "lb" };

function readItem(el: XNode, kind: "sale" | "return", currency: string, at: string): Item {
  const sku = (text(kid(el, "ItemID")) || text(kid(kid(el, "POSIdentity"), "POSItemID"))) || fail(at, "no ItemID");
  if (sku.length > 100) fail(`${at} ItemID`, "longer than 100 characters");
  const descriptions = kids(el, "Description");
  const description = text(descriptions.find((d) => attr(d, "TypeCode") === undefined) ?? descriptions[0]);

  const quantityText = text(kid(el, "Quantity")) || "1";
  const unit = UNITS[(attr(kid(el, "Quantity"), "UnitOfMeasureCode") ?? "").toUpperCase()];
  const q = parseDecimal(quantityText) ?? fail(`${at} Quantity`, `${JSON.stringify(quantityText.slice(0, 20))} is not a number`);
  const magnitude: Decimal = { units: q.units < 0n ? -q.units : q.units, scale: q.scale };
  const key = JSON.stringify([sku, canonical(magnitude)]);
  const negative = q.units < 0n;
  if (q.units === 0n) return { sku, quantity: 0, unitPrice: 0, gross: 0, discount: 0, negative, zero: true, key };

  const actual = minor(kid(el, "ActualSalesUnitPrice"), currency, `${at} ActualSalesUnitPrice`);
  const regular = minor(kid(el, "RegularSalesUnitPrice"), currency, `${at} RegularSalesUnitPrice`);
  const extended = minor(kid(el, "ExtendedAmount"), currency, `${at} ExtendedAmount`);
  const price = actual ?? regular;
  if (price !== undefined && price < 0) fail(`${at}`, "negative unit price");
  if (kind === "sale" && !negative && extended !== undefined && extended < 0) fail(`${at} ExtendedAmount`, "negative amount in a sale");

  const whole = wholeNumber(magnitude);
  let quantity: number | string;
  let unitPrice: number;
  let gross: number;
  if (whole !== undefined && whole <= 1_000_000) {
    quantity = whole;
    gross = extended !== undefined ? Math.abs(extended) : (price ?? fail(at, "no unit price or ExtendedAmount")) * whole;
    unitPrice = price ?? (gross % whole === 0 ? gross / whole : fail(at, "no unit price, and ExtendedAmount does not divide by the quantity"));
  } else if (whole === undefined) {
    // A weighed line (0.42 kg): kept exactly, at its price per unit; the amount is what the register charged.
    quantity = eventQuantity(magnitude) ?? fail(`${at} Quantity`, `more than ${QUANTITY_DECIMALS} decimal places cannot be kept exactly`);
    gross =
      extended !== undefined
        ? Math.abs(extended)
        : (multiplyRounded(price ?? fail(at, "no unit price or ExtendedAmount"), magnitude) ?? fail(`${at} Quantity`, "too large"));
    unitPrice = price ?? divideRounded(gross, magnitude) ?? fail(`${at} Quantity`, "too large");
  } else {
    fail(`${at} Quantity`, "too large");
  }
  if (!Number.isSafeInteger(gross)) fail(at, "amount too large");

  let discount = 0;
  const modifiers = kids(el, "RetailPriceModifier").filter((m) => !flag(m, "VoidFlag"));
  if (modifiers.length) {
    for (const [i, m] of modifiers.entries()) {
      const amountNode = kid(m, "Amount");
      const action = (attr(amountNode, "Action") ?? attr(kid(m, "Percent"), "Action") ?? attr(m, "Action") ?? "Subtract").toLowerCase();
      if (action !== "subtract") continue; // Add (surcharge) and Replace (price override) are not discounts
      const amount = minor(amountNode, currency, `${at} RetailPriceModifier ${i + 1} Amount`);
      if (amount !== undefined) {
        discount += Math.abs(amount);
        continue;
      }
      const percentText = text(kid(m, "Percent"));
      const percent = percentText ? parseDecimal(percentText) : undefined;
      if (!percentText) continue;
      if (!percent || percent.units < 0n || percent.units > 100n * 10n ** BigInt(percent.scale)) {
        fail(`${at} RetailPriceModifier ${i + 1} Percent`, "must be a percentage from 0 to 100");
      }
      // x% of the line: gross × x / 100, i.e. the percentage with two more decimal places.
      discount += multiplyRounded(gross, { units: percent.units, scale: percent.scale + 2 }) ?? 0;
    }
  } else {
    const stated = minor(kid(el, "ExtendedDiscountAmount"), currency, `${at} ExtendedDiscountAmount`) ?? minor(kid(el, "DiscountAmount"), currency, `${at} DiscountAmount`);
    discount = Math.abs(stated ?? 0);
  }
  if (discount > gross) fail(at, "discounts exceed the line's amount");
  return { sku, title: title(description), quantity, ...(unit ? { unit } : {}), unitPrice, gross, discount, negative, zero: false, key };
}

/** The sale a Return line gives money back for: its own TransactionLink, else the transaction's (unless that one is about something else, such as a resumed sale). */
function originalOf(ret: XNode, rt: XNode, storeId: string, at: string): ReturnLine["original"] | undefined {
  const own = kid(ret, "TransactionLink");
  const shared = kids(rt, "TransactionLink").find((l) => {
    const reason = attr(l, "ReasonCode");
    return reason === undefined || /return|refund/i.test(reason);
  });
  const link = own ?? shared;
  if (!link) return undefined;
  const id = transactionIdOf(link);
  if (!id) return undefined;
  const store = storeOf(link);
  return {
    storeId: store ? checkStoreId(store, `${at} TransactionLink RetailStoreID`) : storeId,
    transactionId: checkTransactionId(id, `${at} TransactionLink`),
  };
}

/** Member card and phone from loyalty and customer blocks directly under `node` (the first found wins). */
function collectMember(node: XNode, member: { cardNumber?: string; phone?: string }, at: string): void {
  for (const m of kids(node, "LoyaltyMembership")) {
    if (flag(m, "VoidFlag")) continue;
    member.cardNumber ??= cardNumber(text(kid(m, "LoyaltyID")) || text(kid(m, "MembershipID")), `${at} LoyaltyMembership`);
  }
  for (const a of kids(node, "LoyaltyAccount")) {
    if (flag(a, "VoidFlag")) continue;
    // Only the account's own ids: LoyaltyProgram/LoyaltyAccountID names a program account shared by every member in some dialects.
    const id = ["LoyaltyAccountID", "LoyaltyCardNumber", "CardNumber", "AccountNumber"].map((n) => text(kid(a, n))).find(Boolean);
    member.cardNumber ??= cardNumber(id, `${at} LoyaltyAccount`);
  }
  for (const c of kids(node, "Customer")) {
    if (flag(c, "VoidFlag")) continue;
    collectMember(c, member, `${at} Customer`);
    member.phone ??= phoneOf(c);
  }
}

/** A usable phone number of a Customer block, or undefined (an unusable one is ignored, not fatal: the sale still counts). */
function phoneOf(customer: XNode): string | undefined {
  const candidates: string[] = [];
  for (const name of ["TelephoneNumber", "PhoneNumber", "MobilePhone", "MobileNumber", "Mobile"]) candidates.push(text(kid(customer, name)));
  for (const tel of [...kids(customer, "Telephone"), ...kids(kid(customer, "Contact"), "Telephone")]) {
    const full = text(kid(tel, "FullTelephoneNumber")) || text(kid(tel, "PhoneNumber"));
    const local = text(kid(tel, "LocalNumber"));
    const country = text(kid(tel, "CountryCode")).replace(/^\+/, "");
    const area = text(kid(tel, "AreaCode"));
    candidates.push(full || (local ? `${country ? `+${country}` : ""}${area}${local}` : text(tel)));
  }
  return candidates.map((c) => c.trim()).find((c) => c && looksLikePhone(c));
}

/** RetailStoreID (ARTS 2–5) or BusinessUnit/UnitID (ARTS 6). */
function storeOf(node: XNode): string | undefined {
  return text(kid(node, "RetailStoreID")) || text(kid(kid(node, "BusinessUnit"), "UnitID")) || undefined;
}

/**
 * TransactionID when the document has one; else ARTS's own key of a transaction,
 * `<WorkstationID>-<BusinessDayDate as YYYYMMDD>-<SequenceNumber>` (the spelling JSON and CSV senders must use for the same sale).
 */
function transactionIdOf(node: XNode): string | undefined {
  const id = text(kid(node, "TransactionID"));
  if (id) return id;
  const workstation = text(kid(node, "WorkstationID"));
  const sequence = text(kid(node, "SequenceNumber"));
  const day = parseDay(text(kid(node, "BusinessDayDate")));
  return workstation && sequence && day ? `${workstation}-${day.replaceAll("-", "")}-${sequence}` : undefined;
}

function currencyOf(t: XNode, rt: XNode): string | undefined {
  const code = text(kid(t, "CurrencyCode")) || text(kid(rt, "CurrencyCode"));
  if (code) return code;
  for (const total of kids(rt, "Total")) {
    const c = attr(total, "CurrencyCode") ?? attr(total, "Currency");
    if (c) return c;
  }
  return undefined;
}

/** An element's date-time; a vendor `Offset` attribute ("07:00:00") says its zone, else China Standard Time. */
function timestampOf(node: XNode | undefined, at: string): string | undefined {
  const value = text(node);
  if (!value) return undefined;
  const offsetAttr = attr(node, "Offset");
  let offset = DEFAULT_OFFSET;
  if (offsetAttr !== undefined) {
    const m = /^([+-])?(\d{2}):(\d{2})(?::00)?$/.exec(offsetAttr.trim());
    if (!m) fail(at, `unreadable Offset ${JSON.stringify(offsetAttr.slice(0, 20))}`);
    offset = `${m[1] ?? "+"}${m[2]}:${m[3]}`;
  }
  return parseTimestamp(value, offset) ?? fail(at, `${JSON.stringify(value.slice(0, 40))} is not a date-time`);
}

/** An amount element in minor units (signed), undefined when absent or empty. */
function minor(node: XNode | undefined, currency: string, at: string): number | undefined {
  const value = text(node);
  if (!value) return undefined;
  const r = decimalToMinor(value, currency);
  if (!r.ok) fail(at, r.reason);
  return r.value;
}

// ---------------------------------------------------------------------------------------------
// Reading the parsed tree: own properties only, so no inherited name can pose as an element.
// ---------------------------------------------------------------------------------------------

function kids(node: XNode | undefined, name: string): XNode[] {
  if (!node || !Object.prototype.hasOwnProperty.call(node, name)) return [];
  const value = node[name];
  if (!Array.isArray(value)) return [];
  return value.map((v) => (typeof v === "object" && v !== null ? v : { "#text": String(v) }));
}

function kid(node: XNode | undefined, name: string): XNode | undefined {
  return kids(node, name)[0];
}

function text(node: XNode | undefined): string {
  const value = node && Object.prototype.hasOwnProperty.call(node, "#text") ? node["#text"] : undefined;
  return typeof value === "string" ? value.trim() : "";
}

function attr(node: XNode | undefined, name: string): string | undefined {
  const key = `@_${name}`;
  const value = node && Object.prototype.hasOwnProperty.call(node, key) ? node[key] : undefined;
  return typeof value === "string" ? value : undefined;
}

/** A boolean flag given as an attribute or a child element ("true"/"1"). */
function flag(node: XNode, name: string): boolean {
  const value = attr(node, name) ?? text(kid(node, name));
  return /^(true|1)$/i.test(value.trim());
}

/** "1.500" and "1.5" alike, so a void reversal finds the line it reverses. */
function canonical(d: Decimal): string {
  let { units, scale } = d;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale--;
  }
  return `${units}e-${scale}`;
}
