/**
 * Identity types a customer can be known by; (type, value) is unique per tenant. Part of the plugin
 * contract. The server knows the core ones; a channel plugin declares the ids its channel gives
 * (`identityTypes` in `definePlugin`, e.g. `youzan_buyer`), registered when the plugin is defined.
 */
export const IDENTITY_TYPES = ["wechat_unionid", "wechat_openid", "phone", "email", "zoho_contact", "external"] as const;
export type CoreIdentityType = (typeof IDENTITY_TYPES)[number];
/** A core identity type or one a plugin registered (checked at run time by `isIdentityType`). */
export type IdentityTypeName = CoreIdentityType | (string & {});

/** What a plugin declares about an identity type of its channel. */
export interface IdentityTypeDefinition {
  /** Lower-case, `[a-z][a-z0-9_]*`, at most 40 characters, e.g. `youzan_buyer`; the GraphQL enum value is its upper case. */
  name: string;
  /** Column headers a customer import reads as this identity (besides the name itself), e.g. `有赞买家ID`. The first is what exports write. */
  importHeaders?: readonly string[];
}

/** Longest identity value accepted, after trimming. */
export const MAX_IDENTITY_VALUE = 200;

const NAME = /^[a-z][a-z0-9_]{0,39}$/;
const registered = new Map<string, { owner: string; importHeaders: readonly string[] }>();
for (const name of IDENTITY_TYPES) registered.set(name, { owner: "core", importHeaders: [] });

/**
 * The GraphQL enum `IdentityType` (`WECHAT_UNIONID` → `wechat_unionid`), kept in step with the
 * registry: type-graphql reads it when the schema is built, after every plugin is defined.
 */
export const identityTypeEnum: Record<string, string> = Object.fromEntries(IDENTITY_TYPES.map((t) => [t.toUpperCase(), t]));

/** Registers a plugin's identity types; the same plugin may declare them again, another may not take them. */
export function registerIdentityTypes(owner: string, definitions: readonly IdentityTypeDefinition[]): void {
  for (const d of definitions) {
    if (!NAME.test(d.name)) throw new Error(`Plugin "${owner}": identity type "${d.name}" must be lower-case letters, digits and _ (at most 40)`);
    const taken = registered.get(d.name);
    if (taken && taken.owner !== owner) throw new Error(`Plugin "${owner}": identity type "${d.name}" is ${taken.owner === "core" ? "a core type" : `declared by plugin "${taken.owner}"`}`);
    registered.set(d.name, { owner, importHeaders: d.importHeaders ?? [] });
    identityTypeEnum[d.name.toUpperCase()] = d.name;
  }
}

export function isIdentityType(name: string): boolean {
  return registered.has(name);
}

/** Every known identity type: the core ones, then plugins' in the order they were defined. */
export function identityTypes(): string[] {
  return [...registered.keys()];
}

/** Identity types plugins declared, in the order they were defined, with their import headers. */
export function pluginIdentityTypes(): { name: string; owner: string; importHeaders: readonly string[] }[] {
  return [...registered].filter(([, v]) => v.owner !== "core").map(([name, v]) => ({ name, ...v }));
}
