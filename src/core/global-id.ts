/**
 * Relay global ids: base64url("<Type>:<uuid>"). Opaque to clients; they carry the type so
 * `node(id)` can find the owner without guessing.
 */
/** A uuid as PostgreSQL prints it: hyphenated, lower-case. Global ids carry only this form. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A hyphenated uuid in either case: what PostgreSQL accepts for a uuid column (guards queries from a cast error). */
export const UUID_ANY_CASE = new RegExp(UUID.source, "i");

export function toGlobalId(type: string, id: string): string {
  return Buffer.from(`${type}:${id}`, "utf8").toString("base64url");
}

export function fromGlobalId(globalId: string): { type: string; id: string } | null {
  if (typeof globalId !== "string" || globalId.length > 200 || !/^[A-Za-z0-9_-]+=*$/.test(globalId)) return null;
  const decoded = Buffer.from(globalId, "base64url").toString("utf8");
  const sep = decoded.indexOf(":");
  if (sep <= 0) return null;
  const type = decoded.slice(0, sep);
  const id = decoded.slice(sep + 1);
  return /^[A-Z][A-Za-z]*$/.test(type) && UUID.test(id) ? { type, id } : null;
}

/** The local id if `globalId` names an object of `type`, else null. */
export function localId(globalId: string, type: string): string | null {
  const parsed = fromGlobalId(globalId);
  return parsed && parsed.type === type ? parsed.id : null;
}
