/**
 * Youzan (有赞) channel: trade state changes, refunds and member events pushed by Youzan Cloud, plus an
 * optional reconciliation pull of the shop's trades. See README.md beside this file.
 */
import { definePlugin, type ChannelResponse } from "../../src/plugins";
import { configSchema, type YouzanConfig } from "./config";
import { normalizeYouzan } from "./normalize";
import { pullJob } from "./pull";
import { verifyYouzan } from "./verify";

export const CHANNEL = "youzan";

/** What Youzan expects back, or it retries the push (with `send_count` + 1). */
export const YOUZAN_SUCCESS = { code: 0, msg: "success" } as const;

export const youzanPlugin = definePlugin<YouzanConfig>({
  name: CHANNEL,
  version: "1.0.0",
  compatibility: "^1.2.0",
  identityTypes: [{ name: "youzan_buyer", importHeaders: ["有赞买家ID"] }],
  description: "Youzan (有赞) pushes — trade states, refunds, members and member cards — with an optional reconciliation pull of trades.",
  configSchema,
  secretKeys: ["clientSecret"],
  channel: {
    verify(req, connection) {
      return verifyYouzan(req, connection.config);
    },

    normalize(payload, connection) {
      return normalizeYouzan(payload, { kdtId: connection.config.kdtId });
    },

    // Events the pipeline rejected are acknowledged too: a retry would be rejected the same way,
    // and a push that keeps failing is eventually dropped by Youzan for all its messages.
    acknowledge() {
      return { status: 200, body: { ...YOUZAN_SUCCESS } };
    },

    reject(status, reason): ChannelResponse {
      return { status, body: { code: status, msg: reason } };
    },
  },
  jobs: [pullJob()],
});

export default youzanPlugin;

export { configSchema, DEFAULT_API_BASE, type YouzanConfig } from "./config";
export { youzanSign, verifyYouzan, SIGN_HEADER, CLIENT_ID_HEADER } from "./verify";
export { normalizeYouzan } from "./normalize";
export { pullConnection, pullJob, PULL_CRON, STATE as PULL_STATE } from "./pull";
export { yuanToFen, youzanTime, parseJsonExact, decodeMsg } from "./values";
