import { Field, ObjectType, registerEnumType } from "type-graphql";

/** What went wrong with a mutation's input, in terms the caller can act on. */
export enum UserErrorCode {
  INVALID = "INVALID",
  REQUIRED = "REQUIRED",
  TOO_LONG = "TOO_LONG",
  TOO_MANY = "TOO_MANY",
  TAKEN = "TAKEN",
  NOT_FOUND = "NOT_FOUND",
  CONFLICT = "CONFLICT",
  /** An outside service (WeChat, Zoho…) asks us to slow down; retry later. */
  RATE_LIMITED = "RATE_LIMITED",
  /** An outside service refused the request for a reason of its own (named in the message). */
  REFUSED = "REFUSED",
  /** An outside service could not be reached; retry. */
  UNAVAILABLE = "UNAVAILABLE",
  /** There is not enough data for what was asked yet (e.g. a customer-value model needs 50 repeat customers). */
  INSUFFICIENT_DATA = "INSUFFICIENT_DATA",
}
registerEnumType(UserErrorCode, { name: "UserErrorCode", description: "Why a mutation rejected its input, or (RATE_LIMITED, REFUSED, UNAVAILABLE) why an outside service it called did not do it." });

@ObjectType({ description: "An expected, fixable failure of a mutation. Nothing was written when a payload has any." })
export class UserError {
  @Field(() => [String], { nullable: true, description: 'Path to the input field at fault, e.g. ["phone"] or ["tags", "2"].' })
  field?: string[] | null;

  @Field(() => UserErrorCode)
  code: UserErrorCode;

  @Field(() => String)
  message: string;
}

export function userError(field: (string | number)[] | null, code: UserErrorCode, message: string): UserError {
  return Object.assign(new UserError(), { field: field ? field.map(String) : null, code, message });
}

/** A service result: the value, or the reasons it was refused. */
export type Result<T> = { ok: true; value: T } | { ok: false; errors: UserError[] };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(...errors: UserError[]): Result<T> => ({ ok: false, errors });
