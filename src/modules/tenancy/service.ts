import { timingSafeEqual, createHash } from "node:crypto";
import { IsNull } from "typeorm";
import type { Logger } from "pino";
import type { App } from "../../app";
import { TenantSettingsService } from "./settings";
import { hasScope, knownScopes, tenantOf, type Ctx, type Principal } from "../../core/context";
import { inTransaction } from "../../core/transaction";
import { fail, ok, userError, UserErrorCode, type Result, type UserError } from "../../core/user-error";
import { localId } from "../../core/global-id";
import { ApiKey, Tenant } from "./entity";
import { generateApiKey, hashApiKey, keyPrefix } from "./keys";

export const DEFAULT_TENANT = "default";

export interface CreateApiKeyArgs {
  tenantId?: string | null;
  name: string;
  scopes: string[];
  expiresAt?: Date | null;
}

function sameSecret(a: string, b: string): boolean {
  // Compare digests so the comparison takes the same time whatever the lengths.
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** What TenancyService uses of the app, and nothing more. */
export type TenancyDeps = Pick<App, "config" | "db">;

export class TenancyService {
  /** The tenant's general settings (currency, time zone, locale, phone region). */
  readonly settings: TenantSettingsService;

  constructor(private readonly app: TenancyDeps) {
    this.settings = new TenantSettingsService(app);
  }

  /** The principal a bearer token stands for, or null when it is unknown, expired or revoked. */
  async authenticate(token: string | undefined | null): Promise<Principal | null> {
    if (!token || token.length > 500) return null;
    const { platformKey } = this.app.config;
    if (platformKey && sameSecret(token, platformKey)) return { kind: "platform" };
    const rows: { id: string; tenant_id: string; scopes: string[]; expires_at: Date | string | null }[] = await this.app.db.dataSource.query(
      `SELECT id, tenant_id, scopes, expires_at FROM api_keys
        WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [hashApiKey(token)],
    );
    const row = rows[0];
    return row
      ? { kind: "api_key", keyId: row.id, tenantId: row.tenant_id, scopes: new Set(row.scopes), expiresAt: row.expires_at ? new Date(row.expires_at) : null }
      : null;
  }

  /** Whether a principal authenticated earlier is still good (checked when a graphql-ws operation starts). */
  async stillValid(principal: Principal): Promise<boolean> {
    if (principal.kind !== "api_key") return true;
    const rows = await this.app.db.dataSource.query(
      `SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [principal.keyId],
    );
    return rows.length > 0;
  }

  /**
   * Start-up: with CRM_BOOTSTRAP_TENANT_KEY, make sure tenant "default" has that admin key (idempotent).
   * Without it, on an empty database, create "default" with a generated key and print it once.
   */
  async bootstrap(log: Logger, print: (line: string) => void): Promise<void> {
    const bootstrapKey = this.app.config.bootstrapTenantKey;
    await this.app.db.dataSource.transaction(async (m) => {
      // One start-up at a time, so two instances starting together create one default tenant.
      await m.query(`SELECT pg_advisory_xact_lock(hashtext('crm.bootstrap'))`);
      if (bootstrapKey) {
        let tenant = await m.findOne(Tenant, { where: { name: DEFAULT_TENANT } });
        if (!tenant) tenant = await m.save(m.create(Tenant, { name: DEFAULT_TENANT, createdAt: new Date() }));
        const hash = hashApiKey(bootstrapKey);
        const existing = await m.findOne(ApiKey, { where: { keyHash: hash } });
        if (!existing) {
          await m.insert(ApiKey, {
            tenantId: tenant.id,
            name: "bootstrap",
            keyHash: hash,
            prefix: keyPrefix(bootstrapKey),
            scopes: ["admin"],
            createdAt: new Date(),
          });
          log.info({ tenant: DEFAULT_TENANT }, "bootstrap admin key installed");
        } else if (existing.tenantId !== tenant.id) {
          throw new Error("CRM_BOOTSTRAP_TENANT_KEY is already a key of another tenant");
        } else if (existing.revokedAt || existing.expiresAt || !existing.scopes.includes("admin")) {
          // The operator configured this key: configuration wins over a revocation made through the API.
          await m.update(ApiKey, { id: existing.id }, { revokedAt: null, expiresAt: null, scopes: ["admin"] });
          log.warn({ tenant: DEFAULT_TENANT }, "bootstrap admin key re-enabled from CRM_BOOTSTRAP_TENANT_KEY");
        }
        return;
      }
      if ((await m.count(Tenant)) > 0) return;
      const tenant = await m.save(m.create(Tenant, { name: DEFAULT_TENANT, createdAt: new Date() }));
      const key = generateApiKey();
      await m.insert(ApiKey, {
        tenantId: tenant.id,
        name: "generated at first start",
        keyHash: hashApiKey(key),
        prefix: keyPrefix(key),
        scopes: ["admin"],
        createdAt: new Date(),
      });
      print(`Admin API key for tenant "${DEFAULT_TENANT}": ${key}`);
    });
  }

  async tenantById(id: string): Promise<Tenant | null> {
    return this.app.db.dataSource.manager.findOne(Tenant, { where: { id } });
  }

  async createTenant(ctx: Ctx, name: string): Promise<Result<{ tenant: Tenant; apiKey: string }>> {
    if (ctx.principal.kind !== "platform") throw new Error("createTenant needs the platform principal (missing scope guard?)");
    const trimmed = name.trim();
    const errors = validateName(trimmed, ["name"], 100);
    if (errors.length) return fail(...errors);
    return inTransaction(ctx, async (tx) => {
      await tx.manager.query(`SELECT pg_advisory_xact_lock(hashtext('crm.tenant-name'), hashtext($1))`, [trimmed]);
      if (await tx.manager.exists(Tenant, { where: { name: trimmed } })) {
        return fail(userError(["name"], UserErrorCode.TAKEN, `A tenant named "${trimmed}" exists`));
      }
      const tenant = await tx.manager.save(tx.manager.create(Tenant, { name: trimmed, createdAt: new Date() }));
      const apiKey = generateApiKey();
      await tx.manager.insert(ApiKey, {
        tenantId: tenant.id,
        name: "admin",
        keyHash: hashApiKey(apiKey),
        prefix: keyPrefix(apiKey),
        scopes: ["admin"],
        createdAt: new Date(),
      });
      return ok({ tenant, apiKey });
    });
  }

  /** Platform: for any tenant (tenantId required). Tenant admin: for its own tenant only. */
  async createApiKey(ctx: Ctx, args: CreateApiKeyArgs): Promise<Result<{ key: ApiKey; apiKey: string }>> {
    const errors: UserError[] = [];
    let tenantId: string | null = null;
    if (ctx.principal.kind === "platform") {
      if (!args.tenantId) errors.push(userError(["tenantId"], UserErrorCode.REQUIRED, "tenantId is required with the platform key"));
      else {
        tenantId = localId(args.tenantId, "Tenant");
        if (!tenantId || !(await this.tenantById(tenantId))) {
          errors.push(userError(["tenantId"], UserErrorCode.NOT_FOUND, "No such tenant"));
        }
      }
    } else {
      tenantId = tenantOf(ctx);
      if (args.tenantId && localId(args.tenantId, "Tenant") !== tenantId) {
        // Another tenant's id looks exactly like an unknown one: nothing about it is revealed.
        errors.push(userError(["tenantId"], UserErrorCode.NOT_FOUND, "No such tenant"));
      }
    }
    const name = args.name.trim();
    errors.push(...validateName(name, ["name"], 100));
    if (args.scopes.length === 0) errors.push(userError(["scopes"], UserErrorCode.REQUIRED, "Give at least one scope"));
    args.scopes.forEach((raw, i) => {
      const s = raw.trim();
      if (!knownScopes().includes(s)) {
        errors.push(userError(["scopes", String(i)], UserErrorCode.INVALID, `Unknown scope "${s}"; known: ${knownScopes().join(", ")}`));
      }
    });
    const scopes = [...new Set(args.scopes.map((s) => s.trim()))];
    if (args.expiresAt && args.expiresAt.getTime() <= Date.now()) {
      errors.push(userError(["expiresAt"], UserErrorCode.INVALID, "expiresAt must be in the future"));
    }
    if (errors.length) return fail(...errors);
    const apiKey = generateApiKey();
    const key = await this.app.db.dataSource.manager.save(
      this.app.db.dataSource.manager.create(ApiKey, {
        tenantId: tenantId!,
        name,
        keyHash: hashApiKey(apiKey),
        prefix: keyPrefix(apiKey),
        scopes,
        expiresAt: args.expiresAt ?? null,
        revokedAt: null,
        createdAt: new Date(),
      }),
    );
    return ok({ key, apiKey });
  }

  async revokeApiKey(ctx: Ctx, globalId: string): Promise<Result<ApiKey>> {
    const id = localId(globalId, "ApiKey");
    return inTransaction(ctx, async (tx) => {
      const where = ctx.principal.kind === "platform" ? { id: id ?? undefined } : { id: id ?? undefined, tenantId: tenantOf(ctx) };
      const key = id ? await tx.manager.findOne(ApiKey, { where, lock: { mode: "pessimistic_write" } }) : null;
      if (!key) return fail(userError(["id"], UserErrorCode.NOT_FOUND, "No such API key"));
      if (!key.revokedAt) {
        key.revokedAt = new Date();
        await tx.manager.update(ApiKey, { id: key.id }, { revokedAt: key.revokedAt });
        tx.emit({ type: "api_key.revoked", tenantId: key.tenantId, keyId: key.id });
      }
      return ok(key);
    });
  }

  async listApiKeys(ctx: Ctx): Promise<ApiKey[]> {
    return this.app.db.dataSource.manager.find(ApiKey, {
      where: { tenantId: tenantOf(ctx), revokedAt: IsNull() },
      order: { createdAt: "ASC" },
    });
  }

  canManageKeys(principal: Principal): boolean {
    return principal.kind === "platform" || hasScope(principal, "admin");
  }
}

function validateName(name: string, field: string[], max: number): UserError[] {
  if (!name) return [userError(field, UserErrorCode.REQUIRED, "Must not be empty")];
  if (name.length > max) return [userError(field, UserErrorCode.TOO_LONG, `At most ${max} characters`)];
  return [];
}
