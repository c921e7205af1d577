import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/**
 * Encryption at rest of personal values (PIPL art. 51, GDPR art. 32): AES-256-GCM under keys from
 * `CRM_DATA_KEY` — comma-separated 32-byte keys, as `CRM_SECRET_KEY`; the first encrypts, every one decrypts,
 * so a key is rotated by putting a new one first and letting the re-encryption job run.
 *
 * A value reads `p1:<key id>:<base64 of iv ‖ tag ‖ ciphertext>` (key id: the first 8 hex digits of the key's
 * SHA-256). Values that are not in that form are read as they are (rows written before encryption; the
 * re-encryption job converts them).
 *
 * Equality lookups go through blind indexes: HMAC-SHA256 of the value under a key derived per tenant and per
 * purpose from the data key, so the same phone has unrelated indexes in two tenants and in two columns. Each
 * key gives its own index: lookups try every key's (`blindAll`), writes store the first key's (`blind`).
 */
const PREFIX = "p1:";

export class DataKeyring {
  private readonly keys: { id: string; key: Buffer; index: Buffer }[];
  /** tenant id + purpose → derived HMAC keys, one per data key (first first). */
  private readonly derived = new Map<string, Buffer[]>();

  constructor(keys: readonly Buffer[]) {
    if (!keys.length) throw new Error("A data keyring needs at least one key");
    this.keys = keys.map((key) => ({
      id: createHash("sha256").update(key).digest("hex").slice(0, 8),
      key,
      index: createHmac("sha256", key).update("crm blind index v1").digest(),
    }));
  }

  /** The id of the key that encrypts (the first). */
  get currentKeyId(): string {
    return this.keys[0].id;
  }

  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  static isEncrypted(value: unknown): value is string {
    return typeof value === "string" && value.startsWith(PREFIX);
  }

  /** The key id a value is encrypted under, or null for a value stored as given. */
  static keyIdOf(value: string): string | null {
    return DataKeyring.isEncrypted(value) ? value.slice(PREFIX.length, PREFIX.length + 8) : null;
  }

  encrypt(plain: string): string {
    const { id, key } = this.keys[0];
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `${PREFIX}${id}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
  }

  /** Null stays null. */
  encryptOrNull(plain: string | null | undefined): string | null {
    return plain === null || plain === undefined ? null : this.encrypt(plain);
  }

  /** The plain value; a value stored as given is returned as it is. Throws DataKeyError when it cannot be opened. */
  decrypt(value: string): string {
    if (!DataKeyring.isEncrypted(value)) return value;
    const id = value.slice(PREFIX.length, PREFIX.length + 8);
    const entry = this.keys.find((k) => k.id === id);
    if (!entry) throw new DataKeyError(`a value is encrypted with data key ${id}, which CRM_DATA_KEY does not hold`);
    const raw = Buffer.from(value.slice(PREFIX.length + 9), "base64");
    if (raw.length < 28) throw new DataKeyError("an encrypted value is truncated");
    try {
      const decipher = createDecipheriv("aes-256-gcm", entry.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
    } catch {
      throw new DataKeyError(`a value encrypted with data key ${id} does not open (damaged)`);
    }
  }

  decryptOrNull(value: string | null | undefined): string | null {
    return value === null || value === undefined ? null : this.decrypt(value);
  }

  /** Any JSON value, encrypted as one string (a JSON string in a jsonb column). */
  encryptJson(value: unknown): string {
    return this.encrypt(JSON.stringify(value));
  }

  /** What `encryptJson` made; a value that is not an encrypted string is returned as stored. */
  decryptJson<T = unknown>(value: unknown): T {
    return (DataKeyring.isEncrypted(value) ? JSON.parse(this.decrypt(value)) : value) as T;
  }

  private tenantKeys(tenantId: string, purpose: string): Buffer[] {
    const k = `${tenantId}\u0000${purpose}`;
    let keys = this.derived.get(k);
    if (!keys) {
      keys = this.keys.map((e) => createHmac("sha256", e.index).update(k).digest());
      if (this.derived.size > 50_000) this.derived.clear();
      this.derived.set(k, keys);
    }
    return keys;
  }

  /** The blind index of `value` for `purpose` (e.g. `identity:phone`, `phone_last4`) in `tenantId`, under the first key. */
  blind(tenantId: string, purpose: string, value: string): Buffer {
    return createHmac("sha256", this.tenantKeys(tenantId, purpose)[0]).update(value, "utf8").digest();
  }

  /** The blind index under every key, the first key's first: what a lookup matches during a rotation. */
  blindAll(tenantId: string, purpose: string, value: string): Buffer[] {
    return this.tenantKeys(tenantId, purpose).map((key) => createHmac("sha256", key).update(value, "utf8").digest());
  }
}

export class DataKeyError extends Error {
  override name = "DataKeyError";
}

/**
 * The data keys to use: CRM_DATA_KEY's when set; otherwise a key kept in `<dataDir>/data-key` (mode 0600),
 * created on first start — what the two-command start and development need. `generated` says whether this
 * call created it (the server logs the path once). Refused in production on an outside PostgreSQL: there the
 * key must come from the operator, not from a file beside the process.
 */
export function resolveDataKeys(opts: { configured: Buffer[]; dataDir: string; production: boolean; externalDatabase: boolean }): { keys: Buffer[]; file?: string; generated: boolean } {
  if (opts.configured.length) return { keys: opts.configured, generated: false };
  if (opts.production && opts.externalDatabase) {
    throw new DataKeyError("CRM_DATA_KEY is required in production with DATABASE_URL: personal data is encrypted at rest under it (openssl rand -base64 32)");
  }
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const file = path.join(opts.dataDir, "data-key");
  let generated = false;
  if (!fs.existsSync(file)) {
    // Written whole to a temporary file, then linked into place: a second process starting at the same
    // moment either links first or reads the complete key, never half of one.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
    try {
      fs.linkSync(tmp, file);
      generated = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      fs.unlinkSync(tmp);
    }
  }
  const text = fs.readFileSync(file, "utf8").trim();
  const key = /^[A-Za-z0-9+/]{43}=$/.test(text) ? Buffer.from(text, "base64") : null;
  if (!key || key.length !== 32) throw new DataKeyError(`${file} does not hold a 32-byte base64 key; restore it, or set CRM_DATA_KEY`);
  return { keys: [key], file, generated };
}
