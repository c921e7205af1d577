/** Identity types a customer can be known by; (type, value) is unique per tenant. Part of the plugin contract. */
export const IDENTITY_TYPES = [
  "wechat_unionid",
  "wechat_openid",
  "phone",
  "email",
  "youzan_buyer",
  "taobao_buyer",
  "pos_member",
  "zoho_contact",
  "external",
] as const;
export type IdentityTypeName = (typeof IDENTITY_TYPES)[number];

/** Longest identity value accepted, after trimming. */
export const MAX_IDENTITY_VALUE = 200;
