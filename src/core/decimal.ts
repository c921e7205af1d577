import { GraphQLScalarType, Kind } from "graphql";

/**
 * Exact decimal quantities (0.42 kg of apples, 3 cups of tea): at most {@link QUANTITY_SCALE}
 * fractional digits, carried as canonical strings ("0.42", "3") and computed on as integers of
 * thousandths, never as binary floats. Money is not a decimal: it stays integer minor units.
 */
export const QUANTITY_SCALE = 3;
const FACTOR = 10n ** BigInt(QUANTITY_SCALE);
const DECIMAL = /^(\d{1,15})(?:\.(\d{1,3}))?$/;

/**
 * The canonical form of a quantity given as a JSON number or a decimal string ("0.420" → "0.42",
 * "007" → "7", 2 → "2"), or null when it is not a plain non-negative decimal with at most three
 * fractional digits (no sign, exponent, or binary-float residue such as 0.30000000000000004).
 */
export function canonicalDecimal(v: unknown): string | null {
  let text: string;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return null;
    text = String(v); // the shortest round-trip text: 0.42 → "0.42", 1e-7 → "1e-7" (refused below)
  } else if (typeof v === "string") text = v.trim();
  else return null;
  const m = DECIMAL.exec(text);
  if (!m) return null;
  return fromMilli(BigInt(m[1]) * FACTOR + BigInt((m[2] ?? "").padEnd(QUANTITY_SCALE, "0")));
}

/** Thousandths of a canonical (or any valid) decimal. */
export function toMilli(v: string | number): bigint {
  const c = canonicalDecimal(v);
  if (c === null) throw new RangeError(`not a decimal quantity: ${String(v).slice(0, 40)}`);
  const [whole, frac = ""] = c.split(".");
  return BigInt(whole) * FACTOR + BigInt(frac.padEnd(QUANTITY_SCALE, "0"));
}

/** The canonical decimal of a count of thousandths. */
export function fromMilli(n: bigint): string {
  const whole = n / FACTOR;
  const frac = (n % FACTOR).toString().padStart(QUANTITY_SCALE, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}

/** The smaller of two quantities. */
export function minDecimal(a: string | number, b: string | number): string {
  const x = toMilli(a);
  const y = toMilli(b);
  return fromMilli(x < y ? x : y);
}

/**
 * `Decimal`: an exact decimal as a string (`"0.42"`), as Square's API carries quantities, so no
 * client parses it into a binary float by accident. Accepts a string or a number as input.
 */
export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: "Decimal",
  description: 'An exact decimal number as a string, e.g. "0.42" (at most three fractional digits for quantities).',
  serialize(value) {
    const c = canonicalDecimal(value);
    if (c === null) throw new TypeError(`Decimal cannot represent ${String(value).slice(0, 40)}`);
    return c;
  },
  parseValue(value) {
    const c = canonicalDecimal(value);
    if (c === null) throw new TypeError("Decimal must be a non-negative decimal with at most three fractional digits, e.g. \"0.42\"");
    return c;
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING && ast.kind !== Kind.INT && ast.kind !== Kind.FLOAT) throw new TypeError("Decimal must be a string or a number");
    const c = canonicalDecimal(ast.value);
    if (c === null) throw new TypeError("Decimal must be a non-negative decimal with at most three fractional digits, e.g. \"0.42\"");
    return c;
  },
});
