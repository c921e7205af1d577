import { XMLParser, XMLValidator } from "fast-xml-parser";

/**
 * Reading WeChat's two data formats (XML and JSON) into a flat record of fields, without losing
 * the precision of 64-bit ids. Every failure is a {@link ParseError} whose message says what is
 * wrong; callers decide whether that is a 400 (a message) or a 401 (a safe-mode envelope).
 */

export class ParseError extends Error {
  override readonly name = "ParseError";
}

export type Format = "xml" | "json";
/** A message's top-level fields: text, or nested values this adapter does not read. */
export type Fields = Record<string, unknown>;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as text, with the format its first significant character announces. */
export function decodeBody(body: Buffer): { format: Format; text: string } {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new ParseError("body is not valid UTF-8");
  }
  text = text.replace(/^\uFEFF/, "");
  const first = text.trimStart()[0];
  if (first === "<") return { format: "xml", text };
  if (first === "{") return { format: "json", text };
  throw new ParseError(first === undefined ? "body is empty" : "body is neither XML (<xml>…</xml>) nor a JSON object");
}

export function parseFields(body: Buffer): { format: Format; fields: Fields } {
  const { format, text } = decodeBody(body);
  return { format, fields: format === "xml" ? parseXml(text) : parseJsonObject(text) };
}

const xmlParser = new XMLParser({
  ignoreAttributes: true,
  // Everything stays text: numbers such as MsgId exceed 2^53 and must not pass through a double.
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

/** `<xml><Field>…</Field>…</xml>` → fields. DOCTYPEs are refused outright (entity expansion). */
export function parseXml(text: string): Fields {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new ParseError("XML with a DOCTYPE or entity declarations is not accepted");
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new ParseError(`malformed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  let doc: unknown;
  try {
    doc = xmlParser.parse(text);
  } catch (err) {
    throw new ParseError(`malformed XML: ${(err as Error).message}`);
  }
  const keys = typeof doc === "object" && doc !== null ? Object.keys(doc) : [];
  if (keys.length !== 1 || keys[0] !== "xml") throw new ParseError("XML must have the single root element <xml>");
  const root = (doc as { xml: unknown }).xml;
  if (Array.isArray(root)) throw new ParseError("XML must have the single root element <xml>");
  // <xml></xml> parses to "", which has no fields.
  if (root === "") return {};
  if (typeof root !== "object" || root === null) throw new ParseError("<xml> must contain elements");
  return root as Fields;
}

/** A JSON object → fields, with integers beyond 2^53 kept as their exact digits (strings). */
export function parseJsonObject(text: string): Fields {
  let value: unknown;
  try {
    value = JSON.parse(quoteBigIntegers(text));
  } catch (err) {
    throw new ParseError(`malformed JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ParseError("JSON body must be an object");
  return value as Fields;
}

/**
 * Wraps every integer literal that a double cannot hold exactly (|n| > 2^53 − 1) in quotes, so
 * JSON.parse yields its exact digits: WeChat's MsgId is a 64-bit integer sent as a JSON number.
 * A single pass that skips strings; literals that are not valid JSON numbers are left for
 * JSON.parse to refuse.
 */
export function quoteBigIntegers(text: string): string {
  let out = "";
  let copied = 0;
  let i = 0;
  const n = text.length;
  const digit = (c: number) => c >= 0x30 && c <= 0x39;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i += 2;
        else if (s === 0x22) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (c === 0x2d /* - */ || digit(c)) {
      const start = i;
      if (c === 0x2d) i++;
      const digitsStart = i;
      while (i < n && digit(text.charCodeAt(i))) i++;
      const digitsEnd = i;
      let integer = true;
      while (i < n && /[0-9.eE+-]/.test(text[i])) {
        integer = false;
        i++;
      }
      const digits = digitsEnd - digitsStart;
      const leadingZero = digits > 1 && text.charCodeAt(digitsStart) === 0x30;
      if (integer && digits > 15 && !leadingZero && !Number.isSafeInteger(Number(text.slice(start, digitsEnd)))) {
        out += `${text.slice(copied, start)}"${text.slice(start, digitsEnd)}"`;
        copied = digitsEnd;
      }
      continue;
    }
    i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
