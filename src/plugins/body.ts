import { NormalizationError } from "./types";

/**
 * Reading a raw request body. `verify` hands `normalize` the raw bytes (or text) of a body it could
 * not read, so that `normalize` answers 400 with the precise reason; these helpers give that reason
 * in the same words on every channel.
 */

// Fatal decoding: replacing bad bytes with U+FFFD would silently corrupt names and addresses.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The body as text: bytes decoded as strict UTF-8, a string as it is.
 *
 * @throws NormalizationError (400) `body is not valid UTF-8`, or `expected the raw request body`
 *   when `payload` is neither a Buffer nor a string.
 */
export function decodeUtf8Body(payload: unknown): string {
  if (typeof payload === "string") return payload;
  if (!Buffer.isBuffer(payload)) throw new NormalizationError("expected the raw request body");
  try {
    return utf8.decode(payload);
  } catch {
    throw new NormalizationError("body is not valid UTF-8");
  }
}

/**
 * The body as a JSON value: {@link decodeUtf8Body}, then `parse` — `JSON.parse` unless you pass a
 * parser of your own with the same contract (text in, value out, throws on invalid JSON), such as
 * one that keeps numbers beyond 2^53 exact.
 *
 * @throws NormalizationError (400) as {@link decodeUtf8Body} does, or
 *   `body is not valid JSON: <the parser's message>`.
 */
export function parseJsonBody(payload: unknown, parse: (text: string) => unknown = JSON.parse): unknown {
  const text = decodeUtf8Body(payload);
  try {
    return parse(text);
  } catch (err) {
    throw new NormalizationError(`body is not valid JSON: ${(err as Error).message}`);
  }
}
