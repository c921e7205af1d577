import { isSupportedCountry } from "libphonenumber-js/max";
import type { App } from "../../app";
import { tenantOf, type Ctx } from "../../core/context";
import { inTransaction } from "../../core/transaction";
import { fail, ok, userError, UserErrorCode, type Result, type UserError } from "../../core/user-error";

/**
 * The tenant's general settings, stored as top-level keys of `tenants.settings` (the `identity` section
 * belongs to identity resolution). Everything date-based uses `timeZone`; stats count orders in `currency`.
 */
export interface TenantSettings {
  /** ISO 4217. */
  currency: string;
  /** IANA time zone. */
  timeZone: string;
  /** BCP 47 language tag, canonical form. */
  locale: string;
  /** ISO 3166-1 alpha-2 region for phone numbers written without a country code. */
  defaultPhoneRegion: string;
  /** Days an ingested event keeps its payload; then only what dedupe needs (channel, key, type, times) stays. */
  eventPayloadRetentionDays: number;
  /** Days without a sighting after which a customer is erased (reason `retention`); null: kept. */
  inactiveCustomerRetentionDays: number | null;
}

export const DEFAULT_TENANT_SETTINGS = { currency: "CNY", timeZone: "Asia/Shanghai", locale: "zh-CN", eventPayloadRetentionDays: 90 } as const;

/** Allowed ranges of the retention settings: an erasure by mistake cannot be undone, so customers get a month at least. */
export const RETENTION_DAYS = { eventPayloadRetentionDays: { min: 1, max: 3650 }, inactiveCustomerRetentionDays: { min: 30, max: 36500 } } as const;

const inRange = (v: unknown, r: { min: number; max: number }): v is number => Number.isInteger(v) && (v as number) >= r.min && (v as number) <= r.max;

const CURRENCIES = new Set(Intl.supportedValuesOf("currency"));

/** The canonical IANA name of a zone Node knows (`asia/shanghai` → `Asia/Shanghai`), or null. */
function canonicalTimeZone(v: string): string | null {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: v }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

function canonicalLocale(v: string): string | null {
  try {
    return Intl.getCanonicalLocales(v)[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * The tenant's currency as an SQL expression, for set-based statements of other modules that must not
 * spend a statement reading it (`tenantParam`: the placeholder holding the tenant id, e.g. `"$1"`).
 * The settings' layout stays this module's business.
 */
export function tenantCurrencySql(tenantParam: string): string {
  if (!/^\$\d+$/.test(tenantParam)) throw new Error(`tenantCurrencySql takes a placeholder such as "$1", not ${tenantParam}`);
  return `(SELECT coalesce(settings->>'currency', '${DEFAULT_TENANT_SETTINGS.currency}') FROM tenants WHERE id = ${tenantParam})`;
}

/** The tenant's IANA time zone as an SQL expression (validated when written), like `tenantCurrencySql`. */
export function tenantTimeZoneSql(tenantParam: string): string {
  if (!/^\$\d+$/.test(tenantParam)) throw new Error(`tenantTimeZoneSql takes a placeholder such as "$1", not ${tenantParam}`);
  return `(SELECT coalesce(settings->>'timeZone', '${DEFAULT_TENANT_SETTINGS.timeZone}') FROM tenants WHERE id = ${tenantParam})`;
}

function sectionOf(raw: Record<string, unknown>, name: string): Record<string, unknown> {
  const v = raw[name];
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The stored settings with defaults filled in; a stored value that no longer validates falls back to the default. */
export function readTenantSettings(raw: Record<string, unknown> | null | undefined, defaultPhoneRegion: string): TenantSettings {
  const s = raw ?? {};
  const str = (k: string) => (typeof s[k] === "string" ? (s[k] as string) : undefined);
  const currency = str("currency");
  const region = str("defaultPhoneRegion");
  return {
    currency: currency && CURRENCIES.has(currency) ? currency : DEFAULT_TENANT_SETTINGS.currency,
    timeZone: canonicalTimeZone(str("timeZone") ?? "") ?? DEFAULT_TENANT_SETTINGS.timeZone,
    locale: canonicalLocale(str("locale") ?? "") ?? DEFAULT_TENANT_SETTINGS.locale,
    defaultPhoneRegion: region && isSupportedCountry(region) ? region : defaultPhoneRegion,
    eventPayloadRetentionDays: inRange(s.eventPayloadRetentionDays, RETENTION_DAYS.eventPayloadRetentionDays) ? s.eventPayloadRetentionDays : DEFAULT_TENANT_SETTINGS.eventPayloadRetentionDays,
    inactiveCustomerRetentionDays: inRange(s.inactiveCustomerRetentionDays, RETENTION_DAYS.inactiveCustomerRetentionDays) ? s.inactiveCustomerRetentionDays : null,
  };
}

type TextSetting = "currency" | "timeZone" | "locale" | "defaultPhoneRegion";
type DaysSetting = keyof typeof RETENTION_DAYS;
export type TenantSettingsPatch = Partial<Record<TextSetting, string | null> & Record<DaysSetting, number | null>>;

/** Checks and canonicalizes the given fields; null resets a field to its default. */
export function validateTenantSettings(input: TenantSettingsPatch): { patch: Record<string, string | number | null>; errors: UserError[] } {
  const patch: Record<string, string | number | null> = {};
  const errors: UserError[] = [];
  if (input.currency !== undefined) {
    const v = input.currency?.trim().toUpperCase() ?? null;
    if (v !== null && !CURRENCIES.has(v)) errors.push(userError(["currency"], UserErrorCode.INVALID, "Use an ISO 4217 currency code such as CNY"));
    else patch.currency = v;
  }
  if (input.timeZone !== undefined) {
    const v = input.timeZone === null ? null : canonicalTimeZone(input.timeZone.trim());
    // A zone name, not an offset: offsets ("+08:00") ignore daylight saving and holidays' local dates.
    if (input.timeZone !== null && (v === null || /^[+-]|^(GMT|UTC)[+-]/i.test(input.timeZone.trim()))) {
      errors.push(userError(["timeZone"], UserErrorCode.INVALID, "Use an IANA time zone such as Asia/Shanghai"));
    } else patch.timeZone = v;
  }
  if (input.locale !== undefined) {
    const v = input.locale === null ? null : canonicalLocale(input.locale.trim());
    if (input.locale !== null && (v === null || v.length > 35)) errors.push(userError(["locale"], UserErrorCode.INVALID, "Use a BCP 47 language tag such as zh-CN"));
    else patch.locale = v;
  }
  if (input.defaultPhoneRegion !== undefined) {
    const v = input.defaultPhoneRegion?.trim().toUpperCase() ?? null;
    if (v !== null && !isSupportedCountry(v)) errors.push(userError(["defaultPhoneRegion"], UserErrorCode.INVALID, "Use an ISO 3166-1 alpha-2 region such as CN"));
    else patch.defaultPhoneRegion = v;
  }
  for (const key of Object.keys(RETENTION_DAYS) as DaysSetting[]) {
    const v = input[key];
    if (v === undefined) continue;
    const range = RETENTION_DAYS[key];
    if (v !== null && !inRange(v, range)) errors.push(userError([key], UserErrorCode.INVALID, `Give whole days from ${range.min} to ${range.max}, or null`));
    else patch[key] = v;
  }
  return { patch, errors };
}

/** Names of the sections other modules keep in `tenants.settings` (top-level keys beside the general settings). */
export type SettingsSection = "identity" | "analytics";

/** Something that runs SQL: the data source, or a transaction's manager (read in its snapshot). */
interface Sql {
  query(text: string, values?: unknown[]): Promise<any>;
}

/** What TenantSettingsService uses of the app, and nothing more. */
export type TenantSettingsDeps = Pick<App, "config" | "db">;

/**
 * Owns `tenants.settings`: the general settings (currency, time zone, locale, phone region) and the
 * sections other modules keep there (identity resolution's `identity`), each read and written only
 * through this service — one statement per read, and a section merged in place by one statement (no
 * read-modify-write race between sections).
 */
export class TenantSettingsService {
  constructor(private readonly app: TenantSettingsDeps) {}

  async get(tenantId: string, sql: Sql = this.app.db.dataSource): Promise<TenantSettings> {
    return (await this.read(tenantId, sql)).settings;
  }

  /** The general settings and every section, from one read. */
  async read(tenantId: string, sql: Sql = this.app.db.dataSource): Promise<{ settings: TenantSettings; section(name: SettingsSection): Record<string, unknown> }> {
    const rows: { settings: Record<string, unknown> }[] = await sql.query(`SELECT settings FROM tenants WHERE id = $1`, [tenantId]);
    const raw = rows[0]?.settings ?? {};
    return { settings: readTenantSettings(raw, this.app.config.defaultPhoneRegion), section: (name) => sectionOf(raw, name) };
  }

  /** Every tenant's settings, for jobs that work through all tenants (one read). */
  async all(sql: Sql = this.app.db.dataSource): Promise<{ tenantId: string; settings: TenantSettings }[]> {
    const rows: { id: string; settings: Record<string, unknown> }[] = await sql.query(`SELECT id, settings FROM tenants ORDER BY id`);
    return rows.map((r) => ({ tenantId: r.id, settings: readTenantSettings(r.settings, this.app.config.defaultPhoneRegion) }));
  }

  /** Merges `patch` into one section in one statement; returns the section as stored now. */
  async mergeSection(tenantId: string, name: SettingsSection, patch: Record<string, unknown>, sql: Sql = this.app.db.dataSource): Promise<Record<string, unknown>> {
    // TypeORM answers UPDATE … RETURNING with [rows, affectedCount].
    const [rows]: [{ settings: Record<string, unknown> }[], number] = await sql.query(
      `UPDATE tenants SET settings = jsonb_set(settings, ARRAY[$2::text], coalesce(settings->$2, '{}') || $3::jsonb) WHERE id = $1 RETURNING settings`,
      [tenantId, name, JSON.stringify(patch)],
    );
    return sectionOf(rows[0]?.settings ?? {}, name);
  }

  /**
   * Writes the given fields in one statement (no read-modify-write race with the identity section) and
   * announces which fields changed (`tenant.settings_changed`, in the same transaction): modules that
   * derive figures from a setting re-derive them on the queue — the orders module re-computes every
   * customer's stats in the new currency, each `Customer.stats.currency` saying which one its figures are in.
   */
  async update(ctx: Ctx, input: TenantSettingsPatch): Promise<Result<TenantSettings>> {
    const { patch, errors } = validateTenantSettings(input);
    if (errors.length) return fail(...errors);
    const tenantId = tenantOf(ctx);
    const set = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null));
    const reset = Object.keys(patch).filter((k) => patch[k] === null);
    return ok(
      await inTransaction(ctx, async (tx) => {
        const [beforeRow]: { settings: Record<string, unknown> }[] = await tx.manager.query(`SELECT settings FROM tenants WHERE id = $1 FOR UPDATE`, [tenantId]);
        const before = readTenantSettings(beforeRow?.settings, this.app.config.defaultPhoneRegion);
        const [rows]: [{ settings: Record<string, unknown> }[], number] = await tx.manager.query(
          `UPDATE tenants SET settings = (settings - $3::text[]) || $2::jsonb WHERE id = $1 RETURNING settings`,
          [tenantId, JSON.stringify(set), reset],
        );
        const settings = readTenantSettings(rows[0]?.settings, this.app.config.defaultPhoneRegion);
        const changed = (Object.keys(settings) as (keyof TenantSettings)[]).filter((k) => settings[k] !== before[k]);
        if (changed.length) tx.emit({ type: "tenant.settings_changed", tenantId, changed });
        return settings;
      }),
    );
  }
}
