import { randomBytes } from "node:crypto";
import { SecretBox, SecretError } from "../../src/core/secrets";

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
