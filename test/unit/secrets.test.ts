import { randomBytes } from "node:crypto";
import { parseSecretKeys, SecretBox, SecretError } from "../../src/core/secrets";

describe("SecretBox", () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  it("seals any JSON value so that only its keys open it, differently each time", () => {
    const box = new SecretBox([k1]);
    for (const value of ["appSecret-令牌", 42, { nested: ["x"] }]) {
      const sealed = box.seal(value);
      expect(SecretBox.isSealed(sealed)).toBe(true);
      expect(String(sealed)).not.toContain("appSecret");
      expect(box.open(sealed)).toEqual(value);
      expect(box.seal(value)).not.toBe(sealed); // a fresh IV each time
    }
  });

  it("passes plain values through, and seals nothing without a key", () => {
    const none = new SecretBox([]);
    expect(none.enabled).toBe(false);
    expect(new SecretBox([k1]).enabled).toBe(true);
    expect(none.seal("plain")).toBe("plain");
    expect(new SecretBox([k1]).open("plain")).toBe("plain");
  });

  it("opens with any configured key, by key id, and seals with the first", () => {
    const old = new SecretBox([k1]).seal("s");
    const rotated = new SecretBox([k2, k1]);
    expect(rotated.open(old)).toBe("s");
    const fresh = rotated.seal("s") as string;
    expect(new SecretBox([k2]).open(fresh)).toBe("s");
    expect(() => new SecretBox([k1]).open(fresh)).toThrow(SecretError);
    expect(() => new SecretBox([k1]).open(fresh)).toThrow(/does not hold/);
  });

  it("refuses a damaged or truncated sealed value with a SecretError", () => {
    const box = new SecretBox([k1]);
    const sealed = box.seal("secret") as string;
    const bytes = Buffer.from(sealed.split(":")[3], "base64");
    bytes[bytes.length - 1] ^= 1;
    const damaged = `${sealed.split(":").slice(0, 3).join(":")}:${bytes.toString("base64")}`;
    expect(() => box.open(damaged)).toThrow(/damaged/);
    expect(() => box.open(`${sealed.split(":").slice(0, 3).join(":")}:AAAA`)).toThrow(/truncated/);
  });
});

/** The key bytes 00 01 … 1f, in the two spellings CRM_SECRET_KEY accepts; its SHA-256 (openssl dgst -sha256) begins 630dcd29. */
const HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const BASE64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const BYTES = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

describe("SecretBox, sealed form", () => {
  it("names the sealing key by the first 8 hex digits of its SHA-256", () => {
    const sealed = new SecretBox([BYTES]).seal("s") as string;
    expect(sealed.startsWith("enc:v1:630dcd29:")).toBe(true);
  });

  it("opens the shortest sealed value (a one-character JSON: 12 + 16 + 1 bytes)", () => {
    const box = new SecretBox([BYTES]);
    const sealed = box.seal(7) as string;
    expect(Buffer.from(sealed.split(":")[3], "base64")).toHaveLength(29);
    expect(box.open(sealed)).toBe(7);
  });

  it("throws errors named SecretError", () => {
    let error: unknown;
    try {
      new SecretBox([BYTES]).open("enc:v1:00000000:AAAA");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SecretError);
    expect((error as Error).name).toBe("SecretError");
  });
});

describe("parseSecretKeys", () => {
  const REASON = "each key must be 32 bytes, as 64 hex digits or 44 base64 characters (openssl rand -base64 32)";

  it("reads no variable as no keys", () => {
    expect(parseSecretKeys(undefined)).toEqual([]);
  });

  it("reads 64 hex digits in either case, and 44 base64 characters, as 32 bytes each, in order and trimmed", () => {
    expect(parseSecretKeys(HEX)).toEqual([BYTES]);
    expect(parseSecretKeys(HEX.toUpperCase())).toEqual([BYTES]);
    expect(parseSecretKeys(BASE64)).toEqual([BYTES]);
    const other = Buffer.alloc(32, 0xab);
    expect(parseSecretKeys(` ${"ab".repeat(32)} ,  ${BASE64}`)).toEqual([other, BYTES]);
  });

  it.each([
    ["an empty key", ""],
    ["63 hex digits", HEX.slice(0, 63)],
    ["65 hex digits", `${HEX}a`],
    ["64 characters, not all hex", `${HEX.slice(0, 63)}g`],
    ["base64 without its padding", BASE64.slice(0, 43)],
    ["base64 after a stray character", `#${BASE64}`],
    ["base64 with a character after the padding", `${BASE64}A`],
    ["a good key then a bad one", `${HEX},${HEX.slice(2)}`],
  ])("refuses %s with the reason", (_, value) => {
    expect(parseSecretKeys(value)).toBe(REASON);
  });
});
