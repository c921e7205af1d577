import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { unwrapResolverError } from "@apollo/server/errors";
import type { Logger } from "pino";

/**
 * GraphQL error codes we raise (`extensions.code`). Expected, fixable failures of a mutation are
 * not errors but `userErrors` in its payload (see user-error.ts).
 */
export enum ErrorCode {
  UNAUTHENTICATED = "UNAUTHENTICATED",
  FORBIDDEN = "FORBIDDEN",
  BAD_USER_INPUT = "BAD_USER_INPUT",
  NOT_FOUND = "NOT_FOUND",
  /** The server could not do it now and wrote nothing: retry later (as a channel gets a 503). */
  UNAVAILABLE = "UNAVAILABLE",
  /** The operation's estimated cost is over GRAPHQL_MAX_COST (`extensions.cost`, `extensions.maxCost`). */
  QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY",
  INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR",
}

export function unauthenticated(message = "A valid API key is required (Authorization: Bearer <key>)"): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401 } } });
}

export function forbidden(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.FORBIDDEN } });
}

export function badUserInput(message: string, field?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BAD_USER_INPUT, ...(field ? { field } : {}) } });
}

export function unavailable(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.UNAVAILABLE } });
}

/** Codes GraphQL servers raise themselves that are safe to pass on as they are. */
const passThrough = new Set<string>([
  ...Object.values(ErrorCode),
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
]);

/**
 * The one place errors are shaped for clients: known codes keep their message, anything else
 * (a bug, a database failure) becomes INTERNAL_SERVER_ERROR with a generic message and is logged.
 * No stack traces or SQL ever leave the server.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown, log: Logger): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const code = formatted.extensions?.code;
  const isOurs = original instanceof GraphQLError || (error instanceof GraphQLError && !(error as GraphQLError).originalError);
  if (typeof code === "string" && passThrough.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR && isOurs) {
    const { stacktrace: _s, exception: _e, ...extensions } = (formatted.extensions ?? {}) as Record<string, unknown>;
    return { ...formatted, extensions };
  }
  log.error({ err: original instanceof Error ? { message: original.message, stack: original.stack } : String(original), path: formatted.path }, "unexpected error");
  return {
    message: "Internal server error",
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}
