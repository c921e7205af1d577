import "./events";
import type { App } from "../../app";
import { defineModule } from "../../core/module";
import { systemContext } from "../../core/context";
import { Customer, CustomerIdentity } from "./entity";
import { CUSTOMER_EVENTS } from "./events";
import { createCustomerLoaders, type CustomerLoaders } from "./loaders";
import { CustomerMerge } from "./merge";
import { CustomerIdentityResolver, CustomerResolver } from "./resolver";
import { PII_SCOPE } from "./masking";
import { CustomersService } from "./service";
import { CustomerSubscriptionResolver } from "./subscriptions";
import { IdentityTypesOpen1764440000000 } from "../../../migrations/1764440000000-identity-types-open";
import { Erasure1764460000000 } from "../../../migrations/1764460000000-erasure";
import { CustomerErasure } from "./erasure";
import { ConsentRecord } from "./consent";
import { ConsentRecords1764470000000 } from "../../../migrations/1764470000000-consent-records";
import { BlindIndexes1764480000000 } from "../../../migrations/1764480000000-blind-indexes";
import { BirthYear1764540000000 } from "../../../migrations/1764540000000-birth-year";
import { birthYearOf } from "./blind";

declare module "../../app" {
  interface App {
    customers: CustomersService;
  }
}
declare module "../../graphql/loaders" {
  interface Loaders {
    customers: CustomerLoaders;
  }
}

const REENCRYPT_JOB = "crm.customers.reencrypt";

/**
 * Birth years of customers written before the column existed: their birthdays are encrypted, so the
 * server opens them once, in keyset pages of 1,000 (nothing to do, one statement, on every later start).
 */
async function backfillBirthYears(app: App): Promise<void> {
  let after = "00000000-0000-0000-0000-000000000000";
  let filled = 0;
  for (;;) {
    const rows: { id: string; birthday: string }[] = await app.db.dataSource.query(
      `SELECT id::text, birthday FROM customers WHERE birthday IS NOT NULL AND birth_year IS NULL AND id > $1 ORDER BY id LIMIT 1000`,
      [after],
    );
    if (!rows.length) break;
    after = rows[rows.length - 1].id;
    const open = (v: string) => {
      try {
        return app.dataKeys.decrypt(v);
      } catch {
        return null; // under a key this server lacks: left to the re-encryption's own check and message
      }
    };
    const years = rows.map((r) => ({ id: r.id, year: birthYearOf(open(r.birthday)) })).filter((r) => r.year !== null);
    if (years.length) {
      await app.db.dataSource.query(`UPDATE customers c SET birth_year = u.y FROM unnest($1::uuid[], $2::smallint[]) AS u(id, y) WHERE c.id = u.id`, [years.map((r) => r.id), years.map((r) => r.year)]);
      filled += years.length;
    }
  }
  if (filled) app.log.info({ customers: filled }, "birth years derived from the encrypted birthdays");
}

/** The unified customer profile: customers, identities, merges (and their hooks), `customerUpdated`. */
export const customersModule = defineModule({
  name: "customers",
  entities: [Customer, CustomerIdentity, CustomerMerge, CustomerErasure, ConsentRecord],
  migrations: [IdentityTypesOpen1764440000000, Erasure1764460000000, ConsentRecords1764470000000, BlindIndexes1764480000000, BirthYear1764540000000],
  resolvers: [CustomerResolver, CustomerIdentityResolver, CustomerSubscriptionResolver],
  scopes: ["customers:read", "customers:write", PII_SCOPE],
  events: CUSTOMER_EVENTS,
  loaders: createCustomerLoaders,
  setup(app) {
    app.customers = new CustomersService(app);
  },
  async start(app) {
    await backfillBirthYears(app);
    // Every personal value under the first data key: rows from before encryption (no blind index yet) are done
    // now, before the server listens; values under an older key (a rotation) on the queue.
    const r = app.customers.reencryption;
    if (await r.done()) return;
    if (await r.unindexed()) {
      app.log.warn("personal data stored before encryption at rest: encrypting and indexing it before the server listens");
      app.log.info({ rows: await r.run() }, "personal data encrypted under the current data key");
    } else if (await r.anyStale()) {
      await app.jobs.send(REENCRYPT_JOB, {}, { singletonKey: app.dataKeys.currentKeyId });
      app.log.info({ keyId: app.dataKeys.currentKeyId }, "data key rotated: re-encryption queued (see jobRuns)");
    } else await r.markDone();
  },
  jobs: (app) => [
    {
      name: REENCRYPT_JOB,
      policy: "stately",
      run: async (_data, job) => app.customers.reencryption.run((p) => app.jobs.progress(REENCRYPT_JOB, job.id, { ...p })),
    },
    {
      name: "crm.customers.retention",
      cron: { expression: "47 3 * * *" },
      policy: "stately",
      run: async () => {
        const n = await app.customers.eraseInactive((tenantId) => systemContext(app, tenantId, "retention", "job-retention"));
        if (n) app.log.info({ erased: n }, "customers inactive past their tenant's inactiveCustomerRetentionDays erased");
      },
    },
  ],
});

export { Customer, CustomerIdentity, IdentityType, Gender, ConsentChannel, MarketingConsent, Region } from "./entity";
export { CustomersService, type ProfilePatch } from "./service";
export { PII_SCOPE, seesPii, maskPhone, maskEmail, maskIdentifier, maskIdentityValue } from "./masking";
export { CustomerMerge, DEFAULT_IDENTITY_LIMITS, type MergeHook, type MergeReason, type MergeService } from "./merge";
export { CustomerConnection, CreateCustomerInput, UpdateCustomerInput, CustomerProfileInput, CustomerFilter, RegionInput, MarketingConsentInput, IdentityInput } from "./inputs";
export { IDENTITY_TYPES, MAX_IDENTITY_VALUE, normalizeEmail, normalizeIdentity, normalizePhone, type IdentityTypeName } from "./normalize";
export { applyProfile, foldProfile, wins, type ProfileValues } from "./profile";
export { LIMITS, validateIdentities, validateProfile, validateTags, type NormalizedIdentity } from "./validate";
export type { CustomerLoaders } from "./loaders";
export { BatchState, blankCustomer } from "./batch";
export { PersonalDataHookFailed, type PersonalDataHook } from "./personal-data";
export { CustomerErasure, identityLockKey } from "./erasure";
export { Consent, ConsentPurpose, type StoredConsent } from "./consent";
export { customersSql, hasIdentitySql, existingCustomerIds } from "./read-model";
