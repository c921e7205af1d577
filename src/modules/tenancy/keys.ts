import { createHash, randomBytes } from "node:crypto";

/** A new API key: `crm_` and 32 url-safe random characters (192 bits). */
export function generateApiKey(): string {
  return `crm_${randomBytes(24).toString("base64url")}`;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export function keyPrefix(key: string): string {
  return key.slice(0, 8);
}

/**
 * An API key's name as an SQL expression, for set-based statements of other modules that record who acted (the audit
 * log) without spending a statement on it (`keyIdSql`: an expression giving the key's id as text, e.g. `x.key_id`).
 */
export function apiKeyNameSql(keyIdSql: string): string {
  if (!/^[a-z_][a-z0-9_.]*$/.test(keyIdSql)) throw new Error(`apiKeyNameSql takes a column reference, not ${keyIdSql}`);
  return `(SELECT k.name FROM api_keys k WHERE k.id::text = ${keyIdSql})`;
}
