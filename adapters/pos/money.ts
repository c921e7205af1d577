/**
 * Exact money arithmetic for POS amounts: decimal strings ("129.90", "-2.79", "0.42") become
 * integer minor units through BigInt, never through floating point, so ¥0.10 + ¥0.20 is 30 fen.
 */

/** ISO 4217 codes this runtime knows (ICU's list), e.g. CNY, HKD, USD, JPY. */
const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf("currency"));

/** Minor-unit digits per currency, cached: CNY 2 (fen), JPY 0, KWD 3. */
const exponents = new Map<string, number>();

export function isKnownCurrency(code: string): boolean {
  return KNOWN_CURRENCIES.has(code);
}

/** How many decimal places the currency's minor unit has (CNY → 2). The code must be known. */
export function minorDigits(currency: string): number {
  let digits = exponents.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
    exponents.set(currency, digits);
  }
  return digits;
}

/** A decimal number as an integer and a count of decimal places: "-12.50" is { units: -1250n, scale: 2 }. */
export interface Decimal {
  units: bigint;
  scale: number;
}

// Bounded: 30 integer digits already exceed any amount, and a bound keeps hostile input cheap.
const DECIMAL = /^([+-])?(\d{0,30})(?:\.(\d{0,20}))?$/;

/** Parses a plain decimal ("12", "-0.42", "+3.", ".5"); undefined for anything else (exponents, commas, spaces inside). */
export function parseDecimal(text: string): Decimal | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const [, sign, int = "", frac = ""] = m;
  if (int === "" && frac === "") return undefined;
  const units = BigInt((int || "0") + frac);
  return { units: sign === "-" ? -units : units, scale: frac.length };
}

export type MinorResult = { ok: true; value: number } | { ok: false; reason: string };

/**
 * A decimal amount in major units ("129.90" yuan) as integer minor units (12990 fen). Fails on
 * anything but a plain decimal, on more decimal places than the currency has unless the extra
 * ones are zeros ("12.900" is fine, "12.905" is not), and beyond Number.MAX_SAFE_INTEGER.
 */
export function decimalToMinor(text: string, currency: string): MinorResult {
  const d = parseDecimal(text);
  if (!d) return { ok: false, reason: `${JSON.stringify(text.slice(0, 40))} is not a decimal amount` };
  const digits = minorDigits(currency);
  let units: bigint;
  if (d.scale <= digits) {
    units = d.units * 10n ** BigInt(digits - d.scale);
  } else {
    const divisor = 10n ** BigInt(d.scale - digits);
    if (d.units % divisor !== 0n) {
      return { ok: false, reason: `${JSON.stringify(text.slice(0, 40))} has more decimal places than ${currency} has (${digits})` };
    }
    units = d.units / divisor;
  }
  return safe(units, text);
}

/**
 * minor × a decimal factor (a weighed quantity, a percentage as a fraction), rounded half away
 * from zero to whole minor units — the rounding cash registers print. Undefined when the result
 * is not a safe integer.
 */
export function multiplyRounded(minor: number, factor: Decimal): number | undefined {
  const product = BigInt(minor) * factor.units;
  const divisor = 10n ** BigInt(factor.scale);
  const quotient = product / divisor;
  const remainder = product % divisor;
  const abs = remainder < 0n ? -remainder : remainder;
  const rounded = abs * 2n >= divisor ? quotient + (product < 0n ? -1n : 1n) : quotient;
  const r = safe(rounded, String(minor));
  return r.ok ? r.value : undefined;
}

/** Most fractional digits a line quantity may have (normalized events carry at most three: grams of a kilogram). */
export const QUANTITY_DECIMALS = 3;

/**
 * A non-negative quantity as a normalized event carries it: a whole number as a number (2), a
 * weighed one as its exact decimal text ("0.42", trailing zeros dropped). Undefined when it has more
 * than three fractional digits once trailing zeros are dropped ("0.4235" kg cannot be kept exactly).
 */
export function eventQuantity(d: Decimal): number | string | undefined {
  let { units, scale } = d;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale--;
  }
  if (scale > QUANTITY_DECIMALS || units < 0n) return undefined;
  if (scale === 0) return units <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(units) : undefined;
  const text = units.toString().padStart(scale + 1, "0");
  return `${text.slice(0, -scale)}.${text.slice(-scale)}`;
}

/**
 * A JSON quantity's magnitude, as the event carries it and as a factor for amounts: 2 → 2, 0.42 → "0.42"
 * (read from the number's shortest text, so 0.42 is exactly 42/100). Undefined beyond three decimals.
 */
export function lineQuantity(q: number): { quantity: number | string; factor: Decimal } | undefined {
  const factor = Number.isFinite(q) ? parseDecimal(String(Math.abs(q))) : undefined;
  const quantity = factor && eventQuantity(factor);
  return quantity === undefined || !factor ? undefined : { quantity, factor };
}

/** minor ÷ a positive decimal, rounded half away from zero (a unit price from a line amount and a weight). */
export function divideRounded(minor: number, by: Decimal): number | undefined {
  if (by.units <= 0n) return undefined;
  const numerator = BigInt(minor) * 10n ** BigInt(by.scale);
  const quotient = numerator / by.units;
  const rounded = (numerator % by.units) * 2n >= by.units ? quotient + 1n : quotient;
  const r = safe(rounded, String(minor));
  return r.ok ? r.value : undefined;
}

/** A decimal that is a whole number, as a number (quantities "2", "2.000"); undefined otherwise. */
export function wholeNumber(d: Decimal): number | undefined {
  const divisor = 10n ** BigInt(d.scale);
  if (d.units % divisor !== 0n) return undefined;
  const n = d.units / divisor;
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(n);
}

function safe(units: bigint, text: string): MinorResult {
  if (units > BigInt(Number.MAX_SAFE_INTEGER) || units < -BigInt(Number.MAX_SAFE_INTEGER)) {
    return { ok: false, reason: `${JSON.stringify(text.slice(0, 40))} is too large an amount` };
  }
  return { ok: true, value: Number(units) };
}
