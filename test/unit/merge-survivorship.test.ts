import { blankCustomer, ConsentChannel, Customer, foldProfile } from "../../src/modules/customers";

/**
 * Survivorship when one customer is merged into another (`foldProfile`), against outcomes worked out by hand from the
 * documented rule: per field the most recent non-empty value wins by the time a channel said it; marketing consent
 * per channel by when it was last said; tags are the union; first seen and created are the earliest, last seen the
 * latest. Each case is checked in both directions, so a rule that favours the target or the source is caught.
 */
const T = (day: number) => new Date(Date.UTC(2026, 5, day)).toISOString();

function aCustomer(over: Partial<Customer>): Customer {
  return Object.assign(blankCustomer("t", new Date(T(1)), new Date(T(1)), "x"), over);
}

/** Folds a copy of `source` into a copy of `target`. */
const fold = (target: Customer, source: Customer) => {
  const t = aCustomer({ ...target, consent: [...target.consent], fieldTimes: { ...target.fieldTimes }, tags: [...target.tags] });
  const changed = foldProfile(t, aCustomer({ ...source }));
  return { merged: t, changed };
};

describe("merge survivorship", () => {
  const older = aCustomer({
    id: "older",
    locale: "zh-CN",
    displayName: "林晓",
    fieldTimes: { locale: T(2), displayName: T(2) },
    consent: [
      { channel: ConsentChannel.SMS, granted: true, updatedAt: T(2) },
      { channel: ConsentChannel.WECHAT, granted: false, updatedAt: T(9) },
    ] as any,
    tags: ["门店"],
    createdAt: new Date(T(1)),
    firstSeenAt: new Date(T(3)),
    lastSeenAt: new Date(T(4)),
  });
  const newer = aCustomer({
    id: "newer",
    locale: "en-US",
    displayName: "Lin Xiao",
    fieldTimes: { locale: T(5), displayName: T(1) },
    consent: [
      { channel: ConsentChannel.SMS, granted: false, updatedAt: T(6) }, // a later "stop" beats the earlier yes
      { channel: ConsentChannel.WECHAT, granted: true, updatedAt: T(3) }, // an earlier yes loses to the later no
      { channel: ConsentChannel.EMAIL, granted: true, updatedAt: T(1) }, // only this side knows it
    ] as any,
    tags: ["小程序", "门店"],
    createdAt: new Date(T(2)),
    firstSeenAt: new Date(T(2)),
    lastSeenAt: new Date(T(8)),
  });
  const expected = {
    locale: "en-US", // said on day 5, against day 2
    displayName: "林晓", // said on day 2, against day 1
    consent: [
      { channel: "EMAIL", granted: true, updatedAt: T(1) },
      { channel: "SMS", granted: false, updatedAt: T(6) },
      { channel: "WECHAT", granted: false, updatedAt: T(9) },
    ],
    createdAt: new Date(T(1)),
    firstSeenAt: new Date(T(2)),
    lastSeenAt: new Date(T(8)),
  };

  it.each([
    ["the older into the newer", () => fold(newer, older)],
    ["the newer into the older", () => fold(older, newer)],
  ])("keeps the most recent consent, locale and name whichever way it merges: %s", (_, run) => {
    const { merged } = run();
    expect(merged).toMatchObject(expected);
    expect([...merged.tags].sort()).toEqual(["小程序", "门店"].sort());
  });

  it("reports which fields the merge changed on the survivor", () => {
    expect(fold(older, newer).changed.sort()).toEqual(["locale", "marketingConsent", "tags"].sort());
    expect(fold(newer, older).changed.sort()).toEqual(["displayName", "marketingConsent"].sort());
  });

  it("lets a recorded value beat one entered without a time, and a value beat an empty one", () => {
    const typed = aCustomer({ locale: "fr-FR", fieldTimes: {} }); // through the API: no channel time
    const heard = aCustomer({ locale: "de-DE", fieldTimes: { locale: T(1) } });
    expect(fold(typed, heard).merged.locale).toBe("de-DE");
    expect(fold(heard, typed).merged.locale).toBe("de-DE");
    const empty = aCustomer({ locale: null, fieldTimes: { locale: T(9) } });
    expect(fold(empty, typed).merged.locale).toBe("fr-FR");
  });
});

describe("merge survivorship, field by field", () => {
  const regionOf = (c: Customer) => ({ country: c.country, province: c.province, city: c.city });

  it("keeps the survivor's values where the merged customer has none", () => {
    const survivor = aCustomer({
      displayName: "林晓",
      gender: "FEMALE" as Customer["gender"],
      birthday: "1990-05-06",
      phone: "+8613800138000",
      email: "lin@example.cn",
      locale: "zh-CN",
      country: "CN",
      province: "浙江省",
      city: "杭州市",
      tags: ["VIP"],
      attributes: { level: "gold" },
      fieldTimes: {}, // all entered through the API: undated, as the blank customer's empty fields are
    });
    const { merged, changed } = fold(survivor, aCustomer({}));
    expect(changed).toEqual([]);
    expect(merged).toMatchObject({
      displayName: "林晓",
      gender: "FEMALE",
      birthday: "1990-05-06",
      phone: "+8613800138000",
      email: "lin@example.cn",
      locale: "zh-CN",
      tags: ["VIP"],
      attributes: { level: "gold" },
    });
    expect(regionOf(merged)).toEqual({ country: "CN", province: "浙江省", city: "杭州市" });
  });

  it("takes a known gender over UNKNOWN, never UNKNOWN over a known one, and otherwise the newer", () => {
    const unknown = aCustomer({}); // gender UNKNOWN, undated ("FEMALE" < "UNKNOWN" as text: only the rule makes it win)
    const female = aCustomer({ gender: "FEMALE" as Customer["gender"] });
    expect(fold(unknown, female)).toMatchObject({ merged: { gender: "FEMALE" }, changed: ["gender"] });
    expect(fold(female, unknown)).toMatchObject({ merged: { gender: "FEMALE" }, changed: [] });
    const saidLater = aCustomer({ gender: "UNKNOWN" as Customer["gender"], fieldTimes: { gender: T(9) } });
    expect(fold(female, saidLater).merged.gender).toBe("FEMALE");

    const newer = aCustomer({ gender: "FEMALE" as Customer["gender"], fieldTimes: { gender: T(5) } });
    const older = aCustomer({ gender: "MALE" as Customer["gender"], fieldTimes: { gender: T(2) } });
    expect(fold(newer, older)).toMatchObject({ merged: { gender: "FEMALE" }, changed: [] });
    expect(fold(older, newer)).toMatchObject({ merged: { gender: "FEMALE" }, changed: ["gender"] });
  });

  it("treats UNKNOWN as empty for gender only: a name that reads UNKNOWN is a name", () => {
    const named = aCustomer({ displayName: "UNKNOWN", fieldTimes: { displayName: T(5) } });
    const older = aCustomer({ displayName: "Lin", fieldTimes: { displayName: T(2) } });
    expect(fold(named, older).merged.displayName).toBe("UNKNOWN");
    expect(fold(older, named).merged.displayName).toBe("UNKNOWN");
  });

  it("records the newer time of a value both had without reporting a change", () => {
    const t = aCustomer({ displayName: "Lin", fieldTimes: { displayName: T(2) } });
    const s = aCustomer({ displayName: "Lin", fieldTimes: { displayName: T(5) } });
    const { merged, changed } = fold(t, s);
    expect(changed).toEqual([]);
    expect(merged.fieldTimes.displayName).toBe(T(5));
  });

  it("folds the region as a whole: into an empty one, or when the merged customer's is newer", () => {
    const hangzhou = { country: "CN", province: "浙江省", city: "杭州市" };
    const nanjing = { country: "CN", province: "江苏省", city: "南京市" };
    // Undated on both sides, a region beats none (though '{"country":"CN"…' sorts before '{"country":null…').
    const none = aCustomer({});
    const undated = aCustomer({ ...hangzhou });
    expect(fold(none, undated)).toMatchObject({ merged: hangzhou, changed: ["region"] });
    expect(fold(undated, none)).toMatchObject({ merged: hangzhou, changed: [] });

    // Dated: the newer wins as a whole, whichever sorts first ("浙" > "江", so day 5 is Nanjing).
    const older = aCustomer({ ...hangzhou, fieldTimes: { region: T(2) } });
    const newer = aCustomer({ ...nanjing, fieldTimes: { region: T(5) } });
    const a = fold(older, newer);
    expect(regionOf(a.merged)).toEqual(nanjing);
    expect(a.changed).toEqual(["region"]);
    expect(a.merged.fieldTimes.region).toBe(T(5));
    const b = fold(newer, older);
    expect(regionOf(b.merged)).toEqual(nanjing);
    expect(b.changed).toEqual([]);
    expect(b.merged.fieldTimes.region).toBe(T(5));

    // The same region, said later by the merged customer: its time, no change.
    const same = fold(older, aCustomer({ ...hangzhou, fieldTimes: { region: T(7) } }));
    expect(same.changed).toEqual([]);
    expect(same.merged.fieldTimes.region).toBe(T(7));
  });

  it("folds attributes key by key: new keys join, the newer value of a shared key wins", () => {
    const t = aCustomer({ attributes: { level: "silver", since: "2019" }, fieldTimes: { "attributes.level": T(2), "attributes.since": T(6) } });
    const s = aCustomer({ attributes: { level: "gold", since: "2020", channel: "taobao" }, fieldTimes: { "attributes.level": T(5), "attributes.since": T(3) } });
    const { merged, changed } = fold(t, s);
    expect(changed).toEqual(["attributes"]);
    expect(merged.attributes).toEqual({ level: "gold", since: "2019", channel: "taobao" });
    expect(merged.fieldTimes).toMatchObject({ "attributes.level": T(5), "attributes.since": T(6) });

    const again = fold(t, aCustomer({ attributes: { level: "silver" }, fieldTimes: { "attributes.level": T(8) } }));
    expect(again.changed).toEqual([]);
    expect(again.merged.attributes).toEqual({ level: "silver", since: "2019" });
    expect(again.merged.fieldTimes["attributes.level"]).toBe(T(8));
  });

  it("keeps at most 100 tags, the survivor's first", () => {
    const mine = Array.from({ length: 60 }, (_, i) => `a${i}`);
    const theirs = Array.from({ length: 60 }, (_, i) => `b${i}`);
    const { merged, changed } = fold(aCustomer({ tags: mine }), aCustomer({ tags: theirs }));
    expect(changed).toEqual(["tags"]);
    expect(merged.tags).toEqual([...mine, ...theirs.slice(0, 40)]);
  });

  it("reports no consent change when both said the same at the same time", () => {
    const consent = [{ channel: ConsentChannel.SMS, granted: true, updatedAt: T(3) }] as any;
    const { merged, changed } = fold(aCustomer({ consent }), aCustomer({ consent: [{ ...consent[0] }] }));
    expect(changed).toEqual([]);
    expect(merged.consent).toEqual([{ channel: "SMS", granted: true, updatedAt: T(3) }]);
  });

  it("keeps the earliest first sighting and creation and the latest last sighting, from either side", () => {
    const wide = aCustomer({ createdAt: new Date(T(1)), firstSeenAt: new Date(T(2)), lastSeenAt: new Date(T(9)) });
    const narrow = aCustomer({ createdAt: new Date(T(3)), firstSeenAt: new Date(T(4)), lastSeenAt: new Date(T(5)) });
    const expected = { createdAt: new Date(T(1)), firstSeenAt: new Date(T(2)), lastSeenAt: new Date(T(9)) };
    expect(fold(wide, narrow).merged).toMatchObject(expected);
    expect(fold(narrow, wide).merged).toMatchObject(expected);
  });
});
