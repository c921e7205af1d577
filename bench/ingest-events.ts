import type { Faker } from "@faker-js/faker" with { "resolution-mode": "import" };
import type { NormalizedEventInput } from "../src/plugins/events";
import { normalizePhone } from "../src/modules/customers";
import { identitySettings, isBlocked } from "../src/modules/ingestion";

/**
 * Synthetic normalized events for the ingestion bench, generated before anything is timed.
 * The mix is exact: 30 % new customers, 50 % order.placed / order.paid of known customers,
 * 10 % refunds of earlier paid orders, the rest exact re-sends of earlier events (a channel retrying).
 * Every event is valid, so a run rejects nothing; what the database must hold afterwards comes back
 * in `expected`.
 */
export interface GeneratedEvents {
  events: NormalizedEventInput[];
  counts: { customers: number; orderEvents: number; refunds: number; duplicates: number };
  expected: {
    customers: number;
    identities: number;
    orders: number;
    refunds: number;
    /** Distinct events, i.e. rows of ingested_events and results that must come back "accepted". */
    accepted: number;
    /** Customers with at least one paid, not fully refunded order, and the sums their stats must show. */
    customersWithStats: number;
    statsOrders: number;
    statsSpent: number;
  };
}

interface Person {
  phone: string;
  member: { type: "pos_member" | "youzan_buyer"; value: string };
}

interface Order {
  id: string;
  person: Person;
  payload: { orderId: string; currency: string; total: number; subtotal: number; discount: number; storeId: string; items: { sku: string; title: string; category: string; quantity: number; unitPrice: number }[] };
  paid: boolean;
  refunded: number;
  refunds: number;
}

// Mainland mobile number prefixes (China Mobile, Unicom, Telecom): faker's zh_CN phone formats
// include landlines and invalid mobile ranges, which the pipeline would rightly reject.
const MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157", "158", "159", "166", "176", "177", "180", "181", "182", "185", "186", "187", "188", "189", "191", "198", "199"];
const STORES = ["SH-XJH-01", "HZ-WL-02", "SZ-NS-03", "BJ-CY-04", "CD-JJ-05", "youzan-shop"];
const CATEGORIES = ["服饰", "美妆", "食品", "家居", "母婴", "数码"];
const SHAPES = { customer: 0.3, order: 0.5, refund: 0.1 } as const;

export function generateEvents(faker: Faker, n: number): GeneratedEvents {
  const settings = identitySettings(undefined);
  const target = { customer: Math.round(n * SHAPES.customer), order: Math.round(n * SHAPES.order), refund: Math.round(n * SHAPES.refund), duplicate: 0 };
  target.duplicate = n - target.customer - target.order - target.refund;
  const left = { ...target };

  const events: NormalizedEventInput[] = [];
  const originals: number[] = []; // indexes of first sends, candidates for a retry
  const people: Person[] = [];
  const phones = new Set<string>();
  const orders: Order[] = [];
  const pending: Order[] = []; // placed, not paid yet
  const refundable: Order[] = []; // paid, not fully refunded
  const base = Date.parse("2026-03-01T00:00:00Z");
  const at = (i: number) => new Date(base + i * 1500).toISOString();

  const newPhone = (): string => {
    for (;;) {
      const national = faker.helpers.arrayElement(MOBILE_PREFIXES) + faker.string.numeric(8);
      const e164 = normalizePhone(national, "CN");
      if (e164 && !isBlocked("phone", e164, settings) && !phones.has(e164)) {
        phones.add(e164);
        return national;
      }
    }
  };

  const feasible = (kind: keyof typeof left): boolean => {
    if (left[kind] <= 0) return false;
    if (kind === "order") return people.length > 0;
    if (kind === "refund") return refundable.length > 0;
    if (kind === "duplicate") return originals.length > 0;
    return true;
  };

  for (let i = 0; i < n; i++) {
    // Draw among the kinds still owed, in proportion to what is owed, so the totals are exact.
    const kinds = (Object.keys(left) as (keyof typeof left)[]).filter(feasible);
    if (!kinds.length) throw new Error("event generator painted itself into a corner");
    const weight = kinds.reduce((s, k) => s + left[k], 0);
    let roll = faker.number.float({ min: 0, max: weight });
    let kind = kinds[kinds.length - 1];
    for (const k of kinds) {
      if ((roll -= left[k]) <= 0) {
        kind = k;
        break;
      }
    }
    left[kind]--;
    const occurredAt = at(i);

    if (kind === "duplicate") {
      // Retries come soon after the first send: within the last two batches' worth of events.
      const from = Math.max(0, originals.length - 2000);
      const original = events[originals[faker.number.int({ min: from, max: originals.length - 1 })]];
      events.push(structuredClone(original));
      continue;
    }
    originals.push(events.length);

    if (kind === "customer") {
      const k = people.length;
      const national = newPhone();
      const pos = faker.datatype.boolean();
      const person: Person = {
        phone: national,
        member: pos ? { type: "pos_member", value: `M${String(1_000_000 + k)}` } : { type: "youzan_buyer", value: `yz${faker.string.numeric(10)}${k}` },
      };
      people.push(person);
      events.push({
        type: "customer.upserted",
        externalId: `cust-${k}`,
        occurredAt,
        identities: [person.member],
        payload: {
          displayName: faker.person.fullName(),
          phone: national,
          gender: faker.helpers.arrayElement(["MALE", "FEMALE", "UNKNOWN"] as const),
          birthday: faker.date.birthdate({ mode: "age", min: 18, max: 70 }).toISOString().slice(0, 10),
          region: { country: "CN", province: faker.location.state(), city: faker.location.city() },
          tags: [faker.helpers.arrayElement(["新客", "门店", "小程序", "有赞"])],
          attributes: { source: person.member.type === "pos_member" ? "门店" : "有赞" },
        },
      });
    } else if (kind === "order") {
      // Pay a placed order (a later event of the same order) or place a new one.
      // (Pay at once while refunds are owed and nothing is refundable, so small runs cannot run out.)
      const pay = pending.length > 0 && (faker.number.float() < 0.45 || (refundable.length === 0 && left.refund > 0));
      const order = pay ? pending.splice(faker.number.int({ min: 0, max: Math.min(pending.length, 500) - 1 }), 1)[0] : placeOrder(faker, orders, people);
      if (pay) {
        order.paid = true;
        refundable.push(order);
      } else pending.push(order);
      const identities = faker.number.float() < 0.3 ? [order.person.member, { type: "phone" as const, value: order.person.phone }] : [order.person.member];
      events.push({ type: pay ? "order.paid" : "order.placed", externalId: `${order.id}:${pay ? "paid" : "placed"}`, occurredAt, identities, payload: order.payload });
    } else {
      const slot = faker.number.int({ min: 0, max: refundable.length - 1 });
      const order = refundable[slot];
      const full = faker.number.float() < 0.4;
      const amount = full ? order.payload.total - order.refunded : Math.min(order.payload.total - order.refunded, faker.number.int({ min: 100, max: 5000 }));
      order.refunded += amount;
      order.refunds++;
      if (order.refunded >= order.payload.total) refundable.splice(slot, 1);
      events.push({
        type: "order.refunded",
        externalId: `${order.id}:refund:${order.refunds}`,
        occurredAt,
        identities: [order.person.member],
        payload: { orderId: order.id, refundId: `R${order.refunds}`, amount },
      });
    }
  }

  const counted = orders.filter((o) => o.paid && o.refunded < o.payload.total);
  return {
    events,
    counts: { customers: target.customer, orderEvents: target.order, refunds: target.refund, duplicates: target.duplicate },
    expected: {
      customers: people.length,
      identities: people.length * 2,
      orders: orders.length,
      refunds: target.refund,
      accepted: originals.length,
      customersWithStats: new Set(counted.map((o) => o.person)).size,
      statsOrders: counted.length,
      statsSpent: counted.reduce((s, o) => s + o.payload.total - o.refunded, 0),
    },
  };
}

function placeOrder(faker: Faker, orders: Order[], people: Person[]): Order {
  const id = `T${String(orders.length + 1).padStart(9, "0")}`;
  const items = Array.from({ length: faker.number.int({ min: 1, max: 4 }) }, () => ({
    sku: `SKU-${faker.string.alphanumeric({ length: 6, casing: "upper" })}`,
    title: faker.commerce.productName(),
    category: faker.helpers.arrayElement(CATEGORIES),
    quantity: faker.number.int({ min: 1, max: 3 }),
    unitPrice: faker.number.int({ min: 990, max: 59_900 }),
  }));
  const subtotal = items.reduce((s, x) => s + x.quantity * x.unitPrice, 0);
  const discount = faker.number.float() < 0.3 ? Math.floor(subtotal * 0.1) : 0;
  const order: Order = {
    id,
    person: faker.helpers.arrayElement(people),
    payload: { orderId: id, currency: "CNY", total: subtotal - discount, subtotal, discount, storeId: faker.helpers.arrayElement(STORES), items },
    paid: false,
    refunded: 0,
    refunds: 0,
  };
  orders.push(order);
  return order;
}
