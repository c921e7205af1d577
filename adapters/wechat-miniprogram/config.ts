import { z } from "zod";

/** WeChat's public API; `apiBase` points elsewhere only for a proxy or a test double. */
export const DEFAULT_API_BASE = "https://api.weixin.qq.com";
/** How far a push's `timestamp` may be from our clock, either way, unless the connection says otherwise. */
export const DEFAULT_TIMESTAMP_TOLERANCE_SECONDS = 300;

/**
 * One merchant's mini program, as entered in createChannelConnection(channel: "wechat-miniprogram").
 * Every transform is idempotent: the host stores the parsed config and parses it again on use.
 */
export const configSchema = z.object({
  /** 小程序 AppID (开发管理 → 开发设置). */
  appId: z.string().trim().regex(/^wx[0-9A-Za-z]{16}$/, "must be the mini program's AppID, e.g. wx1234567890abcdef"),
  /** 小程序 AppSecret: for jscode2session and access tokens. Secret. */
  appSecret: z.string().trim().regex(/^[0-9A-Za-z]{16,128}$/, "must be the mini program's AppSecret (letters and digits)"),
  /** 消息推送 Token (3–32 letters or digits, WeChat's rule). Secret. */
  token: z.string().regex(/^[A-Za-z0-9]{3,32}$/, "must be the message-push Token: 3–32 letters or digits"),
  /** 消息推送 EncodingAESKey: needed for safe (and compatible) mode. Secret. */
  encodingAesKey: z.string().regex(/^[A-Za-z0-9+/]{43}$/, "must be the 43-character EncodingAESKey").optional(),
  apiBase: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL such as https://api.weixin.qq.com" })
    .transform((s) => s.replace(/\/+$/, ""))
    .default(DEFAULT_API_BASE),
  timestampToleranceSeconds: z.number().int().min(30).max(86_400).default(DEFAULT_TIMESTAMP_TOLERANCE_SECONDS),
});

export type WechatMiniProgramConfig = z.output<typeof configSchema>;

/** Config keys the API never returns. */
export const SECRET_KEYS = ["appSecret", "token", "encodingAesKey"] as const;
