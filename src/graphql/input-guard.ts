import {
  defaultFieldResolver,
  GraphQLError,
  GraphQLBoolean,
  GraphQLID,
  GraphQLInputObjectType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLString,
  getNamedType,
  isListType,
  isNonNullType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
} from "graphql";
import type { ResolverData } from "type-graphql";
import { ErrorCode } from "../core/errors";
import { findUnstorable, MAX_JSON_DEPTH, storableInstant, unstorableText } from "../core/storable";
import { userError, UserErrorCode } from "../core/user-error";

/**
 * Field extension for a root field whose service checks its input itself and answers per item (e.g.
 * `ingestEvents`, which rejects one bad event and accepts the others): the guard leaves it alone.
 */
export const VALIDATES_OWN_INPUT = "validatesOwnInput";

type Finding = { path: (string | number)[]; message: string; code: UserErrorCode };

/** Scalars whose values are strings we store as text. */
const TEXT_SCALARS = new Set<string>([GraphQLString.name, GraphQLID.name]);

/**
 * The first argument value of a root field that PostgreSQL cannot store (see core/storable): a string
 * with NUL or an unpaired surrogate, JSON nested too deep, a date outside years 0001–9999. Walks the
 * coerced arguments along their GraphQL types, so JSON scalars are measured from their own root.
 */
function findInArgs(field: GraphQLField<unknown, unknown>, args: Record<string, unknown>): Finding | null {
  for (const arg of field.args) {
    const found = walk(args[arg.name], arg.type, [arg.name]);
    if (found) return found;
  }
  return null;
}

function walk(value: unknown, type: GraphQLInputType, path: (string | number)[]): Finding | null {
  if (value === null || value === undefined) return null;
  if (isNonNullType(type)) return walk(value, type.ofType, path);
  if (isListType(type)) {
    if (!Array.isArray(value)) return walk(value, type.ofType, path);
    for (let i = 0; i < value.length; i++) {
      const found = walk(value[i], type.ofType, [...path, i]);
      if (found) return found;
    }
    return null;
  }
  if (type instanceof GraphQLInputObjectType) {
    const fields = type.getFields();
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      const f = fields[name];
      if (!f) continue;
      const found = walk(v, f.type, [...path, name]);
      if (found) return found;
    }
    return null;
  }
  if (!(type instanceof GraphQLScalarType)) return null; // enums hold only their own values
  if (value instanceof Date) {
    return storableInstant(value.getTime()) ? null : { path, message: "Must lie between the years 0001 and 9999", code: UserErrorCode.INVALID };
  }
  if (typeof value === "string" && TEXT_SCALARS.has(type.name)) {
    const reason = unstorableText(value);
    return reason ? { path, message: `Text ${reason}`, code: UserErrorCode.INVALID } : null;
  }
  if (typeof value === "object" || typeof value === "string") {
    // JSON scalars and string-based custom scalars (dates, e-mail…): the same rules, depth from here.
    const u = findUnstorable(value, MAX_JSON_DEPTH);
    if (!u) return null;
    // A too-deep value is named by where it starts, not by the 5,000 keys below it.
    return u.kind === "depth"
      ? { path, message: `JSON nests deeper than ${MAX_JSON_DEPTH} levels`, code: UserErrorCode.TOO_LONG }
      : { path: [...path, ...u.path], message: u.reason.charAt(0).toUpperCase() + u.reason.slice(1), code: UserErrorCode.INVALID };
  }
  return null;
}

/**
 * A mutation payload that can carry the finding as a `userErrors` entry: an object type with
 * `userErrors` whose other fields are nullable, lists (answered empty) or Booleans (answered false).
 * Returns the payload's defaults, or null when the field must answer with a GraphQL error instead.
 */
function payloadDefaults(field: GraphQLField<unknown, unknown>): Record<string, unknown> | null {
  const type = getNamedType(field.type);
  if (!(type instanceof GraphQLObjectType)) return null;
  const fields = type.getFields();
  if (!fields.userErrors) return null;
  const defaults: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    if (name === "userErrors" || !isNonNullType(f.type)) continue;
    if (f.type.ofType instanceof GraphQLList) defaults[name] = [];
    else if (f.type.ofType === GraphQLBoolean) defaults[name] = false;
    else return null;
  }
  return defaults;
}

/** Thrown by {@link checkStorableArguments}; a guarded mutation turns it into a `userErrors` entry. */
class UnstorableArgument extends GraphQLError {
  constructor(readonly finding: Finding) {
    const path = finding.path.join(".");
    super(`"${path}": ${finding.message.charAt(0).toLowerCase()}${finding.message.slice(1)}`, { extensions: { code: ErrorCode.BAD_USER_INPUT, field: path } });
  }
}

const checked = new WeakSet<object>();

/**
 * type-graphql's `validateFn`: runs for each argument of a resolver, after `@Authorized` (a key
 * without the scope still gets FORBIDDEN) and before the resolver. Checks all of the field's
 * arguments once; throws {@link UnstorableArgument} (BAD_USER_INPUT) on the first finding.
 */
export function checkStorableArguments(_value: unknown, _type: unknown, data: ResolverData<object>): void {
  const { info, args } = data;
  if (checked.has(args)) return;
  checked.add(args);
  const field = info.parentType.getFields()[info.fieldName];
  if (!field || field.extensions?.[VALIDATES_OWN_INPUT]) return;
  const found = findInArgs(field, args);
  if (found) throw new UnstorableArgument(found);
}

/**
 * Makes every argument the database cannot store a caller's error, never a failed statement: the
 * mutations whose payload carries `userErrors` answer an entry there (`INVALID`, or `TOO_LONG` for
 * nesting, with the path inside `input`), everything else a `BAD_USER_INPUT` error naming the
 * argument (from {@link checkStorableArguments}). Subscriptions are checked when they start.
 * Nothing is written either way. Only root fields are wrapped: nested fields cost nothing.
 */
export function guardRootArguments(schema: GraphQLSchema): GraphQLSchema {
  const mutation = schema.getMutationType();
  for (const field of Object.values(mutation?.getFields() ?? {})) {
    const defaults = payloadDefaults(field);
    if (!defaults || !field.args.length) continue;
    const inner = field.resolve ?? defaultFieldResolver;
    field.resolve = async function guarded(source, args, ctx, info) {
      try {
        return await inner(source, args, ctx, info);
      } catch (err) {
        if (!(err instanceof UnstorableArgument)) throw err;
        const { path, code, message } = err.finding;
        // Paths inside the one `input` argument are given as our userErrors give them: ["phone"], not ["input", "phone"].
        return { ...defaults, userErrors: [userError(path[0] === "input" && field.args.length === 1 ? path.slice(1) : path, code, message)] };
      }
    };
  }
  for (const field of Object.values(schema.getSubscriptionType()?.getFields() ?? {})) {
    const subscribe = field.subscribe;
    if (!subscribe || !field.args.length) continue;
    field.subscribe = function guarded(source, args, ctx, info) {
      const found = findInArgs(field, args);
      if (found) throw new UnstorableArgument(found);
      return subscribe(source, args, ctx, info);
    };
  }
  return schema;
}
