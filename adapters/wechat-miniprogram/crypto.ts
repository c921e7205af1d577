import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * WeChat's message signatures and "safe mode" encryption (the scheme of WeChat's WXBizMsgCrypt
 * sample code): pure functions, no I/O, so the published test vectors pin them exactly.
 */

/** AES block size WeChat pads to: PKCS#7 with 32-byte blocks (not AES's 16). */
export const PAD_BLOCK = 32;
const RANDOM_PREFIX = 16;
const LENGTH_FIELD = 4;

/** Why a safe-mode ciphertext could not be opened; verify turns it into a VerificationError. */
export class DecryptError extends Error {
  override readonly name = "DecryptError";
}

/**
 * `sha1(sort(parts).join(""))` in lower-case hex: `signature` over (token, timestamp, nonce), and
 * `msg_signature` over (token, timestamp, nonce, Encrypt or echostr).
 */
export function wechatSignature(...parts: string[]): string {
  // Code-unit order, as WeChat sorts: the parts are ASCII, so this is byte order too.
  const sorted = [...parts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha1").update(sorted.join(""), "utf8").digest("hex");
}

/** Constant-time comparison of a received hex signature with the expected one (case-insensitive). */
export function signatureMatches(received: string | undefined, expected: string): boolean {
  if (typeof received !== "string" || !/^[0-9a-fA-F]{40}$/.test(received)) return false;
  return timingSafeEqual(Buffer.from(received.toLowerCase(), "ascii"), Buffer.from(expected, "ascii"));
}

/** The 32-byte AES key: base64-decode(EncodingAESKey + "="); the IV is its first 16 bytes. */
export function aesKey(encodingAesKey: string): Buffer {
  if (!/^[A-Za-z0-9+/]{43}$/.test(encodingAesKey)) throw new RangeError("EncodingAESKey must be 43 characters of base64");
  const key = Buffer.from(`${encodingAesKey}=`, "base64");
  if (key.length !== 32) throw new RangeError("EncodingAESKey must decode to 32 bytes");
  return key;
}

/**
 * Encrypts `message` for `appId`: base64(AES-256-CBC(random16 ‖ uint32be(len) ‖ message ‖ appId,
 * PKCS#7 to 32-byte blocks)). `random` is fixed only by tests reproducing published vectors.
 */
export function encryptMessage(key: Buffer, appId: string, message: Buffer | string, random: Buffer = randomBytes(RANDOM_PREFIX)): string {
  if (random.length !== RANDOM_PREFIX) throw new RangeError("random prefix must be 16 bytes");
  const body = Buffer.isBuffer(message) ? message : Buffer.from(message, "utf8");
  const length = Buffer.alloc(LENGTH_FIELD);
  length.writeUInt32BE(body.length, 0);
  const plain = Buffer.concat([random, length, body, Buffer.from(appId, "utf8")]);
  const pad = PAD_BLOCK - (plain.length % PAD_BLOCK);
  const padded = Buffer.concat([plain, Buffer.alloc(pad, pad)]);
  const cipher = createCipheriv("aes-256-cbc", key, key.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString("base64");
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Opens a safe-mode `Encrypt` (or encrypted `echostr`) value: strict base64, whole 32-byte blocks,
 * strict PKCS#7 (pad byte 1..32, every pad byte equal), a length field that fits. Returns the
 * message bytes and the app id that follows them; the caller compares the app id.
 */
export function decryptMessage(key: Buffer, encrypted: string): { message: Buffer; appId: string } {
  if (encrypted.length === 0 || encrypted.length % 4 !== 0 || !BASE64.test(encrypted)) {
    throw new DecryptError("ciphertext is not valid base64");
  }
  const data = Buffer.from(encrypted, "base64");
  // The plaintext is padded to 32-byte blocks, so the ciphertext is too; anything else was cut.
  if (data.length === 0 || data.length % PAD_BLOCK !== 0) {
    throw new DecryptError(`ciphertext is truncated: ${data.length} bytes, not a whole number of ${PAD_BLOCK}-byte blocks`);
  }
  const decipher = createDecipheriv("aes-256-cbc", key, key.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(data), decipher.final()]);
  const pad = plain[plain.length - 1];
  if (pad < 1 || pad > PAD_BLOCK) throw new DecryptError(`bad padding: pad byte ${pad} is outside 1..${PAD_BLOCK} (wrong EncodingAESKey?)`);
  for (let i = plain.length - pad; i < plain.length; i++) {
    if (plain[i] !== pad) throw new DecryptError("bad padding: pad bytes differ (wrong EncodingAESKey?)");
  }
  const content = plain.subarray(RANDOM_PREFIX, plain.length - pad);
  if (content.length < LENGTH_FIELD) throw new DecryptError("plaintext too short for its length field");
  const length = content.readUInt32BE(0);
  if (length > content.length - LENGTH_FIELD) throw new DecryptError(`message length ${length} exceeds the plaintext`);
  const message = content.subarray(LENGTH_FIELD, LENGTH_FIELD + length);
  const appId = content.subarray(LENGTH_FIELD + length).toString("utf8");
  return { message: Buffer.from(message), appId };
}
