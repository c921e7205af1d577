import { z } from "zod";

/** Where Youzan Cloud's open API lives; a connection may point elsewhere (a gateway, a test server). */
export const DEFAULT_API_BASE = "https://open.youzanyun.com";

/**
 * One merchant's Youzan connection: the credentials of the Youzan Cloud app that pushes to us and,
 * for the optional reconciliation pull, the shop (kdt_id) the app is authorized for.
 */
export const configSchema = z
  .object({
    /** The app's client_id (有赞云 → 应用管理 → 应用凭证). */
    clientId: z.string().trim().min(1, "must not be empty").max(64),
    /** The app's client_secret: signs every push. Never returned by the API. */
    clientSecret: z.string().trim().min(16, "must be at least 16 characters").max(128),
    /** Open API base for the pull job. Default https://open.youzanyun.com. */
    apiBase: z
      .url({ protocol: /^https?$/, message: "must be an http(s) URL" })
      .default(DEFAULT_API_BASE)
      .transform((u) => u.replace(/\/+$/, "")),
    /**
     * The shop (店铺 id, kdt_id). When set, pushes of other shops authorized to the same app are
     * acknowledged without events, and the pull job uses it as grant_id. Required by the pull.
     */
    kdtId: z
      .union([z.string().trim().regex(/^\d{1,20}$/, "must be the numeric shop id (kdt_id)"), z.number().int().positive()])
      .transform(String)
      .optional(),
    /** Minutes between reconciliation pulls of this shop's trades; no pull when absent. */
    pullIntervalMinutes: z.number().int("must be a whole number of minutes").min(1).max(1440).optional(),
  })
  .refine((c) => c.pullIntervalMinutes === undefined || c.kdtId !== undefined, {
    path: ["kdtId"],
    message: "required when pullIntervalMinutes is set: the pull asks Youzan for this shop's token",
  });

export type YouzanConfig = z.infer<typeof configSchema>;
