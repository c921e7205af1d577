import type { IdentityTypeName } from "../../src/plugins";
import { idOf, mobileOf } from "./values";

/**
 * Who a Youzan buyer is. Youzan knows a person by several ids, none present in every message:
 * `yz_open_id` (the id Youzan now gives apps), `buyer_id` (the Youzan account, older APIs) and
 * `fans_id` (the WeChat follower record). Each one present becomes its own `youzan_buyer` identity,
 * named by its kind — `yz_open_id:<v>`, `buyer_id:<v>`, `fans_id:<v>` — so that:
 * - one message carrying two of them ties them to one customer, and later messages carrying only
 *   one still find that customer;
 * - numeric ids of different kinds (a buyer_id and a fans_id may both be 400767613) never match
 *   each other.
 * Zero and empty ids mean "none" in Youzan's payloads and are skipped; so are masked mobiles.
 */

export type Identity = { type: IdentityTypeName; value: string };

export const BUYER_ID_KINDS = ["yz_open_id", "buyer_id", "fans_id"] as const;

/** UnionID of a WeChat buyer: 28 characters of letters, digits, '-' and '_' in practice. */
const UNION_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** Identities from a trade's `buyer_info` (or any record with the same field names). */
export function buyerIdentities(buyer: Record<string, unknown>): Identity[] {
  const out: Identity[] = [];
  const phone = mobileOf(buyer.buyer_phone ?? buyer.mobile);
  if (phone) out.push({ type: "phone", value: phone });
  for (const kind of BUYER_ID_KINDS) {
    const identity = buyerIdentity(kind, buyer[kind]);
    if (identity) out.push(identity);
  }
  const unionId = unionIdOf(buyer.union_id ?? buyer.unionid ?? buyer.wx_union_id);
  if (unionId) out.push({ type: "wechat_unionid", value: unionId });
  return out;
}

export function unionIdOf(value: unknown): string | undefined {
  return typeof value === "string" && UNION_ID.test(value.trim()) ? value.trim() : undefined;
}

/** A Youzan buyer identity of the given kind, or undefined when the id is absent or zero. */
export function buyerIdentity(kind: (typeof BUYER_ID_KINDS)[number], value: unknown): Identity | undefined {
  const id = idOf(value);
  return id ? { type: "youzan_buyer", value: `${kind}:${id}` } : undefined;
}

/** The identities with duplicates removed, first occurrence kept. */
export function uniqueIdentities(list: (Identity | undefined)[]): Identity[] {
  const out: Identity[] = [];
  for (const i of list) if (i && !out.some((o) => o.type === i.type && o.value === i.value)) out.push(i);
  return out;
}
