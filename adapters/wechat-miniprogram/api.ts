import { createHash } from "node:crypto";
import type { ChannelConnectionInfo, KeyValueStore } from "../../src/plugins";
import type { WechatMiniProgramConfig } from "./config";

/**
 * The few WeChat server APIs the login and phone mutations need, over global fetch. Responses are
 * read field by field: `session_key` never leaves {@link code2Session}.
 */

/** Longest we wait for WeChat before telling the caller to try again. */
export const API_TIMEOUT_MS = 5_000;
/** Access tokens are refreshed this long before WeChat says they expire. */
export const TOKEN_REFRESH_MARGIN_SECONDS = 300;
/** How long one refresh may hold the cross-instance lock. */
const LOCK_TTL_SECONDS = 30;
/** How long another instance waits for the refresh in flight elsewhere. */
const LOCK_WAIT_MS = 10_000;
const TOKEN_KEY = "access_token";
const LOCK_KEY = "access_token:lock";

/** WeChat answered with `errcode` ≠ 0. */
export class WechatApiError extends Error {
  override readonly name = "WechatApiError";
  constructor(
    readonly api: string,
    readonly errcode: number,
    readonly errmsg: string,
  ) {
    super(`${api}: errcode ${errcode}${errmsg ? ` (${errmsg})` : ""}`);
  }
}

/** WeChat could not be reached, or answered something unreadable: worth a retry later. */
export class WechatUnavailableError extends Error {
  override readonly name = "WechatUnavailableError";
}

type Json = Record<string, unknown>;

async function call(api: string, url: URL, init: RequestInit = {}): Promise<Json> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(API_TIMEOUT_MS) });
    text = await res.text();
  } catch (err) {
    throw new WechatUnavailableError(`${api}: WeChat unreachable (${(err as Error).name})`);
  }
  if (!res.ok) throw new WechatUnavailableError(`${api}: WeChat answered HTTP ${res.status}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new WechatUnavailableError(`${api}: WeChat answered something other than JSON`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new WechatUnavailableError(`${api}: unexpected answer`);
  const b = body as Json;
  const errcode = b.errcode === undefined ? 0 : Number(b.errcode);
  if (errcode !== 0) throw new WechatApiError(api, Number.isFinite(errcode) ? errcode : -1, typeof b.errmsg === "string" ? b.errmsg.slice(0, 200) : "");
  return b;
}

const url = (config: WechatMiniProgramConfig, path: string, params: Record<string, string>) => {
  const u = new URL(`${config.apiBase}${path}`);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u;
};

const WECHAT_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** `GET /sns/jscode2session`: a wx.login code → the user's openid (and unionid when bound). */
export async function code2Session(config: WechatMiniProgramConfig, code: string): Promise<{ openid: string; unionid?: string }> {
  const b = await call(
    "jscode2session",
    url(config, "/sns/jscode2session", { appid: config.appId, secret: config.appSecret, js_code: code, grant_type: "authorization_code" }),
  );
  // session_key (b.session_key) is deliberately not read: we never need it, so it is never kept.
  if (typeof b.openid !== "string" || !WECHAT_ID.test(b.openid)) throw new WechatUnavailableError("jscode2session: answer has no openid");
  const unionid = typeof b.unionid === "string" && WECHAT_ID.test(b.unionid) ? b.unionid : undefined;
  return { openid: b.openid, ...(unionid ? { unionid } : {}) };
}

/** `POST /wxa/business/getuserphonenumber`: a getPhoneNumber code → the verified phone. */
export async function userPhoneNumber(
  config: WechatMiniProgramConfig,
  accessToken: string,
  code: string,
): Promise<{ countryCode: string; purePhoneNumber: string; watermark: { appid: string; timestamp: number } }> {
  const b = await call("getuserphonenumber", url(config, "/wxa/business/getuserphonenumber", { access_token: accessToken }), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
  const info = b.phone_info as Json | undefined;
  const watermark = info?.watermark as Json | undefined;
  const countryCode = String(info?.countryCode ?? "");
  const purePhoneNumber = String(info?.purePhoneNumber ?? "");
  if (!/^[0-9]{1,4}$/.test(countryCode) || !/^[0-9]{4,15}$/.test(purePhoneNumber) || typeof watermark?.appid !== "string" || !Number.isSafeInteger(watermark.timestamp)) {
    throw new WechatUnavailableError("getuserphonenumber: answer has no usable phone_info");
  }
  return { countryCode, purePhoneNumber, watermark: { appid: watermark.appid, timestamp: watermark.timestamp as number } };
}

/** `GET /cgi-bin/token`. */
async function fetchAccessToken(config: WechatMiniProgramConfig): Promise<{ token: string; expiresIn: number }> {
  const b = await call("token", url(config, "/cgi-bin/token", { grant_type: "client_credential", appid: config.appId, secret: config.appSecret }));
  const expiresIn = Number(b.expires_in);
  if (typeof b.access_token !== "string" || !b.access_token || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw new WechatUnavailableError("token: answer has no access_token");
  }
  return { token: b.access_token, expiresIn };
}

interface CachedToken {
  token: string;
  expiresAt: number;
  /** Which credentials the token belongs to: a changed appId or appSecret invalidates it. */
  credentials: string;
}

const credentialsOf = (config: WechatMiniProgramConfig) => createHash("sha256").update(`${config.appId}\u0000${config.appSecret}`).digest("hex").slice(0, 16);

/** Refreshes in flight in this process, per connection: concurrent callers share one. */
const inflight = new Map<string, Promise<string>>();

/**
 * The connection's access token: cached in plugin state until a few minutes before it expires,
 * refreshed one at a time — one request per connection in this process (shared promise), and
 * across instances a lock in the state store (`setIfAbsent`) while the others wait for its result.
 * Every refresh invalidates the previous token at WeChat, hence the care.
 */
export function accessToken(connection: ChannelConnectionInfo<WechatMiniProgramConfig>, store: KeyValueStore): Promise<string> {
  let p = inflight.get(connection.id);
  if (!p) {
    p = obtain(connection.config, store).finally(() => inflight.delete(connection.id));
    inflight.set(connection.id, p);
  }
  return p;
}

/** Forgets `token` after WeChat called it invalid or expired (unless a newer one replaced it). */
export async function dropAccessToken(store: KeyValueStore, token: string): Promise<void> {
  const cached = await store.get<CachedToken>(TOKEN_KEY);
  if (cached?.token === token) await store.delete(TOKEN_KEY);
}

/** errcodes meaning the access token is invalid or expired (a retry with a fresh one may pass). */
export const STALE_TOKEN_ERRCODES = new Set([40001, 40014, 42001]);

async function obtain(config: WechatMiniProgramConfig, store: KeyValueStore): Promise<string> {
  const credentials = credentialsOf(config);
  const usable = (c: CachedToken | undefined) => (c && c.credentials === credentials && c.expiresAt > Date.now() ? c.token : undefined);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const cached = usable(await store.get<CachedToken>(TOKEN_KEY));
    if (cached) return cached;
    if (await store.setIfAbsent(LOCK_KEY, true, LOCK_TTL_SECONDS)) {
      try {
        // Another instance may have stored a token between our read and our lock.
        const again = usable(await store.get<CachedToken>(TOKEN_KEY));
        if (again) return again;
        const fresh = await fetchAccessToken(config);
        const ttl = fresh.expiresIn > 2 * TOKEN_REFRESH_MARGIN_SECONDS ? Math.floor(fresh.expiresIn - TOKEN_REFRESH_MARGIN_SECONDS) : Math.max(1, Math.floor(fresh.expiresIn / 2));
        await store.set(TOKEN_KEY, { token: fresh.token, expiresAt: Date.now() + ttl * 1000, credentials } satisfies CachedToken, ttl);
        return fresh.token;
      } finally {
        await store.delete(LOCK_KEY);
      }
    }
    if (Date.now() > deadline) throw new WechatUnavailableError("token: another instance is refreshing the access token; try again");
    await new Promise((r) => setTimeout(r, 100));
  }
}
