import { fromGlobalId, localId, toGlobalId, UUID, UUID_ANY_CASE } from "../../src/core/global-id";

const uuid = "5f0c8a0e-3d52-4b1e-9a7c-2f7f3c1d9e10";
const encode = (text: string) => Buffer.from(text).toString("base64url");

describe("global ids", () => {
  it("round-trips type and id", () => {
    expect(fromGlobalId(toGlobalId("Customer", uuid))).toEqual({ type: "Customer", id: uuid });
  });
  it("gives the local id only for the expected type", () => {
    const id = toGlobalId("ApiKey", uuid);
    expect(localId(id, "ApiKey")).toBe(uuid);
    expect(localId(id, "Customer")).toBeNull();
  });
  it.each(["", "!!!", "bm9wZQ", Buffer.from("Customer:not-a-uuid").toString("base64url"), Buffer.from(`customer:${uuid}`).toString("base64url")])(
    "rejects %p",
    (id) => {
      expect(fromGlobalId(id)).toBeNull();
    },
  );

  it.each([
    ["a type not starting with a capital letter", `9Customer:${uuid}`],
    ["a type with a digit after the letters", `Customer1:${uuid}`],
    ["an id with a character before the uuid", `Customer:x${uuid}`],
    ["an id with a character after the uuid", `Customer:${uuid}0`],
    ["an upper-case uuid (PostgreSQL prints lower case)", `Customer:${uuid.toUpperCase()}`],
    ["no type", `:${uuid}`],
    ["no separator", `Customer${uuid}`],
  ])("rejects %s", (_, text) => {
    expect(fromGlobalId(encode(text))).toBeNull();
  });

  it("rejects characters outside base64url anywhere, even where the rest would decode", () => {
    const good = toGlobalId("Customer", uuid);
    expect(fromGlobalId(`!${good}`)).toBeNull();
    expect(fromGlobalId(`${good}!`)).toBeNull();
    expect(fromGlobalId(`${good}==`)).toEqual({ type: "Customer", id: uuid }); // padding is allowed
  });

  it("rejects values that are not strings instead of throwing", () => {
    for (const v of [42, null, undefined, { id: uuid }]) expect(fromGlobalId(v as unknown as string)).toBeNull();
  });

  it("accepts ids of up to 200 characters and rejects longer ones", () => {
    // 113 + 1 + 36 = 150 bytes → exactly 200 base64url characters; one more byte → 202.
    const at200 = toGlobalId(`C${"x".repeat(112)}`, uuid);
    const over = toGlobalId(`C${"x".repeat(113)}`, uuid);
    expect([at200.length, over.length]).toEqual([200, 202]);
    expect(fromGlobalId(at200)).toEqual({ type: `C${"x".repeat(112)}`, id: uuid });
    expect(fromGlobalId(over)).toBeNull();
  });
});

describe("uuid patterns", () => {
  it("UUID takes only whole lower-case hyphenated uuids; UUID_ANY_CASE takes either case", () => {
    expect(UUID.test(uuid)).toBe(true);
    expect(UUID.test(uuid.toUpperCase())).toBe(false);
    expect(UUID_ANY_CASE.test(uuid.toUpperCase())).toBe(true);
    for (const bad of [`x${uuid}`, `${uuid}0`, uuid.replace(/-/g, "")]) {
      expect([bad, UUID.test(bad), UUID_ANY_CASE.test(bad)]).toEqual([bad, false, false]);
    }
  });
});
