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
