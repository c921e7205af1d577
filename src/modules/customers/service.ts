import { In, QueryFailedError, type EntityManager } from "typeorm";
import type { App } from "../../app";
import { tenantOf, type Ctx, type TxCtx } from "../../core/context";
import { localId } from "../../core/global-id";
import { paginate, SortDirection, type ConnectionArgs } from "../../core/pagination";
import { getManyFast } from "../../db/hydrate";
import { inTransaction, inTransactionOrRollback, Rollback } from "../../core/transaction";
import { fail, ok, userError, UserErrorCode, type Result, type UserError } from "../../core/user-error";
import { Customer, CustomerIdentity } from "./entity";
import { CustomerMerge, MergeService } from "./merge";
import { PersonalDataHooks } from "./personal-data";
import { CustomerErasure, eraseCustomers, lockIdentitiesOf } from "./erasure";
import { Reencryption } from "./reencrypt";
import { ConsentPurpose, ConsentRecord, consentKey, isMarketing, recordConsents, sortConsents, validateConsent, withConsent, type GrantConsentInput, type StoredConsent, type WithdrawConsentInput } from "./consent";
import { primaryField } from "./batch";
import { contactIndexes, emailIndexes, identityIndex, identityIndexes, indexContacts, phoneIndexes, phoneLast4Indexes } from "./blind";
import {
  CustomerSortField,
  type AttachCustomerIdentityInput,
  type CreateCustomerInput,
  type CustomerProfileInput,
  type CustomerFilter,
  type CustomerOrder,
  type DetachCustomerIdentityInput,
  type UpdateCustomerInput,
} from "./inputs";
import { normalizeEmail, normalizeIdentity, normalizePhone, type IdentityTypeName } from "./normalize";
import { LIMITS, validateIdentities, validateProfile, validateTags, type NormalizedIdentity, type ProfilePatch } from "./validate";


const SORT: Record<CustomerSortField, { column: string; value(c: Customer): string }> = {
  CREATED_AT: { column: "c.createdAt", value: (c) => c.createdAt.toISOString() },
  UPDATED_AT: { column: "c.updatedAt", value: (c) => c.updatedAt.toISOString() },
  LAST_SEEN_AT: { column: "c.lastSeenAt", value: (c) => c.lastSeenAt.toISOString() },
  DISPLAY_NAME: { column: "c.displayName", value: (c) => c.displayName },
};

const notFound = (field: string) => userError([field], UserErrorCode.NOT_FOUND, "No such customer");

function isUniqueViolation(err: unknown): boolean {
  const e = err as QueryFailedError & { driverError?: { code?: string }; code?: string };
  return err instanceof QueryFailedError && (e.driverError?.code ?? e.code) === "23505";
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`);
}

/** What CustomersService uses of the app, and nothing more. */
export type CustomersDeps = Pick<App, "config" | "db" | "tenancy" | "clock" | "dataKeys">;

/** Customer profiles and their identities. Every query is scoped by the caller's tenant. */
export class CustomersService {
  readonly merges: MergeService;

  /** Brings every personal value under the first data key (see reencrypt.ts). */
  readonly reencryption: Reencryption;

  /** Every module's export and erase hooks for a person's data (see personal-data.ts). */
  readonly personalData = new PersonalDataHooks();

  constructor(private readonly app: CustomersDeps) {
    this.merges = new MergeService(app);
    this.reencryption = new Reencryption(app);
    this.personalData.register({ name: "profile", export: (tx, ids) => this.exportProfiles(tx, ids) });
    this.personalData.register({ name: "merges", export: (tx, ids) => this.exportMerges(tx, ids) });
    this.personalData.register({ name: "consentRecords", export: (tx, ids) => this.exportConsentRecords(tx, ids), erase: (tx, ids) => this.eraseConsentRecords(tx, ids) });
    // The proof of consent follows the person through merges (and back on unmerge).
    this.merges.hooks.push({
      name: "consent_records",
      move: async (tx, sourceId, targetId) => {
        const [rows]: [{ id: string }[], number] = await tx.manager.query(`UPDATE consent_records SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2 RETURNING id`, [tenantOf(tx), sourceId, targetId]);
        return rows.map((r) => r.id).sort();
      },
      restore: async (tx, ids, sourceId) => {
        if (ids.length) await tx.manager.query(`UPDATE consent_records SET customer_id = $2 WHERE tenant_id = $1 AND id = ANY($3::uuid[])`, [tenantOf(tx), sourceId, ids]);
      },
    });
  }

  /** The profile, consent and identities of each customer, as stored. */
  /**
   * Everything held about one person (PIPL/GDPR right to a copy): every section the modules registered with
   * `personalData` — profile with identities and consent, merges, orders with lines and refunds, and what later
   * modules add — read in one transaction. `customerId` is a global id of the caller's tenant.
   */
  async exportPersonalData(ctx: Ctx, customerId: string): Promise<Result<Record<string, unknown>>> {
    const id = localId(customerId, "Customer");
    if (!id || !(await this.byIds(tenantOf(ctx), [id])).length) return fail(notFound("customerId"));
    const doc = (await this.personalData.export(ctx, [id])).get(id) ?? {};
    return ok({ customerId, exportedAt: this.app.clock.now().toISOString(), sections: this.personalData.names.filter((n) => n in doc), ...doc });
  }

  private async exportProfiles(tx: TxCtx, ids: readonly string[]): Promise<Map<string, unknown>> {
    const tenantId = tenantOf(tx);
    const customers = await tx.manager.find(Customer, { where: { tenantId, id: In([...ids]) } });
    const identities = await tx.manager.find(CustomerIdentity, { where: { tenantId, customerId: In([...ids]) }, order: { firstSeenAt: "ASC", id: "ASC" } });
    return new Map(
      customers.map((c) => [
        c.id,
        {
          displayName: c.displayName,
          gender: c.gender,
          birthday: c.birthday,
          locale: c.locale,
          region: { country: c.country, province: c.province, city: c.city },
          phone: c.phone,
          email: c.email,
          tags: c.tags,
          attributes: c.attributes,
          marketingConsent: c.consent.filter(isMarketing),
          consents: c.consent,
          identities: identities.filter((i) => i.customerId === c.id).map((i) => ({ type: i.type, value: i.value, sourceChannel: i.sourceChannel, firstSeenAt: i.firstSeenAt, lastSeenAt: i.lastSeenAt })),
          createdAt: c.createdAt,
          updatedAt: c.updatedAt,
          firstSeenAt: c.firstSeenAt,
          lastSeenAt: c.lastSeenAt,
        },
      ]),
    );
  }

  /** Every consent statement of the customers, oldest first: the proof of consent. */
  private async exportConsentRecords(tx: TxCtx, ids: readonly string[]): Promise<Map<string, unknown>> {
    const rows = await tx.manager.find(ConsentRecord, { where: { tenantId: tenantOf(tx), customerId: In([...ids]) }, order: { at: "ASC", id: "ASC" } });
    const out = new Map<string, unknown[]>();
    for (const r of rows) {
      const record = { purpose: r.purpose, channel: r.channel, granted: r.granted, source: r.source, textVersion: r.textVersion, at: r.at };
      out.set(r.customerId, [...(out.get(r.customerId) ?? []), record]);
    }
    return out;
  }

  private async eraseConsentRecords(tx: TxCtx, ids: readonly string[]): Promise<void> {
    await tx.manager.query(`DELETE FROM consent_records WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])`, [tenantOf(tx), ids]);
  }

  /** Merges the customer took part in, either side, with what they recorded of the person. */
  private async exportMerges(tx: TxCtx, ids: readonly string[]): Promise<Map<string, unknown>> {
    const tenantId = tenantOf(tx);
    const merges = await tx.manager.find(CustomerMerge, { where: [{ tenantId, targetId: In([...ids]) }, { tenantId, sourceId: In([...ids]) }], order: { mergedAt: "ASC", id: "ASC" } });
    const out = new Map<string, unknown[]>();
    for (const m of merges) {
      const record = { id: m.id, role: "", reason: m.reason, channel: m.channel, mergedAt: m.mergedAt, unmergedAt: m.unmergedAt, changes: m.changes, snapshot: m.snapshot };
      for (const [id, role] of [[m.targetId, "target"], [m.sourceId, "source"]] as const) {
        if (ids.includes(id)) out.set(id, [...(out.get(id) ?? []), { ...record, role }]);
      }
    }
    return out;
  }

  /**
   * Erases the customers of every tenant with `inactiveCustomerRetentionDays` set who have not been seen for
   * longer (reason `retention`), 200 per transaction, each batch re-checked under its locks (a customer seen
   * meanwhile is kept). The daily job (`crm.customers.retention`) calls it; a failed run is retried, and what
   * was erased stays erased. Returns how many customers were erased.
   */
  async eraseInactive(systemCtx: (tenantId: string) => Ctx): Promise<number> {
    let erased = 0;
    const now = this.app.clock.now().getTime();
    for (const { tenantId, settings } of await this.app.tenancy.settings.all()) {
      if (settings.inactiveCustomerRetentionDays === null) continue;
      const cutoff = new Date(now - settings.inactiveCustomerRetentionDays * 86_400_000);
      const ctx = systemCtx(tenantId);
      for (;;) {
        const { due, done } = await inTransaction(ctx, async (tx) => {
          const due: { id: string }[] = await tx.manager.query(`SELECT id FROM customers WHERE tenant_id = $1 AND last_seen_at < $2 ORDER BY last_seen_at, id LIMIT 200`, [tenantId, cutoff]);
          if (!due.length) return { due: 0, done: 0 };
          await lockIdentitiesOf(tx, due.map((d) => d.id));
          const still: { id: string }[] = await tx.manager.query(`SELECT id FROM customers WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND last_seen_at < $3 ORDER BY id FOR UPDATE`, [
            tenantId,
            due.map((d) => d.id),
            cutoff,
          ]);
          await eraseCustomers(tx, this.personalData, still.map((r) => r.id), "retention");
          return { due: due.length, done: still.length };
        });
        erased += done;
        if (due < 200) break;
      }
    }
    return erased;
  }

  /** Where phone numbers written without a country code are read: the tenant's setting. */
  private async phoneRegion(ctx: Ctx): Promise<string> {
    return (await this.app.tenancy.settings.get(tenantOf(ctx))).defaultPhoneRegion;
  }

  /** The region `filtered` needs: only a search reads phone numbers (lists without one cost no settings read). */
  private async searchRegion(ctx: Ctx, filter: CustomerFilter | null | undefined): Promise<string> {
    return filter?.search?.trim() || filter?.phone ? this.phoneRegion(ctx) : this.app.config.defaultPhoneRegion;
  }

  // ---- reads ------------------------------------------------------------------------------

  /** Customers of `tenantId` by local id, in no particular order (loaders re-order). */
  /** Customers by local id, in no particular order; `manager` reads inside a transaction. */
  byIds(tenantId: string, ids: readonly string[], manager: EntityManager = this.app.db.dataSource.manager): Promise<Customer[]> {
    return getManyFast(manager.createQueryBuilder(Customer, "c").where("c.tenantId = :tenantId AND c.id = ANY(:ids)", { tenantId, ids }));
  }

  identitiesOf(tenantId: string, customerIds: readonly string[]): Promise<CustomerIdentity[]> {
    return getManyFast(
      this.app.db.dataSource.manager
        .createQueryBuilder(CustomerIdentity, "i")
        .where("i.tenantId = :tenantId AND i.customerId = ANY(:ids)", { tenantId, ids: customerIds })
        .orderBy("i.firstSeenAt", "ASC")
        .addOrderBy("i.id", "ASC"),
    );
  }

  identityById(ctx: Ctx, id: string): Promise<CustomerIdentity | null> {
    return this.app.db.dataSource.manager.findOne(CustomerIdentity, { where: { id, tenantId: tenantOf(ctx) } });
  }

  async list(ctx: Ctx, filter: CustomerFilter | null | undefined, order: CustomerOrder | null | undefined, args: ConnectionArgs) {
    const qb = this.filtered(ctx, filter, await this.searchRegion(ctx, filter));
    const sort = SORT[order?.field ?? CustomerSortField.CREATED_AT];
    return paginate(
      qb,
      {
        args,
        sortColumn: sort.column,
        idColumn: "c.id",
        direction: order?.direction ?? SortDirection.DESC,
        sortValue: sort.value,
        id: (c) => c.id,
      },
    );
  }

  /** The tenant's customers matching `filter`, unsorted: what `list` pages through and exports scan. */
  private filtered(ctx: Ctx, filter: CustomerFilter | null | undefined, phoneRegion: string) {
    const tenantId = tenantOf(ctx);
    const qb = this.app.db.dataSource.manager.createQueryBuilder(Customer, "c").where("c.tenantId = :tenantId", { tenantId });
    const keys = this.app.dataKeys;
    // Phones and e-mail addresses are encrypted: found by exact value (or a phone's last four digits) through
    // their blind indexes, never by substring. Names are not encrypted and match anywhere.
    const byIndex = (column: string, indexes: Buffer[]) => `c.${column} IN (${indexes.map((b) => `'\\x${b.toString("hex")}'::bytea`).join(", ")})`;
    const search = filter?.search?.trim();
    if (search) {
      const term = search.slice(0, LIMITS.search);
      const conditions = ["c.displayName ILIKE :pattern ESCAPE '\\'"];
      const params: Record<string, string> = { pattern: `%${escapeLike(term)}%` };
      const digits = term.replace(/[\s()+-]/g, "");
      if (/^\d{4}$/.test(digits)) conditions.push(byIndex("phone_last4_index", phoneLast4Indexes(keys, tenantId, digits)));
      const e164 = normalizePhone(term, phoneRegion);
      if (e164) conditions.push(byIndex("phone_index", phoneIndexes(keys, tenantId, e164)));
      const email = normalizeEmail(term);
      if (email) conditions.push(byIndex("email_index", emailIndexes(keys, tenantId, email)));
      qb.andWhere(`(${conditions.join(" OR ")})`, params);
    }
    if (filter?.phone != null) {
      const e164 = normalizePhone(filter.phone, phoneRegion);
      qb.andWhere(e164 ? byIndex("phone_index", phoneIndexes(keys, tenantId, e164)) : "false");
    }
    if (filter?.email != null) {
      const email = normalizeEmail(filter.email);
      qb.andWhere(email ? byIndex("email_index", emailIndexes(keys, tenantId, email)) : "false");
    }
    if (filter?.phoneLast4 != null) {
      const digits = filter.phoneLast4.trim();
      qb.andWhere(/^\d{4}$/.test(digits) ? byIndex("phone_last4_index", phoneLast4Indexes(keys, tenantId, digits)) : "false");
    }
    if (filter?.tags?.length) qb.andWhere("c.tags @> :tags::text[]", { tags: filter.tags.map((t) => t.trim()) });
    if (filter?.createdAfter) qb.andWhere("c.createdAt >= :createdAfter", { createdAfter: filter.createdAfter });
    if (filter?.createdBefore) qb.andWhere("c.createdAt < :createdBefore", { createdBefore: filter.createdBefore });
    return qb;
  }

  /**
   * Every customer matching `filter` (the semantics of `list`), oldest first, in keyset pages of `pageSize`.
   * Each page is one statement and no transaction stays open between pages (exports of any size).
   */
  async *scan(ctx: Ctx, filter: CustomerFilter | null | undefined, pageSize = 1000): AsyncGenerator<Customer[]> {
    let after: { at: string; id: string } | null = null;
    const phoneRegion = await this.searchRegion(ctx, filter);
    for (;;) {
      const qb = this.filtered(ctx, filter, phoneRegion).orderBy("c.createdAt", "ASC").addOrderBy("c.id", "ASC").limit(pageSize);
      if (after) qb.andWhere("(c.createdAt, c.id) > (:afterAt, :afterId)", { afterAt: after.at, afterId: after.id });
      const page = await qb.getMany();
      if (page.length) yield page;
      if (page.length < pageSize) return;
      const last = page[page.length - 1];
      after = { at: last.createdAt.toISOString(), id: last.id };
    }
  }

  /** The attribute keys customers matching `filter` use, in code-point order (the same on every database), at most `limit`. */
  async attributeKeys(ctx: Ctx, filter: CustomerFilter | null | undefined, limit: number): Promise<string[]> {
    const rows: { key: string }[] = await this.filtered(ctx, filter, await this.searchRegion(ctx, filter))
      .select(`DISTINCT jsonb_object_keys(c.attributes) COLLATE "C"`, "key")
      .orderBy("key", "ASC")
      .limit(limit)
      .getRawMany();
    return rows.map((r) => r.key);
  }

  /** The customer `value` of `type` resolves to, after normalizing it (null for invalid or unknown). */
  async findByIdentity(ctx: Ctx, type: IdentityTypeName, value: string): Promise<Customer | null> {
    const normalized = normalizeIdentity(type, value, await this.phoneRegion(ctx));
    if (!normalized) return null;
    return this.app.db.dataSource.manager
      .createQueryBuilder(Customer, "c")
      .innerJoin(CustomerIdentity, "i", "i.customerId = c.id AND i.tenantId = c.tenantId")
      .where("c.tenantId = :tenantId AND i.value_index IN (SELECT decode(h, 'hex') FROM unnest(:idx::text[]) AS h)", {
        tenantId: tenantOf(ctx),
        idx: identityIndexes(this.app.dataKeys, tenantOf(ctx), type, normalized).map((b) => b.toString("hex")),
      })
      .getOne();
  }

  // ---- writes -----------------------------------------------------------------------------

  /**
   * `upsertCustomer`: updates the customer `identity` resolves to (adding `tags`), or creates one with it.
   * A concurrent upsert may create that customer between the look-up and the create: then it is updated.
   */
  async upsertByIdentity(
    ctx: Ctx,
    input: CustomerProfileInput & { identity: { type: IdentityTypeName; value: string }; tags?: string[] | null },
  ): Promise<Result<{ customer: Customer; created: boolean }>> {
    const { identity, tags, ...profile } = input;
    for (let attempt = 0; ; attempt++) {
      const existing = await this.findByIdentity(ctx, identity.type, identity.value);
      if (existing) {
        const updated = await this.update(ctx, { ...profile, id: existing.globalId }, tags ?? []);
        return updated.ok ? ok({ customer: updated.value, created: false }) : updated;
      }
      const created = await this.create(ctx, { ...profile, tags, identities: [identity] });
      if (created.ok) return ok({ customer: created.value, created: true });
      if (!created.errors.some((e) => e.code === UserErrorCode.TAKEN) || attempt === 1) {
        // The identity was given as `identity`, not as one of `identities`.
        return fail(...created.errors.map((e) => (e.field?.[0] === "identities" ? userError(["identity", "value"], e.code, e.message) : e)));
      }
    }
  }

  async create(ctx: Ctx, input: CreateCustomerInput): Promise<Result<Customer>> {
    const tenantId = tenantOf(ctx);
    const phoneRegion = await this.phoneRegion(ctx);
    const { patch, errors } = validateProfile(input, phoneRegion);
    const tags = validateTags(input.tags ?? []);
    const extra = validateIdentities(input.identities ?? [], phoneRegion, "identities");
    errors.push(...tags.errors, ...extra.errors);
    if (tags.tags.length > LIMITS.tags) errors.push(userError(["tags"], UserErrorCode.TOO_MANY, `At most ${LIMITS.tags} tags`));
    if (errors.length) return fail(...errors);

    // Primary phone/e-mail and identities stay in step both ways.
    patch.phone ??= extra.identities.find((i) => i.type === "phone")?.value ?? null;
    patch.email ??= extra.identities.find((i) => i.type === "email")?.value ?? null;
    const identities: (NormalizedIdentity & { field: string[] })[] = [];
    if (patch.phone) identities.push({ type: "phone", value: patch.phone, field: ["phone"] });
    if (patch.email) identities.push({ type: "email", value: patch.email, field: ["email"] });
    extra.identities.forEach((i, n) => {
      if (!identities.some((x) => x.type === i.type && x.value === i.value)) identities.push({ ...i, field: ["identities", String(n), "value"] });
    });

    return this.writing(identities[0]?.field ?? ["identities"], () =>
      inTransactionOrRollback(ctx, async (tx) => {
        const taken = await this.owners(tx.manager, tenantId, identities);
        if (taken.size) {
          return fail<Customer>(
            ...identities.filter((i) => taken.has(key(i))).map((i) => userError(i.field, UserErrorCode.TAKEN, `This ${i.type} belongs to another customer`)),
          );
        }
        const now = new Date();
        const customer = tx.manager.create(Customer, {
          tenantId,
          displayName: patch.displayName ?? "",
          gender: patch.gender,
          birthday: patch.birthday ?? null,
          locale: patch.locale ?? null,
          country: patch.country ?? null,
          province: patch.province ?? null,
          city: patch.city ?? null,
          phone: patch.phone ?? null,
          email: patch.email ?? null,
          tags: tags.tags,
          attributes: patch.attributes ?? {},
          consent: (patch.consent ?? []).map((c) => ({ ...c, updatedAt: now.toISOString() })),
          createdAt: now,
          updatedAt: now,
          firstSeenAt: now,
          lastSeenAt: now,
        });
        await tx.manager.save(indexContacts(this.app.dataKeys, customer));
        if (identities.length) {
          await tx.manager.insert(
            CustomerIdentity,
            identities.map((i) => ({
              tenantId,
              customerId: customer.id,
              type: i.type,
              value: i.value,
              valueIndex: identityIndex(this.app.dataKeys, tenantId, i.type, i.value),
              sourceChannel: null,
              firstSeenAt: now,
              lastSeenAt: now,
            })),
          );
        }
        tx.emit({ type: "customer.created", tenantId, customerId: customer.id });
        return ok(customer);
      }),
    );
  }

  /** `addTags` are added in the same transaction (upsertCustomer): all of it is written, or none. */
  async update(ctx: Ctx, input: UpdateCustomerInput, addTags: string[] = []): Promise<Result<Customer>> {
    const tenantId = tenantOf(ctx);
    const id = localId(input.id, "Customer");
    if (!id) return fail(notFound("id"));
    const { patch, errors } = validateProfile(input, await this.phoneRegion(ctx));
    const extraTags = validateTags(addTags);
    errors.push(...extraTags.errors);
    if (errors.length) return fail(...errors);
    const contactField = patch.phone !== undefined ? ["phone"] : ["email"];
    return this.writing(contactField, () =>
      inTransactionOrRollback(ctx, async (tx) => {
        const customer = await this.lock(tx, id);
        if (!customer) return fail<Customer>(notFound("id"));
        const changed: string[] = [];
        for (const kind of ["phone", "email"] as const) {
          const next = patch[kind];
          if (next === undefined || next === customer[kind]) continue;
          if (next) {
            const err = await this.addIdentity(tx, customer, { type: kind, value: next }, null, [kind]);
            if (err) throw new Rollback(fail(err));
          }
          if (customer[kind]) await this.removeIdentity(tx, customer, { type: kind, value: customer[kind]! });
        }
        const { consent, ...columns } = patch;
        for (const [k, v] of Object.entries(columns)) {
          const before = (customer as unknown as Record<string, unknown>)[k];
          if (JSON.stringify(before) !== JSON.stringify(v)) {
            (customer as unknown as Record<string, unknown>)[k] = v;
            changed.push(k === "country" || k === "province" || k === "city" ? "region" : k);
          }
        }
        if (consent) {
          // The older way to state marketing consent: recorded like grantConsent's, without a text version.
          const now = new Date().toISOString();
          const merged = new Map(customer.consent.map((c) => [consentKey(c), c]));
          const said: StoredConsent[] = [];
          for (const c of consent) {
            const statement: StoredConsent = { purpose: ConsentPurpose.MARKETING, channel: c.channel, granted: c.granted, updatedAt: now, source: "updateCustomer", textVersion: null };
            const prev = merged.get(consentKey(statement));
            if (!prev || prev.granted !== c.granted) {
              merged.set(consentKey(statement), statement);
              said.push(statement);
            }
          }
          if (said.length) {
            customer.consent = sortConsents(merged.values());
            changed.push("marketingConsent", "consents");
            await recordConsents(tx, customer.id, said);
            for (const c of said) tx.emit({ type: "customer.consent_changed", tenantId, customerId: customer.id, purpose: c.purpose!, channel: c.channel ?? null, granted: c.granted });
          }
        }
        if (extraTags.tags.length) {
          const tags = [...new Set([...customer.tags, ...extraTags.tags])];
          if (tags.length > LIMITS.tags) throw new Rollback(fail(userError(["tags"], UserErrorCode.TOO_MANY, `A customer has at most ${LIMITS.tags} tags`)));
          if (tags.length !== customer.tags.length) {
            customer.tags = tags;
            changed.push("tags");
          }
        }
        if (changed.length) {
          customer.updatedAt = new Date();
          await tx.manager.save(Customer, indexContacts(this.app.dataKeys, customer));
          tx.emit({ type: "customer.updated", tenantId, customerId: customer.id, changed: [...new Set(changed)] });
        }
        return ok(customer);
      }),
    );
  }

  /**
   * The person grants or withdraws consent for one purpose (and channel): the profile's consent changes at once
   * (a sender reading the customer after the commit sees it), the statement joins the proof of consent, and
   * `customer.consent_changed` and `customer.updated` are announced. Saying again what is in force changes nothing.
   */
  async changeConsent(ctx: Ctx, input: GrantConsentInput | WithdrawConsentInput, granted: boolean): Promise<Result<Customer>> {
    const tenantId = tenantOf(ctx);
    const { statement, errors } = validateConsent(input, granted);
    if (!statement) return fail(...errors);
    const id = localId(input.customerId, "Customer");
    if (!id) return fail(notFound("customerId"));
    return inTransactionOrRollback(ctx, async (tx) => {
      const customer = await this.lock(tx, id);
      if (!customer) return fail<Customer>(notFound("customerId"));
      const now = new Date();
      const said: StoredConsent = { ...statement, updatedAt: now.toISOString() };
      const next = withConsent(customer, said);
      if (!next) return ok(customer);
      customer.consent = next;
      customer.updatedAt = now;
      await tx.manager.update(Customer, { id, tenantId }, { consent: next, updatedAt: now });
      await recordConsents(tx, id, [said]);
      tx.emit({ type: "customer.consent_changed", tenantId, customerId: id, purpose: said.purpose!, channel: said.channel ?? null, granted });
      tx.emit({ type: "customer.updated", tenantId, customerId: id, changed: said.purpose === ConsentPurpose.MARKETING ? ["consents", "marketingConsent"] : ["consents"] });
      return ok(customer);
    });
  }

  /**
   * Whether each customer's consent for `purpose` (on `channel`, for marketing) is in force now: what every
   * sender asks before it sends (a customer never asked has not consented). Local ids of `tenantId`.
   */
  async consentGranted(tenantId: string, customerIds: readonly string[], purpose: ConsentPurpose, channel: string | null = null): Promise<Map<string, boolean>> {
    const rows: { id: string; consent: StoredConsent[] }[] = await this.app.db.dataSource.query(`SELECT id, marketing_consent AS consent FROM customers WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, [tenantId, customerIds]);
    const key = consentKey({ purpose, channel: channel as StoredConsent["channel"] });
    return new Map(customerIds.map((id) => [id, rows.find((r) => r.id === id)?.consent.find((c) => consentKey(c) === key)?.granted === true]));
  }

  /** Deletes a customer: an erasure (reason `deleteCustomer`), so no copy of the person's data stays behind. */
  async delete(ctx: Ctx, globalId: string): Promise<Result<string>> {
    const id = localId(globalId, "Customer");
    if (!id) return fail(notFound("id"));
    return inTransactionOrRollback(ctx, async (tx) => {
      await lockIdentitiesOf(tx, [id]);
      if (!(await this.lock(tx, id))) return fail<string>(notFound("id"));
      await eraseCustomers(tx, this.personalData, [id], "deleteCustomer");
      return ok(globalId);
    });
  }

  /**
   * Erases a person's data for good (PIPL art. 47, GDPR art. 17): see `eraseCustomers`. `reason` is kept
   * with the erasure record — say why (a request, a ticket number), not who.
   */
  async erase(ctx: Ctx, customerId: string, reasonIn: string): Promise<Result<CustomerErasure>> {
    const tenantId = tenantOf(ctx);
    const reason = reasonIn.trim();
    if (!reason) return fail(userError(["reason"], UserErrorCode.REQUIRED, "Say why the customer is erased (a request, a ticket number)"));
    if (reason.length > 500) return fail(userError(["reason"], UserErrorCode.TOO_LONG, "At most 500 characters"));
    const id = localId(customerId, "Customer");
    if (!id) return fail(notFound("customerId"));
    return inTransactionOrRollback(ctx, async (tx) => {
      await lockIdentitiesOf(tx, [id]);
      if (!(await this.lock(tx, id))) {
        const done = await tx.manager.findOne(CustomerErasure, { where: { tenantId, customerLocalId: id } });
        if (done) return fail<CustomerErasure>(userError(["customerId"], UserErrorCode.CONFLICT, `This customer was erased already, at ${done.erasedAt.toISOString()}`));
        return fail<CustomerErasure>(notFound("customerId"));
      }
      const [erasure] = await eraseCustomers(tx, this.personalData, [id], reason);
      return ok(erasure);
    });
  }

  async changeTags(ctx: Ctx, globalId: string, tagsIn: string[], op: "add" | "remove"): Promise<Result<Customer>> {
    const tenantId = tenantOf(ctx);
    const id = localId(globalId, "Customer");
    if (!id) return fail(notFound("id"));
    const { tags, errors } = validateTags(tagsIn);
    if (!tags.length && !errors.length) errors.push(userError(["tags"], UserErrorCode.REQUIRED, "Give at least one tag"));
    if (errors.length) return fail(...errors);
    return inTransactionOrRollback(ctx, async (tx) => {
      const customer = await this.lock(tx, id);
      if (!customer) return fail<Customer>(notFound("id"));
      const next = op === "add" ? [...new Set([...customer.tags, ...tags])] : customer.tags.filter((t) => !tags.includes(t));
      if (next.length > LIMITS.tags) return fail<Customer>(userError(["tags"], UserErrorCode.TOO_MANY, `A customer has at most ${LIMITS.tags} tags`));
      if (next.length !== customer.tags.length) {
        customer.tags = next;
        customer.updatedAt = new Date();
        await tx.manager.update(Customer, { id, tenantId }, { tags: next, updatedAt: customer.updatedAt });
        tx.emit({ type: "customer.updated", tenantId, customerId: id, changed: ["tags"] });
      }
      return ok(customer);
    });
  }

  async attachIdentity(ctx: Ctx, input: AttachCustomerIdentityInput): Promise<Result<{ customer: Customer; identity: CustomerIdentity }>> {
    const tenantId = tenantOf(ctx);
    const id = localId(input.customerId, "Customer");
    if (!id) return fail(notFound("customerId"));
    const value = normalizeIdentity(input.type, input.value, await this.phoneRegion(ctx));
    if (!value) return fail(userError(["value"], UserErrorCode.INVALID, `Not a valid ${input.type}`));
    const source = input.sourceChannel?.trim() || null;
    if (source && source.length > 64) return fail(userError(["sourceChannel"], UserErrorCode.TOO_LONG, "At most 64 characters"));
    return this.writing(["value"], () =>
      inTransactionOrRollback(ctx, async (tx) => {
        const customer = await this.lock(tx, id);
        if (!customer) return fail(notFound("customerId"));
        const err = await this.addIdentity(tx, customer, { type: input.type, value }, source, ["value"]);
        if (err) return fail(err);
        const changed = ["identities"];
        const primary = primaryField(input.type);
        if (primary && !customer[primary]) {
          customer[primary] = value;
          changed.push(primary);
        }
        customer.updatedAt = new Date();
        await tx.manager.update(Customer, { id, tenantId }, { phone: customer.phone, email: customer.email, ...contactIndexes(this.app.dataKeys, tenantId, customer), updatedAt: customer.updatedAt });
        tx.emit({ type: "customer.updated", tenantId, customerId: id, changed });
        const identity = await tx.manager
          .createQueryBuilder(CustomerIdentity, "i")
          .where("i.tenantId = :tenantId AND i.value_index IN (SELECT decode(h, 'hex') FROM unnest(:idx::text[]) AS h)", { tenantId, idx: this.indexHex(tenantId, { type: input.type, value }) })
          .getOneOrFail();
        return ok({ customer, identity });
      }),
    );
  }

  async detachIdentity(ctx: Ctx, input: DetachCustomerIdentityInput): Promise<Result<Customer>> {
    const tenantId = tenantOf(ctx);
    const id = localId(input.customerId, "Customer");
    if (!id) return fail(notFound("customerId"));
    const value = normalizeIdentity(input.type, input.value, await this.phoneRegion(ctx)) ?? input.value;
    return inTransactionOrRollback(ctx, async (tx) => {
      const customer = await this.lock(tx, id);
      if (!customer) return fail<Customer>(notFound("customerId"));
      const removed = await this.removeIdentity(tx, customer, { type: input.type, value });
      if (!removed) return fail<Customer>(userError(["value"], UserErrorCode.NOT_FOUND, "The customer has no such identity"));
      const changed = ["identities"];
      const primary = primaryField(input.type);
      if (primary && customer[primary] === value) {
        // Promote another identity of the same type, if the customer has one.
        const next = await tx.manager.findOne(CustomerIdentity, {
          where: { tenantId, customerId: id, type: input.type },
          order: { lastSeenAt: "DESC" },
        });
        customer[primary] = next?.value ?? null;
        changed.push(primary);
      }
      customer.updatedAt = new Date();
      await tx.manager.update(Customer, { id, tenantId }, { phone: customer.phone, email: customer.email, ...contactIndexes(this.app.dataKeys, tenantId, customer), updatedAt: customer.updatedAt });
      tx.emit({ type: "customer.updated", tenantId, customerId: id, changed });
      return ok(customer);
    });
  }

  // ---- helpers ----------------------------------------------------------------------------

  private lock(tx: TxCtx, id: string): Promise<Customer | null> {
    return tx.manager.findOne(Customer, { where: { id, tenantId: tenantOf(tx) }, lock: { mode: "pessimistic_write" } });
  }

  /** Which of `identities` belong to some customer already: one statement for the whole list. */
  private async owners(manager: EntityManager, tenantId: string, identities: NormalizedIdentity[]): Promise<Map<string, string>> {
    if (!identities.length) return new Map();
    const byIndex = new Map<string, string>();
    for (const i of identities) for (const h of this.indexHex(tenantId, i)) byIndex.set(h, key(i));
    const rows: { idx: string; customer_id: string }[] = await manager.query(
      `SELECT encode(value_index, 'hex') AS idx, customer_id FROM customer_identities
        WHERE tenant_id = $1 AND value_index IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) AS h)`,
      [tenantId, [...byIndex.keys()]],
    );
    return new Map(rows.map((r) => [byIndex.get(r.idx)!, r.customer_id]));
  }

  /** An identity's blind indexes under every key, as hex (the first key's first). */
  private indexHex(tenantId: string, i: NormalizedIdentity): string[] {
    return identityIndexes(this.app.dataKeys, tenantId, i.type, i.value).map((b) => b.toString("hex"));
  }

  /** Attaches an identity, or refreshes it when the customer has it already; a UserError when another customer owns it. */
  private async addIdentity(tx: TxCtx, customer: Customer, idn: NormalizedIdentity, source: string | null, field: string[]): Promise<UserError | null> {
    const owner = (await this.owners(tx.manager, customer.tenantId, [idn])).get(key(idn));
    const now = new Date();
    if (owner && owner !== customer.id) return userError(field, UserErrorCode.TAKEN, `This ${idn.type} belongs to another customer`);
    if (owner) {
      await tx.manager.query(`UPDATE customer_identities SET last_seen_at = $3 WHERE tenant_id = $1 AND value_index IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) AS h)`, [
        customer.tenantId,
        this.indexHex(customer.tenantId, idn),
        now,
      ]);
      return null;
    }
    await tx.manager.insert(CustomerIdentity, {
      tenantId: customer.tenantId,
      customerId: customer.id,
      type: idn.type,
      value: idn.value,
      valueIndex: identityIndex(this.app.dataKeys, customer.tenantId, idn.type, idn.value),
      sourceChannel: source,
      firstSeenAt: now,
      lastSeenAt: now,
    });
    return null;
  }

  private async removeIdentity(tx: TxCtx, customer: Customer, idn: NormalizedIdentity): Promise<boolean> {
    const [, deleted]: [unknown[], number] = await tx.manager.query(
      `DELETE FROM customer_identities WHERE tenant_id = $1 AND customer_id = $2 AND value_index IN (SELECT decode(h, 'hex') FROM unnest($3::text[]) AS h)`,
      [customer.tenantId, customer.id, this.indexHex(customer.tenantId, idn)],
    );
    return deleted > 0;
  }

  /** Two writers racing for the same identity: the loser's unique violation becomes a TAKEN userError. */
  private async writing<T>(field: string[], run: () => Promise<Result<T>>): Promise<Result<T>> {
    try {
      return await run();
    } catch (err) {
      if (isUniqueViolation(err)) return fail(userError(field, UserErrorCode.TAKEN, "This identity belongs to another customer"));
      throw err;
    }
  }
}

function key(i: NormalizedIdentity): string {
  return `${i.type}\u0000${i.value}`;
}

export type { ProfilePatch };
