import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const PREFIX = "enc:v1:";

/**
 * Encryption at rest for the few values that are credentials (channel connection secrets): AES-256-GCM
 * under keys from `CRM_SECRET_KEY` (comma-separated; the first seals, all open, so keys can be rotated).
 * A sealed value reads `enc:v1:<key id>:<base64 of iv ‖ tag ‖ ciphertext>`; the key id is the first
 * 8 hex digits of the key's SHA-256. Without keys, values are stored as given (and `open` still reads
 * plain values, so switching encryption on needs no migration: values are sealed as they are written).
 */
export class SecretBox {
  private readonly keys: { id: string; key: Buffer }[];

  constructor(keys: readonly Buffer[]) {
    this.keys = keys.map((key) => ({ id: createHash("sha256").update(key).digest("hex").slice(0, 8), key }));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  static isSealed(value: unknown): value is string {
    return typeof value === "string" && value.startsWith(PREFIX);
  }

  /** `value` (any JSON) sealed under the first key; as given when no key is configured. */
  seal(value: unknown): unknown {
    if (!this.keys.length || SecretBox.isSealed(value)) return value;
    const { id, key } = this.keys[0];
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
    return `${PREFIX}${id}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
  }

  /** The value a `seal` made (plain values pass through). Throws a SecretError when it cannot be opened. */
  open(value: unknown): unknown {
    if (!SecretBox.isSealed(value)) return value;
    const rest = value.slice(PREFIX.length);
    const colon = rest.indexOf(":");
    const id = rest.slice(0, colon);
    const entry = this.keys.find((k) => k.id === id);
    if (!entry) throw new SecretError(`a secret is sealed with key ${id}, which CRM_SECRET_KEY does not hold`);
    const raw = Buffer.from(rest.slice(colon + 1), "base64");
    if (raw.length < 29) throw new SecretError("a sealed secret is truncated");
    try {
      const decipher = createDecipheriv("aes-256-gcm", entry.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8"));
    } catch {
      throw new SecretError(`a secret sealed with key ${id} does not open (damaged)`);
    }
  }
}

export class SecretError extends Error {
  override name = "SecretError";
}

/** Parses CRM_SECRET_KEY: comma-separated keys, each 32 bytes as base64 (44 characters) or hex (64). */
export function parseSecretKeys(value: string | undefined): Buffer[] | string {
  if (value === undefined) return [];
  const keys: Buffer[] = [];
  for (const part of value.split(",").map((p) => p.trim())) {
    const key = /^[0-9a-f]{64}$/i.test(part) ? Buffer.from(part, "hex") : /^[A-Za-z0-9+/]{43}=$/.test(part) ? Buffer.from(part, "base64") : null;
    if (!key || key.length !== 32) return "each key must be 32 bytes, as 64 hex digits or 44 base64 characters (openssl rand -base64 32)";
    keys.push(key);
  }
  return keys;
}
