import { customerGlobalId, customerLocalId, type IdentityTypeName, type NormalizedEventInput, type PluginRequest } from "../../src/plugins";
import { accessToken, code2Session, dropAccessToken, STALE_TOKEN_ERRCODES, userPhoneNumber, WechatApiError, WechatUnavailableError } from "./api";
import type { WechatMiniProgramConfig } from "./config";

/**
 * What the login and bind-phone mutations do, given the caller's PluginRequest. Expected failures
 * come back as user errors; nothing here stores `session_key`.
 */

export const CHANNEL = "wechat-miniprogram";

/** How long a login lets bindPhone attach a phone to that customer (state key `customer:<id>`). */
export const LOGIN_TTL_SECONDS = 30 * 24 * 3600;

/** Where a login's record (openid, unionid) of a customer (local id) is kept in the connection's state. */
export const loginKey = (customerId: string) => `customer:${customerId}`;

export type WechatErrorCode = "INVALID" | "NOT_FOUND" | "CONFLICT" | "RATE_LIMITED" | "REFUSED" | "UNAVAILABLE";
export interface WechatError {
  field: string[] | null;
  code: WechatErrorCode;
  message: string;
}
export interface LoginResult {
  customerId: string | null;
  openid: string | null;
  unionid: string | null;
  userErrors: WechatError[];
}
export interface BindPhoneResult {
  customerId: string | null;
  userErrors: WechatError[];
}

/** What a login leaves in plugin state for bindPhone: who this customer is on WeChat. */
interface LoginRecord {
  openid: string;
  unionid?: string;
}

type Request = PluginRequest<WechatMiniProgramConfig>;

const CODE = /^[A-Za-z0-9_-]{1,128}$/;

const err = (field: string[] | null, code: WechatErrorCode, message: string): WechatError => ({ field, code, message });

/** Global ids as the API spells them (from the plugin contract). */
export { customerGlobalId };
export const customerUuid = customerLocalId;

/**
 * wx.login() code → openid/unionid (jscode2session) → a `customer.upserted` event through the
 * pipeline (which finds, creates or merges the customer) → the customer's id.
 */
export async function login(req: Request, input: { connectionId: string; code: string }, now = Date.now()): Promise<LoginResult> {
  const failed = (...userErrors: WechatError[]): LoginResult => ({ customerId: null, openid: null, unionid: null, userErrors });
  const connection = await req.connection(input.connectionId);
  if (!connection) return failed(err(["connectionId"], "NOT_FOUND", "No such wechat-miniprogram connection"));
  const code = input.code.trim();
  if (!CODE.test(code)) return failed(err(["code"], "INVALID", "code must be the code wx.login() returned"));

  let session: { openid: string; unionid?: string };
  try {
    session = await code2Session(connection.config, code);
  } catch (e) {
    return failed(apiError(e));
  }
  const { openid, unionid } = session;
  const identities = wechatIdentities(session);
  const event: NormalizedEventInput = {
    type: "customer.upserted",
    // One fact per login minute: a burst of logins is one event, a later login a new one.
    externalId: `login:${openid}:${Math.floor(now / 60_000)}`,
    occurredAt: new Date(now).toISOString(),
    identities,
    payload: {},
  };
  const [result] = await req.context.ingest(connection.id, [event]);
  if (result?.status === "rejected") return failed(err(null, "CONFLICT", `The customer could not be recorded: ${result.reason ?? "rejected"}`));
  const customer = await ownerOf(req, identities);
  if (!customer) return failed(err(null, "CONFLICT", "The customer could not be recorded (are WeChat identities blocked in the identity settings?)"));
  await req.context.state(connection.id).set(loginKey(customer), { openid, ...(unionid ? { unionid } : {}) } satisfies LoginRecord, LOGIN_TTL_SECONDS);
  return { customerId: customerGlobalId(customer), openid, unionid: unionid ?? null, userErrors: [] };
}

/**
 * getPhoneNumber code → the phone WeChat verified (getuserphonenumber, with the connection's access
 * token) → a `customer.upserted` event carrying the customer's openid and the phone, so the
 * pipeline attaches the phone (or merges the customer with the one who already has it).
 *
 * Which customer: one that logged in through this connection (wechatMiniProgramLogin left their
 * openid in plugin state) and is still the owner of that openid — WeChat's phone answer names no
 * user, so this is what ties the phone to a WeChat account rather than to any customer id.
 */
export async function bindPhone(req: Request, input: { connectionId: string; customerId: string; code: string }): Promise<BindPhoneResult> {
  const failed = (...userErrors: WechatError[]): BindPhoneResult => ({ customerId: null, userErrors });
  const connection = await req.connection(input.connectionId);
  if (!connection) return failed(err(["connectionId"], "NOT_FOUND", "No such wechat-miniprogram connection"));
  const uuid = customerUuid(input.customerId);
  if (!uuid) return failed(err(["customerId"], "NOT_FOUND", "No such customer"));
  const code = input.code.trim();
  if (!CODE.test(code)) return failed(err(["code"], "INVALID", "code must be the code getPhoneNumber returned"));

  const store = req.context.state(connection.id);
  const record = await store.get<LoginRecord>(loginKey(uuid));
  if (!record) return failed(err(["customerId"], "NOT_FOUND", "This customer has not logged in through this mini program; call wechatMiniProgramLogin first"));
  const identities = wechatIdentities(record);
  if ((await ownerOf(req, identities)) !== uuid) {
    return failed(err(["customerId"], "CONFLICT", "The customer changed since the login (merged or erased); call wechatMiniProgramLogin again"));
  }

  let phone: Awaited<ReturnType<typeof userPhoneNumber>>;
  try {
    phone = await withAccessToken(req, connection, (token) => userPhoneNumber(connection.config, token, code));
  } catch (e) {
    return failed(apiError(e));
  }
  if (phone.watermark.appid !== connection.config.appId) {
    return failed(err(["code"], "INVALID", "WeChat issued this phone number for another app (watermark appid differs); nothing was attached"));
  }
  const e164 = `+${phone.countryCode}${phone.purePhoneNumber}`;
  const verifiedAt = new Date(phone.watermark.timestamp * 1000).toISOString();
  const [result] = await req.context.ingest(connection.id, [
    {
      type: "customer.upserted",
      externalId: `phone:${record.openid}:${e164}:${phone.watermark.timestamp}`,
      occurredAt: verifiedAt,
      identities,
      payload: { phone: e164, attributes: { wechatPhoneVerifiedAt: verifiedAt } },
    },
  ]);
  if (result?.status === "rejected") return failed(err(["code"], "INVALID", `The phone could not be attached: ${result.reason ?? "rejected"}`));
  const owner = await ownerOf(req, identities);
  const phoneOwner = (await req.context.customers.findByIdentity(req.tenantId, "phone", e164))?.id;
  if (!owner || phoneOwner !== owner) {
    return failed(err(["code"], "CONFLICT", "The phone belongs to another customer who cannot be merged with this one; recorded as an identity conflict"));
  }
  // A merge may have folded this customer into an older one: later calls name the survivor.
  if (owner !== uuid) await store.set(loginKey(owner), record, LOGIN_TTL_SECONDS);
  return { customerId: customerGlobalId(owner), userErrors: [] };
}

function wechatIdentities(r: { openid: string; unionid?: string }): { type: IdentityTypeName; value: string }[] {
  return [{ type: "wechat_openid", value: r.openid }, ...(r.unionid ? [{ type: "wechat_unionid" as const, value: r.unionid }] : [])];
}

/** The customer (uuid) the first of these identities that has an owner belongs to. */
async function ownerOf(req: Request, identities: { type: IdentityTypeName; value: string }[]): Promise<string | null> {
  for (const i of identities) {
    const c = await req.context.customers.findByIdentity(req.tenantId, i.type, i.value);
    if (c) return c.id;
  }
  return null;
}

/** Runs `fn` with the cached access token; once more with a fresh one if WeChat calls it stale. */
async function withAccessToken<T>(req: Request, connection: Parameters<typeof accessToken>[0], fn: (token: string) => Promise<T>): Promise<T> {
  const store = req.context.state(connection.id);
  const token = await accessToken(connection, store);
  try {
    return await fn(token);
  } catch (e) {
    if (!(e instanceof WechatApiError) || !STALE_TOKEN_ERRCODES.has(e.errcode)) throw e;
    await dropAccessToken(store, token);
    return fn(await accessToken(connection, store));
  }
}

/** WeChat's errcodes that the caller can act on, with what they mean. */
const ERRCODES: Record<number, { code: WechatErrorCode; field: string[] | null; meaning: string }> = {
  [-1]: { code: "UNAVAILABLE", field: null, meaning: "WeChat is busy, retry shortly" },
  40029: { code: "INVALID", field: ["code"], meaning: "invalid code" },
  40163: { code: "INVALID", field: ["code"], meaning: "the code was already used" },
  45011: { code: "RATE_LIMITED", field: null, meaning: "too many requests, retry later" },
  45009: { code: "RATE_LIMITED", field: null, meaning: "the daily API quota is used up" },
  40226: { code: "REFUSED", field: null, meaning: "WeChat blocked this high-risk user's login" },
  40013: { code: "CONFLICT", field: ["connectionId"], meaning: "WeChat refuses the connection's appId" },
  40125: { code: "CONFLICT", field: ["connectionId"], meaning: "WeChat refuses the connection's appSecret" },
  40164: { code: "CONFLICT", field: ["connectionId"], meaning: "this server's IP is not on the mini program's IP whitelist" },
};

function apiError(e: unknown): WechatError {
  if (e instanceof WechatApiError) {
    const known = ERRCODES[e.errcode] ?? { code: "INVALID" as const, field: null, meaning: "WeChat refused the request" };
    return err(known.field, known.code, `${known.meaning} (WeChat ${e.api} errcode ${e.errcode}${e.errmsg ? `: ${e.errmsg}` : ""})`);
  }
  if (e instanceof WechatUnavailableError) return err(null, "UNAVAILABLE", e.message);
  throw e;
}
