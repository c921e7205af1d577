import { createCipheriv, createHmac } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DataKeyError, DataKeyring, resolveDataKeys } from "../../src/core/data-keys";

const k1 = Buffer.alloc(32, 1);
const k2 = Buffer.alloc(32, 2);

describe("DataKeyring", () => {
  it("encrypts with AES-256-GCM under the first key, naming it, and decrypts with any key it holds", () => {
    const ring = new DataKeyring([k1]);
    const c = ring.encrypt("+8613800138000");
    expect(c).toMatch(/^p1:[0-9a-f]{8}:[A-Za-z0-9+/]+=*$/);
    expect(c).not.toContain("13800138000");
    expect(ring.encrypt("+8613800138000")).not.toBe(c); // a fresh IV each time
    expect(ring.decrypt(c)).toBe("+8613800138000");
    // An independent decryption with node's primitives: iv ‖ tag ‖ ciphertext under k1.
    const raw = Buffer.from(c.split(":")[2], "base64");
    const iv = raw.subarray(0, 12);
    const cipher = createCipheriv("aes-256-gcm", k1, iv);
    const expected = Buffer.concat([cipher.update("+8613800138000", "utf8"), cipher.final()]);
    expect(raw.subarray(28).equals(expected)).toBe(true);
    expect(raw.subarray(12, 28).equals(cipher.getAuthTag())).toBe(true);

    const rotated = new DataKeyring([k2, k1]);
    expect(rotated.decrypt(c)).toBe("+8613800138000");
    expect(DataKeyring.keyIdOf(rotated.encrypt("x"))).toBe(rotated.currentKeyId);
    expect(rotated.currentKeyId).not.toBe(ring.currentKeyId);
    expect(() => new DataKeyring([k2]).decrypt(c)).toThrow(DataKeyError);
    expect(() => new DataKeyring([k2]).decrypt(c)).toThrow(/data key [0-9a-f]{8}, which CRM_DATA_KEY does not hold/);
  });

  it("refuses a damaged value, and reads values stored before encryption as they are", () => {
    const ring = new DataKeyring([k1]);
    const c = ring.encrypt("wang@example.cn");
    const body = Buffer.from(c.split(":")[2], "base64");
    body[body.length - 1] ^= 1;
    expect(() => ring.decrypt(`p1:${ring.currentKeyId}:${body.toString("base64")}`)).toThrow(/does not open \(damaged\)/);
    expect(ring.decrypt("+8613800138000")).toBe("+8613800138000");
    expect(ring.decryptJson(ring.encryptJson({ a: [1, "二"] }))).toEqual({ a: [1, "二"] });
    expect(ring.decryptJson({ plain: true })).toEqual({ plain: true });
    expect(ring.encryptOrNull(null)).toBeNull();
  });

  it("needs a key, and treats null and undefined as no value; a truncated value is refused", () => {
    expect(() => new DataKeyring([])).toThrow(/at least one key/);
    const ring = new DataKeyring([k1]);
    expect(ring.encryptOrNull(undefined)).toBeNull();
    expect(ring.decryptOrNull(null)).toBeNull();
    expect(ring.decryptOrNull(undefined)).toBeNull();
    expect(ring.decryptOrNull(ring.encrypt("x"))).toBe("x");
    const body = Buffer.from(ring.encrypt("").split(":")[2], "base64");
    expect(body).toHaveLength(28); // iv ‖ tag ‖ nothing: an empty value is still a whole one
    expect(ring.decrypt(ring.encrypt(""))).toBe("");
    expect(() => ring.decrypt(`p1:${ring.currentKeyId}:${body.subarray(0, 27).toString("base64")}`)).toThrow(/truncated/);
    expect(DataKeyring.keyIdOf("+8613800138000")).toBeNull();
    // Non-ASCII survives the round trip byte for byte.
    expect(ring.decrypt(ring.encrypt("王小明 ☎"))).toBe("王小明 ☎");
    expect(ring.blind("t", "p", "王").equals(createHmac("sha256", createHmac("sha256", createHmac("sha256", k1).update("crm blind index v1").digest()).update("t\u0000p").digest()).update(Buffer.from("王", "utf8")).digest())).toBe(true);
  });

  it("gives blind indexes per tenant and purpose, under every key for lookups during a rotation", () => {
    const ring = new DataKeyring([k1]);
    const a = ring.blind("tenant-a", "identity:phone", "+8613800138000");
    expect(a).toHaveLength(32);
    expect(ring.blind("tenant-a", "identity:phone", "+8613800138000").equals(a)).toBe(true);
    expect(ring.blind("tenant-b", "identity:phone", "+8613800138000").equals(a)).toBe(false);
    expect(ring.blind("tenant-a", "phone_last4", "+8613800138000").equals(a)).toBe(false);
    // HMAC-SHA256 under HMAC(HMAC(k1, "crm blind index v1"), tenant ‖ 0 ‖ purpose), computed independently.
    const root = createHmac("sha256", k1).update("crm blind index v1").digest();
    const tenantKey = createHmac("sha256", root).update("tenant-a\u0000identity:phone").digest();
    expect(createHmac("sha256", tenantKey).update("+8613800138000").digest().equals(a)).toBe(true);

    const rotated = new DataKeyring([k2, k1]);
    const all = rotated.blindAll("tenant-a", "identity:phone", "+8613800138000");
    expect(all).toHaveLength(2);
    expect(all[1].equals(a)).toBe(true);
    expect(all[0].equals(rotated.blind("tenant-a", "identity:phone", "+8613800138000"))).toBe(true);
  });
});

describe("resolveDataKeys", () => {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "crm-keys-"));

  it("uses CRM_DATA_KEY's keys when given", () => {
    expect(resolveDataKeys({ configured: [k1, k2], dataDir: dir(), production: true, externalDatabase: true })).toEqual({ keys: [k1, k2], generated: false });
  });

  it("creates a key file (mode 0600) on first start and reads the same key afterwards", () => {
    const d = dir();
    const first = resolveDataKeys({ configured: [], dataDir: d, production: false, externalDatabase: false });
    expect(first.generated).toBe(true);
    expect(first.file).toBe(path.join(d, "data-key"));
    expect(fs.statSync(first.file!).mode & 0o777).toBe(0o600);
    expect(first.keys[0]).toHaveLength(32);
    const again = resolveDataKeys({ configured: [], dataDir: d, production: true, externalDatabase: false });
    expect(again.generated).toBe(false);
    expect(again.keys[0].equals(first.keys[0])).toBe(true);
    expect(fs.readdirSync(d)).toEqual(["data-key"]);
  });

  it("uses a key file in development on an outside PostgreSQL, and in production on the embedded database", () => {
    expect(resolveDataKeys({ configured: [], dataDir: dir(), production: false, externalDatabase: true }).generated).toBe(true);
    expect(resolveDataKeys({ configured: [], dataDir: dir(), production: true, externalDatabase: false }).generated).toBe(true);
  });

  it("refuses production on an outside PostgreSQL without CRM_DATA_KEY, and a damaged key file", () => {
    expect(() => resolveDataKeys({ configured: [], dataDir: dir(), production: true, externalDatabase: true })).toThrow(/CRM_DATA_KEY is required in production with DATABASE_URL/);
    const d = dir();
    fs.writeFileSync(path.join(d, "data-key"), "not a key\n");
    expect(() => resolveDataKeys({ configured: [], dataDir: d, production: false, externalDatabase: false })).toThrow(/does not hold a 32-byte base64 key/);
    const good = Buffer.alloc(32, 9).toString("base64");
    for (const text of [`x${good}`, `${good}x`, Buffer.alloc(31, 9).toString("base64")]) {
      fs.writeFileSync(path.join(d, "data-key"), text);
      expect(() => resolveDataKeys({ configured: [], dataDir: d, production: false, externalDatabase: false })).toThrow(/does not hold a 32-byte base64 key/);
    }
    fs.writeFileSync(path.join(d, "data-key"), `  ${good}\n\n`);
    expect(resolveDataKeys({ configured: [], dataDir: d, production: false, externalDatabase: false }).keys).toEqual([Buffer.alloc(32, 9)]);
  });
});
