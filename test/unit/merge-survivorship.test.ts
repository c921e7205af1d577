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
