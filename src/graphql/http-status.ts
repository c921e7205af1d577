import type { ApolloServerPlugin } from "@apollo/server";

const GRAPHQL_RESPONSE = "application/graphql-response+json";

/** Errors of a well-formed request: the document does not parse or validate, or the variables do not coerce. */
const REQUEST_ERRORS = new Set(["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"]);

/** The q-value of `type` in an Accept header (0 when absent; `*` ranges count). */
function quality(accept: string, type: string): number {
  let best = 0;
  for (const part of accept.split(",")) {
    const [range = "", ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const [main, sub] = range.split("/");
    const [tMain, tSub] = type.split("/");
    if (!(range === type || (main === tMain && sub === "*") || range === "*/*")) continue;
    const q = params.find((p) => p.startsWith("q="));
    best = Math.max(best, q ? Number(q.slice(2)) || 0 : 1);
  }
  return best;
}

/** Whether the client prefers the GraphQL response media type to plain JSON; on a tie (any type) Apollo answers JSON. */
export function prefersGraphqlResponse(accept: string | undefined | null): boolean {
  if (!accept) return false;
  const g = quality(accept, GRAPHQL_RESPONSE);
  return g > quality(accept, "application/json");
}

/**
 * GraphQL over HTTP: a client that accepts `application/json` (or says nothing) reads errors from the
 * body, so a well-formed request whose document does not parse, does not validate, or whose variables do
 * not coerce is answered 200 with `errors` (the spec's SHOULD); with `application/graphql-response+json`
 * it stays 400. Only such request errors (a 400 without `data`) change: 401, 405 and malformed requests keep theirs.
 */
export const requestErrorStatus: ApolloServerPlugin = {
  async requestDidStart({ request }) {
    if (prefersGraphqlResponse(request.http?.headers.get("accept"))) return;
    return {
      async willSendResponse({ response }) {
        if (response.http.status !== 400 || response.body.kind !== "single") return;
        const { data, errors } = response.body.singleResult;
        // Malformed requests (a `query` that is not a string, unknown parameters: BAD_REQUEST) keep their 400.
        if (data === undefined && errors?.length && errors.every((e) => REQUEST_ERRORS.has(String(e.extensions?.code)))) response.http.status = 200;
      },
    };
  },
};
