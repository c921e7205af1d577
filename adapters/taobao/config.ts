import { z } from "zod";

/** Where Taobao's message service listens (the reference clients' default). */
export const DEFAULT_TMC_URL = "ws://mc.api.taobao.com/";

/** One merchant's Taobao app, as entered on createChannelConnection. */
export const configSchema = z.object({
  /** The app's AppKey (open.taobao.com → 应用管理). */
  appKey: z.string().trim().min(1).max(64),
  /** The app's AppSecret: signs the TMC sign-in and replay webhooks; never returned by the API. */
  appSecret: z.string().min(1).max(256),
  /** The TMC user group the app's subscriptions deliver to (消息服务 → 分组管理). */
  groupName: z.string().trim().min(1).max(64).default("default"),
  tmcUrl: z
    .string()
    .trim()
    .refine((s) => /^wss?:\/\/[^\s/?#]+/i.test(s) && URL.canParse(s), "must be a ws:// or wss:// URL")
    .default(DEFAULT_TMC_URL),
  /** First reconnect delay in ms; doubles per failed attempt up to a minute, with jitter. */
  reconnectBaseMs: z.number().int().min(10).max(60_000).default(1000),
});

export type TaobaoConfig = z.infer<typeof configSchema>;
