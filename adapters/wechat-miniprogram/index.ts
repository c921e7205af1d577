/**
 * WeChat mini programs (微信小程序): customer-service message pushes (消息推送) in plain and safe
 * mode, XML or JSON, plus the login (`wechatMiniProgramLogin`) and verified-phone
 * (`wechatMiniProgramBindPhone`) mutations. README.md beside this file explains the set-up.
 * Imports only the public plugin contract (`src/plugins`).
 */
import { definePlugin, type IngestResult } from "../../src/plugins";
import { configSchema, SECRET_KEYS, type WechatMiniProgramConfig } from "./config";
import { normalizeMessage } from "./normalize";
import { WechatMiniProgramResolver } from "./resolver";
import { CHANNEL, loginKey } from "./service";
import { errorResponse, handshake, verifyPush } from "./verify";

export const wechatMiniProgramPlugin = definePlugin<WechatMiniProgramConfig>({
  name: CHANNEL,
  version: "1.0.0",
  compatibility: "^1.0.0",
  description: "WeChat mini program: customer-service messages (plain and safe mode, XML or JSON), login and verified phone numbers.",
  configSchema,
  secretKeys: SECRET_KEYS,
  resolvers: [WechatMiniProgramResolver],
  onEvent: {
    // A login leaves the customer's openid in this plugin's state for 30 days (what ties a verified phone to
    // a WeChat account); an erased customer's goes at once, on every connection of the tenant.
    "customer.erased": async (event, ctx) => {
      for (const connection of await ctx.connections()) {
        if (connection.tenantId === event.tenantId) await ctx.state(connection.id).delete(loginKey(event.customerId));
      }
    },
  },
  channel: {
    verify: verifyPush,
    normalize: (payload) => normalizeMessage(payload),
    handshake: (req, connection) => handshake(req, connection),
    // WeChat wants the bare word "success" within 5 s, or it retries (three times) and warns the
    // merchant. Rejected events are acknowledged too: a retry would be rejected the same way.
    acknowledge: (_results: IngestResult[]) => ({ status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: "success" }),
    reject: (status, reason) => errorResponse(status, reason),
  },
});

export default wechatMiniProgramPlugin;

export { configSchema, DEFAULT_API_BASE, DEFAULT_TIMESTAMP_TOLERANCE_SECONDS, type WechatMiniProgramConfig } from "./config";
export { aesKey, decryptMessage, DecryptError, encryptMessage, wechatSignature } from "./crypto";
export { messageEvents, normalizeMessage } from "./normalize";
export { parseJsonObject, parseXml, quoteBigIntegers } from "./parse";
export { customerGlobalId, customerUuid, LOGIN_TTL_SECONDS } from "./service";
export { WechatMiniProgramResolver } from "./resolver";
