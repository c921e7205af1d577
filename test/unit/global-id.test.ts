import { fromGlobalId, localId, toGlobalId } from "../../src/core/global-id";

const uuid = "5f0c8a0e-3d52-4b1e-9a7c-2f7f3c1d9e10";

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
});
