import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import { LIMITS, normalizeEmail, normalizeIdentity, normalizePhone, type Customer } from "../customers";
import { pluginIdentityTypes, type IdentityTypeName } from "../../plugins/identity";

/**
 * Columns of customer files: which header means which field (import), and the columns an export writes —
 * the same names, so an exported file imports back as it is. Pure functions, no I/O.
 */
const PROFILE_FIELDS = ["displayName", "phone", "email", "gender", "birthday", "country", "province", "city", "tags"] as const;
/** Core identity types a column can carry (phone and e-mail come through their profile fields); plugins add theirs. */
const CORE_IDENTITY_FIELDS = ["wechat_unionid", "wechat_openid", "zoho_contact", "external"] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];
export type IdentityField = IdentityTypeName;
export type ImportField = ProfileField | IdentityField;

/** Header names recognised without a mapping (compared by `headerKey`: case, spaces, `_` and `-` ignored). The first is what exports write. */
const CORE_HEADERS: Record<string, readonly string[]> = {
  displayName: ["姓名", "客户姓名", "昵称", "name", "displayName", "会员姓名", "客户名称", "买家昵称"],
  phone: ["手机号", "手机", "手机号码", "phone", "mobile", "联系电话"],
  email: ["邮箱", "email", "电子邮箱"],
  gender: ["性别", "gender"],
  birthday: ["生日", "birthday", "出生日期"],
  country: ["国家", "country"],
  province: ["省份", "省", "province"],
  city: ["城市", "市", "city"],
  tags: ["标签", "tags", "客户标签"],
  wechat_unionid: ["unionid", "wechat_unionid"],
  wechat_openid: ["openid", "wechat_openid"],
  zoho_contact: ["zoho_contact"],
  external: ["external"],
};

/**
 * The columns a file may have, with their headers: the profile fields, then the identity types —
 * the channels' own (declared by their plugins, with their headers, e.g. 会员卡号) before the core ones.
 * Read on each use: plugins may be defined after this module loads.
 */
type Columns = { identityFields: string[]; importFields: string[]; headers: Map<string, readonly string[]>; fieldOfHeader: Map<string, string> };
let cached: { registered: number; columns: Columns } | null = null;
function columns(): Columns {
  const plugins = pluginIdentityTypes();
  if (cached?.registered === plugins.length) return cached.columns;
  const identityFields = [...plugins.map((t) => t.name), ...CORE_IDENTITY_FIELDS];
  const headers = new Map<string, readonly string[]>(Object.entries(CORE_HEADERS));
  for (const t of plugins) headers.set(t.name, [...(t.importHeaders.length ? t.importHeaders : []), t.name]);
  const importFields = [...PROFILE_FIELDS, ...identityFields];
  const fieldOfHeader = new Map<string, string>();
  for (const field of importFields) for (const h of headers.get(field) ?? [field]) if (!fieldOfHeader.has(headerKey(h))) fieldOfHeader.set(headerKey(h), field);
  cached = { registered: plugins.length, columns: { identityFields, importFields, headers, fieldOfHeader } };
  return cached.columns;
}

/** Headers of attribute columns that would otherwise be read as a field carry this prefix (exports write it, imports strip it). */
const ATTRIBUTE_PREFIX = "attributes.";
const MAX_COLUMNS = 500;
const MAX_HEADER = 200;

function headerKey(header: string): string {
  return header.normalize("NFKC").trim().toLowerCase().replace(/[\s_-]+/g, "");
}


/** Our field → the file's header name for it; fields not named keep their default headers. */
export type FieldMapping = Partial<Record<ImportField, string>>;

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Parses `?mapping=` (a JSON object of field → header name). */
export function parseMapping(raw: string | undefined): Parsed<FieldMapping> {
  if (raw === undefined || raw.trim() === "") return { ok: true, value: {} };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'mapping: not valid JSON (expected an object such as {"phone":"联系电话"})' };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return { ok: false, reason: "mapping: expected a JSON object of field → header name" };
  const mapping: FieldMapping = {};
  const seen = new Map<string, string>();
  for (const [field, header] of Object.entries(json)) {
    const { importFields } = columns();
    if (!importFields.includes(field)) return { ok: false, reason: `mapping: unknown field "${field.slice(0, 50)}" (fields: ${importFields.join(", ")})` };
    if (typeof header !== "string" || !header.trim() || header.length > MAX_HEADER) {
      return { ok: false, reason: `mapping.${field}: expected the header name of a column (a non-empty string)` };
    }
    const other = seen.get(headerKey(header));
    if (other) return { ok: false, reason: `mapping: "${header}" is given for both ${other} and ${field}` };
    seen.set(headerKey(header), field);
    mapping[field as ImportField] = header;
  }
  return { ok: true, value: mapping };
}

export interface ColumnPlan {
  fields: { index: number; field: ImportField; header: string }[];
  attributes: { index: number; key: string }[];
}

/** Decides what each column of `header` holds. Refuses files where no column identifies a customer. */
export function planColumns(header: string[], mapping: FieldMapping): Parsed<ColumnPlan> {
  if (header.length > MAX_COLUMNS) return { ok: false, reason: `the file has ${header.length} columns; at most ${MAX_COLUMNS}` };
  const names = header.map((h) => h.trim()); // trim drops a byte-order mark too (U+FEFF is white space to it)
  const keys = names.map(headerKey);
  const seen = new Set<string>();
  for (const name of names) {
    if (name && seen.has(name)) return { ok: false, reason: `the header has two columns named "${name}"` };
    seen.add(name);
  }
  const plan: ColumnPlan = { fields: [], attributes: [] };
  const taken = new Set<number>();
  for (const [field, name] of Object.entries(mapping) as [ImportField, string][]) {
    const exact = names.indexOf(name.trim());
    const loose = keys.flatMap((k, i) => (k === headerKey(name) ? [i] : []));
    const index = exact >= 0 ? exact : loose.length === 1 ? loose[0] : -1;
    if (index < 0) return { ok: false, reason: `mapping.${field}: the file has no column "${name}"` };
    if (taken.has(index)) return { ok: false, reason: `mapping: column "${names[index]}" is given for two fields` };
    plan.fields.push({ index, field, header: names[index] });
    taken.add(index);
  }
  const { importFields, identityFields, fieldOfHeader } = columns();
  for (const field of importFields) {
    if (mapping[field]) continue;
    const matches = keys.flatMap((k, i) => (!taken.has(i) && fieldOfHeader.get(k) === field ? [i] : []));
    if (matches.length > 1) {
      return { ok: false, reason: `columns ${matches.map((i) => `"${names[i]}"`).join(" and ")} both mean ${field}; choose one with ?mapping={"${field}":"…"}` };
    }
    if (matches.length === 1) {
      plan.fields.push({ index: matches[0], field, header: names[matches[0]] });
      taken.add(matches[0]);
    }
  }
  for (const [i, name] of names.entries()) {
    if (taken.has(i) || !name) continue;
    plan.attributes.push({ index: i, key: name.startsWith(ATTRIBUTE_PREFIX) && name.length > ATTRIBUTE_PREFIX.length ? name.slice(ATTRIBUTE_PREFIX.length) : name });
  }
  plan.fields.sort((a, b) => a.index - b.index);
  if (!plan.fields.some((f) => f.field === "phone" || f.field === "email" || identityFields.includes(f.field))) {
    const garbled = names.some((n) => n.includes("\uFFFD")) ? " The header is not valid UTF-8: for a GBK file add ?encoding=gbk." : "";
    return {
      ok: false,
      reason: `no column identifies a customer: expected a phone (手机号), e-mail (邮箱), 会员卡号, 有赞买家ID, 淘宝买家ID, unionid or openid column, or a ?mapping=.${garbled}`,
    };
  }
  return { ok: true, value: plan };
}

// ---- rows → events -----------------------------------------------------------------------

/** Values that mean "nothing here" in merchants' exports. */
const PLACEHOLDERS = new Set(["-", "--", "—"]);
const FORMULA_START = /^[=+\-@\t\r]/;

/** A cell as the merchant meant it: trimmed, placeholders emptied, our CSV formula guard (a leading ') removed. */
export function cleanCell(raw: string | undefined): string {
  let v = (raw ?? "").trim();
  if (v.startsWith("'") && FORMULA_START.test(v.slice(1))) v = v.slice(1);
  return PLACEHOLDERS.has(v) ? "" : v;
}

const GENDERS: Record<string, "MALE" | "FEMALE" | "UNKNOWN"> = {
  男: "MALE",
  男性: "MALE",
  m: "MALE",
  male: "MALE",
  女: "FEMALE",
  女性: "FEMALE",
  f: "FEMALE",
  female: "FEMALE",
  未知: "UNKNOWN",
  保密: "UNKNOWN",
  u: "UNKNOWN",
  unknown: "UNKNOWN",
};

function parseGender(v: string): "MALE" | "FEMALE" | "UNKNOWN" | null {
  return GENDERS[v.toLowerCase()] ?? null;
}

/** YYYY-MM-DD from the date spellings spreadsheets use; undefined for a "zero date", null when invalid. */
export function parseBirthday(v: string, today = new Date()): string | null | undefined {
  if (/^0{4}\D0{1,2}\D0{1,2}/.test(v)) return undefined;
  const m = /^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[T ].*)?$/.exec(v) ?? /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  const iso = date.toISOString().slice(0, 10);
  return iso < "1900-01-01" || iso > today.toISOString().slice(0, 10) ? null : iso;
}

function parseCountry(v: string): string | null {
  if (/^[A-Za-z]{2}$/.test(v)) return v.toUpperCase();
  return ["中国", "中国大陆", "china"].includes(v.toLowerCase()) ? "CN" : null;
}

const TAG_SEPARATORS = /[,，;；|、]/;

export interface RowContext {
  externalId: string;
  occurredAt: string;
  phoneRegion: string;
}

export type RowResult = { kind: "blank" } | { kind: "event"; event: Record<string, unknown> } | { kind: "error"; message: string };

/** One data row as a `customer.upserted` event, or why it cannot be one. Messages name the file's column. */
export function rowToEvent(plan: ColumnPlan, cells: string[], rc: RowContext): RowResult {
  if (cells.every((c) => cleanCell(c) === "")) return { kind: "blank" };
  const payload: Record<string, unknown> = {};
  const identities: { type: string; value: string }[] = [];
  const region: Record<string, string> = {};
  const fail = (header: string, message: string): RowResult => ({ kind: "error", message: `${header}: ${message}` });
  for (const { index, field, header } of plan.fields) {
    const v = cleanCell(cells[index]);
    if (!v) continue;
    switch (field) {
      case "displayName":
        if (v.length > LIMITS.displayName) return fail(header, `at most ${LIMITS.displayName} characters`);
        payload.displayName = v;
        break;
      case "phone":
        if (!normalizePhone(v, rc.phoneRegion)) return fail(header, "not a valid phone number");
        payload.phone = v;
        break;
      case "email":
        if (!normalizeEmail(v)) return fail(header, "not a valid e-mail address");
        payload.email = v;
        break;
      case "gender": {
        const g = parseGender(v);
        if (!g) return fail(header, "expected 男, 女 or 未知 (or M, F)");
        payload.gender = g;
        break;
      }
      case "birthday": {
        const b = parseBirthday(v);
        if (b === null) return fail(header, "not a date between 1900-01-01 and today (use YYYY-MM-DD)");
        if (b) payload.birthday = b;
        break;
      }
      case "country": {
        const c = parseCountry(v);
        if (!c) return fail(header, "expected a two-letter country code such as CN");
        region.country = c;
        break;
      }
      case "province":
      case "city":
        if (v.length > LIMITS.regionPart) return fail(header, `at most ${LIMITS.regionPart} characters`);
        region[field] = v;
        break;
      case "tags": {
        const tags = [...new Set(v.split(TAG_SEPARATORS).map((t) => t.trim()).filter(Boolean))];
        if (tags.some((t) => t.length > LIMITS.tag)) return fail(header, `each tag at most ${LIMITS.tag} characters`);
        if (tags.length > LIMITS.tags) return fail(header, `at most ${LIMITS.tags} tags`);
        if (tags.length) payload.tags = tags;
        break;
      }
      default: {
        const value = normalizeIdentity(field, v, rc.phoneRegion);
        if (!value) return fail(header, `not a valid ${field}`);
        identities.push({ type: field, value });
      }
    }
  }
  if (Object.keys(region).length) payload.region = region;
  const attributes: Record<string, string> = {};
  for (const { index, key } of plan.attributes) {
    const v = cleanCell(cells[index]);
    if (v) attributes[key] = v;
  }
  if (Object.keys(attributes).length) {
    if (Buffer.byteLength(JSON.stringify(attributes)) > LIMITS.attributesBytes) {
      return { kind: "error", message: `the other columns (attributes) hold more than ${LIMITS.attributesBytes / 1024} KB` };
    }
    payload.attributes = attributes;
  }
  if (!payload.phone && !payload.email && !identities.length) {
    return { kind: "error", message: "no identity: the row has no phone, e-mail, member or buyer id" };
  }
  return { kind: "event", event: { type: "customer.upserted", externalId: rc.externalId, occurredAt: rc.occurredAt, identities, payload } };
}

// ---- exports -----------------------------------------------------------------------------

const GENDER_OUT: Record<string, string> = { MALE: "男", FEMALE: "女", UNKNOWN: "未知" };

/** The header row of an export: every field under its first default name, then one column per attribute key. */
export function exportHeader(attributeKeys: string[]): string[] {
  const { importFields, headers } = columns();
  return [...importFields.map((f) => (headers.get(f) ?? [f])[0]), ...attributeKeys.map(attributeHeader)];
}

/** An attribute's column name; prefixed when the bare key would be read back as a field or collide with another column. */
export function attributeHeader(key: string): string {
  return columns().fieldOfHeader.has(headerKey(key)) || key.startsWith(ATTRIBUTE_PREFIX) || !headerKey(key) ? `${ATTRIBUTE_PREFIX}${key}` : key;
}

/** Phones of the default region as the merchant dials them (13800138000), others in E.164. */
function phoneOut(e164: string | null, region: string): string {
  if (!e164) return "";
  const p = parsePhoneNumberFromString(e164);
  return p && p.country === region ? p.formatNational().replace(/[\s()-]/g, "") : e164;
}

/** One customer's export row, in `exportHeader` order. Of several identities of a type, the most recently seen. */
export function exportCells(c: Customer, identities: { type: string; value: string; lastSeenAt: Date }[], attributeKeys: string[], phoneRegion: string): string[] {
  const latest = new Map<string, { value: string; at: number }>();
  for (const i of identities) {
    const prev = latest.get(i.type);
    if (!prev || i.lastSeenAt.getTime() >= prev.at) latest.set(i.type, { value: i.value, at: i.lastSeenAt.getTime() });
  }
  const profile: Record<ProfileField, string> = {
    displayName: c.displayName ?? "",
    phone: phoneOut(c.phone, phoneRegion),
    email: c.email ?? "",
    gender: GENDER_OUT[c.gender] ?? "",
    birthday: c.birthday ?? "",
    country: c.country ?? "",
    province: c.province ?? "",
    city: c.city ?? "",
    tags: (c.tags ?? []).join(","),
  };
  const attrs = c.attributes ?? {};
  return [
    ...PROFILE_FIELDS.map((f) => profile[f]),
    ...columns().identityFields.map((f) => latest.get(f)?.value ?? ""),
    ...attributeKeys.map((k) => (attrs[k] === undefined || attrs[k] === null ? "" : typeof attrs[k] === "string" ? (attrs[k] as string) : JSON.stringify(attrs[k]))),
  ];
}

/** CSV cells that Excel would run as a formula get a leading ' (OWASP's advice); `cleanCell` takes it off on import. */
export function guardFormula(cell: string): string {
  return FORMULA_START.test(cell) ? `'${cell}` : cell;
}
