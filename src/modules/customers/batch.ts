import { randomUUID } from "node:crypto";
import type { EntityManager } from "typeorm";
import { Customer, Gender } from "./entity";
import type { IdentityTypeName } from "../../plugins/identity";
import type { DataKeyring } from "../../core/data-keys";
import { birthYearOf, contactIndexes, identityIndexes } from "./blind";

type Idn = { type: IdentityTypeName; value: string };
const SIGHTING_FIELDS = new Set(["lastSeenAt", "firstSeenAt"]);
/** Only first/last seen moved: a sighting (an order of a regular), not a change of the profile. */
const isSighting = (fields: Set<string>) => [...fields].every((f) => SIGHTING_FIELDS.has(f));
/** The profile field an identity type is also kept in (the primary phone and e-mail), if any. */
export const primaryField = (type: string): "phone" | "email" | null => (type === "phone" || type === "email" ? type : null);
const key = (i: { type: string; value: string }) => `${i.type}\u0000${i.value}`;

/** A `customers` row as both drivers return it (timestamps as Date or ISO text). */
interface RawCustomer {
  id: string;
  display_name: string;
  gender: string;
  birthday: string | null;
  locale: string | null;
  country: string | null;
  province: string | null;
  city: string | null;
  phone: string | null;
  email: string | null;
  tags: string[];
  attributes: Record<string, unknown>;
  marketing_consent: Customer["consent"];
  field_times: Record<string, string>;
  created_at: Date | string;
  updated_at: Date | string;
  first_seen_at: Date | string;
  last_seen_at: Date | string;
}

interface CustomerState {
  row: Customer;
  identities: Idn[];
  isNew: boolean;
  /** Fields changed since the last flush (for the UPDATE) and since the start (for events). */
  dirty: boolean;
  pending: Set<string>;
  changed: Set<string>;
}

/**
 * The customers module's set-based batch API: the customers and identities one ingest batch touches,
 * held in memory so that the batch costs a fixed number of statements — one read of identities, one of
 * customers, then one multi-row write per table at flush time (and again after a merge, which is rare).
 * The ingestion pipeline drives it; only this module writes `customers` and `customer_identities`.
 */
export class BatchState {
  private readonly owners = new Map<string, string>();
  private readonly customers = new Map<string, CustomerState>();
  private newIdentities: (Idn & { id: string; customerId: string; sourceChannel: string; at: string })[] = [];
  private seen = new Map<string, string>();
  private readonly mergedInto = new Map<string, string>();
  readonly created = new Set<string>();

  /** When this batch runs: the creation time of every customer it creates, as `now()` is one time per transaction. */
  private readonly startedAt = new Date();

  /** Identity key → its blind indexes (the first key's first): computed once per distinct identity per batch. */
  private readonly indexes = new Map<string, string[]>();

  private constructor(
    private readonly tenantId: string,
    private readonly keys: DataKeyring,
  ) {}

  static async load(m: EntityManager, tenantId: string, identities: Idn[], keys: DataKeyring): Promise<BatchState> {
    const s = new BatchState(tenantId, keys);
    await s.loadOwners(m, identities);
    return s;
  }

  /** The identity's blind indexes as hex, under every key (the first writes, all match). */
  private indexesOf(i: Idn): string[] {
    const k = key(i);
    let hex = this.indexes.get(k);
    if (!hex) this.indexes.set(k, (hex = identityIndexes(this.keys, this.tenantId, i.type, i.value).map((b) => b.toString("hex"))));
    return hex;
  }

  private async loadOwners(m: EntityManager, identities: Idn[]) {
    if (!identities.length) return;
    const byIndex = new Map<string, string>();
    for (const i of identities) for (const h of this.indexesOf(i)) byIndex.set(h, key(i));
    const rows: { idx: string; customer_id: string }[] = await m.query(
      `SELECT encode(value_index, 'hex') AS idx, customer_id FROM customer_identities
        WHERE tenant_id = $1 AND value_index IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) AS h)`,
      [this.tenantId, [...byIndex.keys()]],
    );
    for (const r of rows) this.owners.set(byIndex.get(r.idx)!, r.customer_id);
    await this.loadCustomers(m, [...new Set(rows.map((r) => r.customer_id))]);
  }

  private async loadCustomers(m: EntityManager, ids: string[]) {
    const missing = ids.filter((id) => !this.customers.has(id));
    if (!missing.length) return;
    // Plain SQL and a hand-made entity: TypeORM's hydration of a few hundred rows cost more than the read.
    const raw: RawCustomer[] = await m.query(
      `SELECT id, display_name, gender, birthday, locale, country, province, city, phone, email, tags, attributes,
              marketing_consent, field_times, created_at, updated_at, first_seen_at, last_seen_at
         FROM customers WHERE tenant_id = $1 AND id = ANY($2::uuid[])`,
      [this.tenantId, missing],
    );
    const rows = raw.map((r) => this.customerOf(r));
    // One range of the (tenant_id, customer_id) index per customer (OFFSET 0 keeps the subquery from
    // being flattened): as `customer_id = ANY(…)` the planner scans the whole table once the list is a
    // few hundred ids long, so the cost grew with the table instead of with the batch.
    const idns: { customer_id: string; type: IdentityTypeName; value: string }[] = await m.query(
      `SELECT c.id AS customer_id, i.type, i.value
         FROM unnest($2::uuid[]) AS c(id)
        CROSS JOIN LATERAL (SELECT type, value FROM customer_identities WHERE tenant_id = $1 AND customer_id = c.id OFFSET 0) AS i`,
      [this.tenantId, missing],
    );
    const byCustomer = new Map<string, Idn[]>();
    for (const i of idns) {
      const idn = { type: i.type, value: this.keys.decrypt(i.value) };
      const list = byCustomer.get(i.customer_id);
      if (list) list.push(idn);
      else byCustomer.set(i.customer_id, [idn]);
    }
    for (const row of rows) {
      this.customers.set(row.id, { row, identities: byCustomer.get(row.id) ?? [], isNew: false, dirty: false, pending: new Set(), changed: new Set() });
    }
  }

  private customerOf(r: RawCustomer): Customer {
    return Object.assign(new Customer(), {
      id: r.id,
      tenantId: this.tenantId,
      displayName: r.display_name,
      gender: r.gender as Gender,
      birthday: this.keys.decryptOrNull(r.birthday),
      locale: r.locale,
      country: r.country,
      province: r.province,
      city: r.city,
      phone: this.keys.decryptOrNull(r.phone),
      email: this.keys.decryptOrNull(r.email),
      tags: r.tags,
      attributes: r.attributes,
      consent: r.marketing_consent,
      fieldTimes: r.field_times,
      createdAt: new Date(r.created_at),
      updatedAt: new Date(r.updated_at),
      firstSeenAt: new Date(r.first_seen_at),
      lastSeenAt: new Date(r.last_seen_at),
    });
  }

  owner(i: Idn): string | undefined {
    return this.owners.get(key(i));
  }

  get(id: string): CustomerState {
    const c = this.customers.get(id);
    if (!c) throw new Error(`customer ${id} not loaded in batch`);
    return c;
  }

  create(at: string): CustomerState {
    const row = blankCustomer(this.tenantId, this.startedAt, new Date(at));
    const state: CustomerState = { row, identities: [], isNew: true, dirty: true, pending: new Set(), changed: new Set() };
    this.customers.set(row.id, state);
    this.created.add(row.id);
    return state;
  }

  attach(c: CustomerState, i: Idn, channel: string, at: string): void {
    this.owners.set(key(i), c.row.id);
    c.identities.push(i);
    this.newIdentities.push({ ...i, id: randomUUID(), customerId: c.row.id, sourceChannel: channel, at });
    // Primary phone and e-mail follow the identities when the customer has none yet.
    const primary = primaryField(i.type);
    if (primary && !c.row[primary]) {
      c.row[primary] = i.value;
      this.mark(c, primary);
    }
    if (!c.isNew) this.mark(c, "identities");
  }

  /** An identity the customer already has was seen again. */
  touch(i: Idn, at: string): void {
    const prev = this.seen.get(key(i));
    if (!prev || at > prev) this.seen.set(key(i), at);
  }

  seenAt(c: CustomerState, at: string): void {
    const t = new Date(at);
    if (t > c.row.lastSeenAt) {
      c.row.lastSeenAt = t;
      this.mark(c, "lastSeenAt");
    }
    if (t < c.row.firstSeenAt) {
      c.row.firstSeenAt = t;
      this.mark(c, "firstSeenAt");
    }
  }

  mark(c: CustomerState, field: string): void {
    c.dirty = true;
    c.pending.add(field);
    c.changed.add(field);
  }

  /** Writes everything pending: new customers, new identities, changed customers, identity sightings. */
  async flush(m: EntityManager): Promise<void> {
    const now = new Date().toISOString();
    const fresh = [...this.customers.values()].filter((c) => c.isNew && c.dirty);
    const dirty = [...this.customers.values()].filter((c) => !c.isNew && c.dirty);
    // A mere sighting (an order of a regular) moves only first/last seen: a narrow UPDATE, and not a
    // change of the profile, so `updatedAt` stays (syncs that follow updatedAt are not flooded by it).
    const sighted = dirty.filter((c) => isSighting(c.pending));
    const changed = dirty.filter((c) => !sighted.includes(c));
    const columns = `id uuid, display_name text, gender text, birthday text, birth_year smallint, country text, province text, city text, phone text,
      email text, phone_index text, email_index text, phone_last4_index text, tags text[], attributes jsonb, field_times jsonb,
      created_at timestamptz, updated_at timestamptz, first_seen_at timestamptz, last_seen_at timestamptz`;
    const hex = (b: Buffer | null) => (b ? b.toString("hex") : null);
    // Personal values leave encrypted, with the blind indexes their lookups use.
    const record = (c: CustomerState) => {
      const idx = contactIndexes(this.keys, this.tenantId, c.row);
      return {
        id: c.row.id,
        display_name: c.row.displayName,
        gender: c.row.gender,
        birthday: this.keys.encryptOrNull(c.row.birthday),
        birth_year: birthYearOf(c.row.birthday),
        country: c.row.country,
        province: c.row.province,
        city: c.row.city,
        phone: this.keys.encryptOrNull(c.row.phone),
        email: this.keys.encryptOrNull(c.row.email),
        phone_index: hex(idx.phoneIndex),
        email_index: hex(idx.emailIndex),
        phone_last4_index: hex(idx.phoneLast4Index),
      tags: c.row.tags,
      attributes: c.row.attributes,
      field_times: c.row.fieldTimes,
        created_at: c.row.createdAt.toISOString(),
        updated_at: c.isNew ? c.row.updatedAt.toISOString() : now,
        first_seen_at: c.row.firstSeenAt.toISOString(),
        last_seen_at: c.row.lastSeenAt.toISOString(),
      };
    };
    if (fresh.length) {
      await m.query(
        `INSERT INTO customers (id, tenant_id, display_name, gender, birthday, birth_year, country, province, city, phone, email, phone_index, email_index,
                                phone_last4_index, tags, attributes, field_times, created_at, updated_at, first_seen_at, last_seen_at)
         SELECT x.id, $1, x.display_name, x.gender, x.birthday, x.birth_year, x.country, x.province, x.city, x.phone, x.email, decode(x.phone_index, 'hex'),
                decode(x.email_index, 'hex'), decode(x.phone_last4_index, 'hex'), x.tags, x.attributes,
                x.field_times, x.created_at, x.updated_at, x.first_seen_at, x.last_seen_at
           FROM jsonb_to_recordset($2::jsonb) AS x(${columns})`,
        [this.tenantId, JSON.stringify(fresh.map(record))],
      );
    }
    if (this.newIdentities.length) {
      await m.query(
        `INSERT INTO customer_identities (id, tenant_id, customer_id, type, value, value_index, source_channel, first_seen_at, last_seen_at)
         SELECT x.id, $1, x.customer_id, x.type, x.value, decode(x.idx, 'hex'), x.source_channel, x.at, x.at
           FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, customer_id uuid, type text, value text, idx text, source_channel text, at timestamptz)`,
        [
          this.tenantId,
          JSON.stringify(
            this.newIdentities.map((i) => ({
              id: i.id,
              customer_id: i.customerId,
              type: i.type,
              value: this.keys.encrypt(i.value),
              idx: this.indexesOf(i)[0],
              source_channel: i.sourceChannel,
              at: i.at,
            })),
          ),
        ],
      );
      this.newIdentities = [];
    }
    if (changed.length) {
      await m.query(
        `UPDATE customers c SET display_name = x.display_name, gender = x.gender, birthday = x.birthday, birth_year = x.birth_year, country = x.country,
                province = x.province, city = x.city, phone = x.phone, email = x.email, phone_index = decode(x.phone_index, 'hex'),
                email_index = decode(x.email_index, 'hex'), phone_last4_index = decode(x.phone_last4_index, 'hex'), tags = x.tags, attributes = x.attributes,
                field_times = x.field_times, updated_at = x.updated_at, first_seen_at = x.first_seen_at, last_seen_at = x.last_seen_at
           FROM jsonb_to_recordset($2::jsonb) AS x(${columns})
          WHERE c.tenant_id = $1 AND c.id = x.id`,
        [this.tenantId, JSON.stringify(changed.map(record))],
      );
    }
    if (sighted.length) {
      await m.query(
        `UPDATE customers c SET first_seen_at = LEAST(c.first_seen_at, x.first_seen_at), last_seen_at = GREATEST(c.last_seen_at, x.last_seen_at)
           FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, first_seen_at timestamptz, last_seen_at timestamptz)
          WHERE c.tenant_id = $1 AND c.id = x.id`,
        [this.tenantId, JSON.stringify(sighted.map((c) => ({ id: c.row.id, first_seen_at: c.row.firstSeenAt.toISOString(), last_seen_at: c.row.lastSeenAt.toISOString() })))],
      );
    }
    if (this.seen.size) {
      // Every key's index of each identity: a row indexed under an older key (a rotation in progress) is found too.
      const seen = [...this.seen].flatMap(([k, at]) => {
        const [type, value] = k.split("\u0000");
        return this.indexesOf({ type: type as IdentityTypeName, value }).map((idx) => ({ idx, at }));
      });
      await m.query(
        `UPDATE customer_identities i SET last_seen_at = GREATEST(i.last_seen_at, x.at)
           FROM jsonb_to_recordset($2::jsonb) AS x(idx text, at timestamptz)
          WHERE i.tenant_id = $1 AND i.value_index = decode(x.idx, 'hex')`,
        [this.tenantId, JSON.stringify(seen)],
      );
      this.seen = new Map();
    }
    for (const c of [...fresh, ...dirty]) {
      c.isNew = false;
      c.dirty = false;
      c.pending.clear();
    }
  }

  /** The merges this batch made, each source with the customer it lives on as now. */
  merges(): { sourceId: string; targetId: string }[] {
    return [...this.mergedInto.keys()].map((sourceId) => ({ sourceId, targetId: this.survivor(sourceId) }));
  }

  /** After `sourceId` was merged into `targetId` in the database: forget the source, re-read the target. */
  async afterMerge(m: EntityManager, targetId: string, sourceId: string): Promise<void> {
    const changed = new Set([...(this.customers.get(targetId)?.changed ?? []), ...(this.customers.get(sourceId)?.changed ?? [])]);
    this.mergedInto.set(sourceId, targetId);
    this.customers.delete(sourceId);
    this.customers.delete(targetId);
    this.created.delete(sourceId);
    for (const [k, owner] of this.owners) if (owner === sourceId) this.owners.set(k, targetId);
    await this.loadCustomers(m, [targetId]);
    const t = this.customers.get(targetId);
    if (t) changed.forEach((f) => t.changed.add(f));
  }

  /** The customer `id` ended up as, following merges made in this batch. */
  survivor(id: string): string {
    let current = id;
    while (this.mergedInto.has(current)) current = this.mergedInto.get(current)!;
    return current;
  }

  /** Customers that existed before the batch and whose profile changed (more than a sighting), with what changed. */
  updated(): { id: string; changed: string[] }[] {
    return [...this.customers.values()]
      .filter((c) => !this.created.has(c.row.id) && c.changed.size && !isSighting(c.changed))
      .map((c) => ({ id: c.row.id, changed: [...c.changed] }));
  }
}

/** A customer with nothing known yet but when it was created and first seen (the pipeline's new rows; test builders). */
export function blankCustomer(tenantId: string, createdAt: Date, seenAt: Date, id: string = randomUUID()): Customer {
  return Object.assign(new Customer(), {
    id,
    tenantId,
    displayName: "",
    gender: Gender.UNKNOWN,
    birthday: null,
    locale: null,
    country: null,
    province: null,
    city: null,
    phone: null,
    email: null,
    tags: [],
    attributes: {},
    consent: [],
    fieldTimes: {},
    createdAt,
    updatedAt: createdAt,
    firstSeenAt: seenAt,
    lastSeenAt: new Date(seenAt),
  });
}
