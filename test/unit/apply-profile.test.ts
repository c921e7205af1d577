import { applyProfile, blankCustomer, Customer } from "../../src/modules/customers";

/**
 * A channel event's profile values applied to a customer (`applyProfile`, the pure part of ingestion: no database),
 * against outcomes worked out by hand from the rule in profile.ts: per field the value of the most recent event wins,
 * an older event arriving late changes nothing, events of the same time are decided by the greater value (so arrival
 * order never matters), and what an event leaves empty says nothing. Tags are added, never taken away.
 */
const T = (day: number) => new Date(Date.UTC(2026, 5, day)).toISOString();

function aCustomer(over: Partial<Customer> = {}): Customer {
  return Object.assign(blankCustomer("t", new Date(T(1)), new Date(T(1)), "c"), over);
}

const region = (c: Customer) => ({ country: c.country, province: c.province, city: c.city });

describe("applyProfile", () => {
  it("sets every field a first event brings (name trimmed, country upper-cased) and names the fields it changed", () => {
    const c = aCustomer();
    const changed = applyProfile(
      c,
      {
        displayName: "  林晓 ",
        gender: "FEMALE",
        birthday: "1990-05-06",
        phone: "+8613800138000",
        email: "lin@example.cn",
        region: { country: "cn", province: "浙江省", city: "杭州市" },
        tags: [" VIP ", "门店"],
        attributes: { level: "gold", points: 120 },
      },
      T(3),
    );
    expect(changed.sort()).toEqual(["attributes", "birthday", "displayName", "email", "gender", "phone", "region", "tags"]);
    expect(c.displayName).toBe("林晓");
    expect(c.gender).toBe("FEMALE");
    expect(c.birthday).toBe("1990-05-06");
    expect(c.phone).toBe("+8613800138000");
    expect(c.email).toBe("lin@example.cn");
    expect(region(c)).toEqual({ country: "CN", province: "浙江省", city: "杭州市" });
    expect(c.tags).toEqual(["VIP", "门店"]);
    expect(c.attributes).toEqual({ level: "gold", points: 120 });
    expect(c.fieldTimes).toEqual({
      displayName: T(3),
      gender: T(3),
      birthday: T(3),
      phone: T(3),
      email: T(3),
      region: T(3),
      "attributes.level": T(3),
      "attributes.points": T(3),
    });
  });

  it("lets nothing an event leaves empty erase a value: missing, empty or blank fields, UNKNOWN gender, an all-empty region", () => {
    const said = { displayName: T(2), gender: T(2), birthday: T(2), phone: T(2), email: T(2), region: T(2), "attributes.level": T(2) };
    const c = aCustomer({
      displayName: "林晓",
      gender: "MALE" as Customer["gender"],
      birthday: "1990-05-06",
      phone: "+8613800138000",
      email: "lin@example.cn",
      country: "CN",
      province: "浙江省",
      city: "杭州市",
      tags: ["VIP"],
      attributes: { level: "gold" },
      fieldTimes: { ...said },
    });
    const changed = applyProfile(
      c,
      { displayName: "   ", gender: "UNKNOWN", birthday: "", phone: undefined, region: { country: "", province: null, city: "" }, tags: [], attributes: {} },
      T(5),
    );
    expect(changed).toEqual([]);
    expect(c).toMatchObject({ displayName: "林晓", gender: "MALE", birthday: "1990-05-06", phone: "+8613800138000", email: "lin@example.cn", tags: ["VIP"] });
    expect(region(c)).toEqual({ country: "CN", province: "浙江省", city: "杭州市" });
    expect(c.attributes).toEqual({ level: "gold" });
    expect(c.fieldTimes).toEqual(said); // an empty value does not even count as having been said
  });

  it("takes a newer event's values and ignores an older one arriving late, whichever value sorts first", () => {
    const c = aCustomer();
    applyProfile(
      c,
      { displayName: "Lin", phone: "+8613800138000", region: { country: "CN", province: "浙江省", city: "杭州市" }, attributes: { level: "silver" } },
      T(5),
    );

    // Day 3, arriving after day 5: every value loses, though each sorts after the current one.
    const late = applyProfile(
      c,
      { displayName: "Zoe", phone: "+8613900139000", region: { country: "CN", province: "江苏省", city: "南京市" }, attributes: { level: "vip" } },
      T(3),
    );
    expect(late).toEqual([]);
    expect(c).toMatchObject({ displayName: "Lin", phone: "+8613800138000" });
    expect(region(c)).toEqual({ country: "CN", province: "浙江省", city: "杭州市" });
    expect(c.attributes).toEqual({ level: "silver" });
    expect(c.fieldTimes).toEqual({ displayName: T(5), phone: T(5), region: T(5), "attributes.level": T(5) });

    // Day 7: every value wins, though each sorts before the current one. The region is taken whole (a city of null: none).
    const newer = applyProfile(c, { displayName: "Ada", region: { country: "cn", province: "上海市", city: null }, attributes: { level: "gold" } }, T(7));
    expect(newer.sort()).toEqual(["attributes", "displayName", "region"]);
    expect(c.displayName).toBe("Ada");
    expect(c.phone).toBe("+8613800138000");
    expect(region(c)).toEqual({ country: "CN", province: "上海市", city: null });
    expect(c.attributes).toEqual({ level: "gold" });
    expect(c.fieldTimes).toEqual({ displayName: T(7), phone: T(5), region: T(7), "attributes.level": T(7) });
  });

  it.each([
    ["the shorter first", ["Lin", "Lin Xiao"], [["displayName"], ["displayName"]]],
    ["the longer first", ["Lin Xiao", "Lin"], [["displayName"], []]],
  ])("decides between two events of the same time by the greater value, whatever the order: %s", (_, names, changes) => {
    const c = aCustomer();
    expect(applyProfile(c, { displayName: names[0] }, T(4))).toEqual(changes[0]);
    expect(applyProfile(c, { displayName: names[1] }, T(4))).toEqual(changes[1]);
    expect(c.displayName).toBe("Lin Xiao"); // "Lin Xiao" > "Lin": a string is greater than its prefix
  });

  it.each([
    ["9 first", [9, 10]],
    ["10 first", [10, 9]],
  ])("decides a tie between attribute values by their JSON text: %s", (_, values) => {
    const c = aCustomer();
    for (const v of values) applyProfile(c, { attributes: { score: v } }, T(4));
    expect(c.attributes).toEqual({ score: 9 }); // "9" > "10" as text
  });

  it("records the time of a value said again without reporting a change", () => {
    const c = aCustomer({
      displayName: "Lin",
      country: "CN",
      province: "浙江省",
      city: "杭州市",
      tags: ["VIP"],
      attributes: { level: "gold" },
      fieldTimes: { displayName: T(2), region: T(2), "attributes.level": T(2) },
    });
    const changed = applyProfile(
      c,
      { displayName: "Lin", region: { country: "cn", province: "浙江省", city: "杭州市" }, tags: ["VIP"], attributes: { level: "gold" } },
      T(6),
    );
    expect(changed).toEqual([]);
    expect(c.fieldTimes).toEqual({ displayName: T(6), region: T(6), "attributes.level": T(6) });
    expect(c).toMatchObject({ displayName: "Lin", tags: ["VIP"], attributes: { level: "gold" } });
    expect(region(c)).toEqual({ country: "CN", province: "浙江省", city: "杭州市" });
  });

  it("adds an event's tags to the customer's, trimmed and once each, up to 100", () => {
    const c = aCustomer({ tags: ["VIP"] });
    expect(applyProfile(c, { tags: [" VIP ", "门店", "门店"] }, T(3))).toEqual(["tags"]);
    expect(c.tags).toEqual(["VIP", "门店"]);
    expect(applyProfile(c, { tags: ["门店"] }, T(1))).toEqual([]); // nothing new, however old the event

    const full = Array.from({ length: 99 }, (_, i) => `t${i}`);
    const d = aCustomer({ tags: [...full] });
    expect(applyProfile(d, { tags: ["n1", "n2", "n3"] }, T(3))).toEqual(["tags"]);
    expect(d.tags).toEqual([...full, "n1"]);
    expect(applyProfile(d, { tags: ["n4"] }, T(4))).toEqual([]);
    expect(d.tags).toHaveLength(100);
  });

  it("fills a customer whose tags, attributes and field times are not set yet", () => {
    const c = aCustomer();
    Object.assign(c, { tags: undefined, attributes: undefined, fieldTimes: undefined });
    const changed = applyProfile(c, { displayName: "Lin", region: { city: "杭州市" }, tags: ["VIP"], attributes: { level: "gold" } }, T(3));
    expect(changed.sort()).toEqual(["attributes", "displayName", "region", "tags"]);
    expect(c.tags).toEqual(["VIP"]);
    expect(c.attributes).toEqual({ level: "gold" });
    expect(region(c)).toEqual({ country: null, province: null, city: "杭州市" });
    expect(c.fieldTimes).toEqual({ displayName: T(3), region: T(3), "attributes.level": T(3) });
  });
});
