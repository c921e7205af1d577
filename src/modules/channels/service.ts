import type { z } from "zod";
import type { App } from "../../app";
import { tenantOf, type Ctx } from "../../core/context";
import { localId, UUID } from "../../core/global-id";
import { paginate, SortDirection, type Connection, type ConnectionArgs } from "../../core/pagination";
import { SecretError } from "../../core/secrets";
import { inTransaction } from "../../core/transaction";
import { fail, ok, userError, UserErrorCode, type Result, type UserError } from "../../core/user-error";
import type { ChannelConnectionInfo, PluginDefinition } from "../../plugins/types";
import { ChannelConnection } from "./entity";

/** What ChannelsService uses of the app, and nothing more. */
export type ChannelsDeps = Pick<App, "config" | "db" | "plugins" | "secrets">;

/** Channel connections: which merchant accounts feed us, with each plugin's validated config. */
export class ChannelsService {
  constructor(private readonly app: ChannelsDeps) {}

  webhookUrl(c: ChannelConnection): string {
    return `${this.app.config.publicUrl}/channels/${encodeURIComponent(c.channel)}/${c.id}`;
  }

  /** The config as the API shows it: the plugin's secret keys are left out. */
  publicConfig(c: ChannelConnection): Record<string, unknown> {
    const secret = new Set(this.app.plugins.get(c.channel)?.secretKeys ?? []);
    return Object.fromEntries(Object.entries(c.config).filter(([k]) => !secret.has(k)));
  }

  /** The caller's connections (of one channel, if given), oldest first, one page. */
  list(ctx: Ctx, channel: string | null | undefined, args: ConnectionArgs): Promise<Connection<ChannelConnection>> {
    const qb = this.app.db.dataSource.manager.createQueryBuilder(ChannelConnection, "c").where("c.tenantId = :tenantId", { tenantId: tenantOf(ctx) });
    if (channel) qb.andWhere("c.channel = :channel", { channel });
    return paginate(qb, { args, sortColumn: "c.created_at", idColumn: "c.id", direction: SortDirection.ASC, sortValue: (c) => c.createdAt.toISOString(), id: (c) => c.id });
  }

  byId(ctx: Ctx, id: string): Promise<ChannelConnection | null> {
    return this.app.db.dataSource.manager.findOne(ChannelConnection, { where: { id, tenantId: tenantOf(ctx) } });
  }

  /** For the webhook path, where the connection id is what names the tenant. */
  async forWebhook(channel: string, id: string): Promise<ChannelConnectionInfo | null> {
    if (!UUID.test(id)) return null;
    const c = await this.app.db.dataSource.manager.findOne(ChannelConnection, { where: { id, channel, enabled: true } });
    if (!c) return null;
    return this.info(c);
  }

  /** Connection info with the config opened (secrets) and parsed by the plugin's schema (defaults applied). */
  info(c: ChannelConnection): ChannelConnectionInfo {
    const schema = this.app.plugins.get(c.channel)?.configSchema;
    const config = this.openSecrets(c.channel, c.config);
    const parsed = schema ? schema.safeParse(config) : null;
    return { id: c.id, tenantId: c.tenantId, channel: c.channel, name: c.name, config: parsed?.success ? parsed.data : config };
  }

  /** The plugin's secret keys sealed (CRM_SECRET_KEY), as stored. */
  private sealSecrets(channel: string, config: Record<string, unknown>): Record<string, unknown> {
    const secret = this.app.plugins.get(channel)?.secretKeys ?? [];
    return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, secret.includes(k) && v !== undefined && v !== null ? this.app.secrets.seal(v) : v]));
  }

  /** Stored config with sealed values opened (plain values, from before encryption was on, pass). */
  private openSecrets(channel: string, config: Record<string, unknown>): Record<string, unknown> {
    const secret = this.app.plugins.get(channel)?.secretKeys ?? [];
    return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, secret.includes(k) ? this.app.secrets.open(v) : v]));
  }

  async enabledOf(channel: string): Promise<ChannelConnectionInfo[]> {
    const rows = await this.app.db.dataSource.manager.find(ChannelConnection, { where: { channel, enabled: true } });
    return rows.map((c) => this.info(c));
  }

  async create(ctx: Ctx, input: { channel: string; name: string; config: Record<string, unknown> }): Promise<Result<ChannelConnection>> {
    const plugin = this.app.plugins.get(input.channel);
    const errors: UserError[] = [];
    if (!plugin?.channel) {
      errors.push(userError(["channel"], UserErrorCode.NOT_FOUND, `No channel plugin named "${input.channel}"; known: ${this.app.plugins.channelNames().join(", ")}`));
    }
    errors.push(...checkName(input.name));
    const config = plugin ? validateConfig(plugin, input.config, errors) : null;
    if (errors.length || !config) return fail(...errors);
    const now = new Date();
    const connection = await inTransaction(ctx, async (tx) => {
      const saved = await tx.manager.save(
        tx.manager.create(ChannelConnection, {
          tenantId: tenantOf(ctx),
          channel: input.channel,
          name: input.name.trim(),
          config: this.sealSecrets(input.channel, input.config),
          enabled: true,
          createdAt: now,
          updatedAt: now,
        }),
      );
      tx.emit({ type: "channel_connection.changed", tenantId: saved.tenantId, connectionId: saved.id, channel: saved.channel, change: "created" });
      return saved;
    });
    return ok(connection);
  }

  async update(ctx: Ctx, input: { id: string; name?: string | null; config?: Record<string, unknown> | null; enabled?: boolean | null }): Promise<Result<ChannelConnection>> {
    const id = localId(input.id, "ChannelConnection");
    const existing = id ? await this.byId(ctx, id) : null;
    if (!existing) return fail(userError(["id"], UserErrorCode.NOT_FOUND, "No such channel connection"));
    const errors: UserError[] = [];
    if (input.name != null) errors.push(...checkName(input.name));
    let config = existing.config;
    if (input.config) {
      // Secrets sent again need not be opened: that is how an operator recovers from a lost CRM_SECRET_KEY.
      const kept = Object.fromEntries(Object.entries(existing.config).filter(([k]) => !(k in input.config!)));
      try {
        config = { ...this.openSecrets(existing.channel, kept), ...input.config };
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        return fail(userError(["config"], UserErrorCode.INVALID, `The stored secrets cannot be opened (${err.message}); send them again in config`));
      }
      const plugin = this.app.plugins.get(existing.channel);
      if (plugin) validateConfig(plugin, config, errors);
    }
    if (errors.length) return fail(...errors);
    const wasEnabled = existing.enabled;
    existing.name = input.name?.trim() ?? existing.name;
    existing.config = input.config ? this.sealSecrets(existing.channel, config) : config;
    if (input.enabled != null) existing.enabled = input.enabled;
    existing.updatedAt = new Date();
    const change = existing.enabled === wasEnabled ? "updated" : existing.enabled ? "enabled" : "disabled";
    await inTransaction(ctx, async (tx) => {
      await tx.manager.save(existing);
      tx.emit({ type: "channel_connection.changed", tenantId: existing.tenantId, connectionId: existing.id, channel: existing.channel, change });
    });
    return ok(existing);
  }

  disable(ctx: Ctx, globalId: string): Promise<Result<ChannelConnection>> {
    return this.update(ctx, { id: globalId, enabled: false });
  }
}

function checkName(name: string): UserError[] {
  const n = name.trim();
  if (!n) return [userError(["name"], UserErrorCode.REQUIRED, "Must not be empty")];
  if (n.length > 100) return [userError(["name"], UserErrorCode.TOO_LONG, "At most 100 characters")];
  return [];
}

/** Runs the plugin's schema; each issue becomes a userError at ["config", …path]. */
function validateConfig(plugin: PluginDefinition<unknown>, config: Record<string, unknown>, errors: UserError[]): unknown {
  if (!plugin.configSchema) return config;
  const r = (plugin.configSchema as z.ZodType).safeParse(config);
  if (r.success) return r.data;
  for (const issue of r.error.issues) {
    const missing = issue.code === "invalid_type" && (issue as { input?: unknown }).input === undefined;
    errors.push(userError(["config", ...issue.path.map(String)], missing ? UserErrorCode.REQUIRED : UserErrorCode.INVALID, issue.message));
  }
  return null;
}
