import type { AuthChecker } from "type-graphql";
import { hasScope, type RequestCtx } from "./context";
import { forbidden } from "./errors";

/**
 * `@Authorized("customers:read")`: the caller needs that scope. Several scopes mean any one of them
 * (`@Authorized(["platform", "admin"])`). Failures are FORBIDDEN errors, raised before the resolver
 * runs, so nothing is written.
 */
export const authChecker: AuthChecker<RequestCtx> = ({ context }, scopes) => {
  if (scopes.length === 0 || scopes.some((s) => hasScope(context.principal, s))) return true;
  throw forbidden(`This needs the ${scopes.map((s) => `"${s}"`).join(" or ")} scope`);
};
