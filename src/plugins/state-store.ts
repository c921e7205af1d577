import type { DataSource } from "typeorm";
import type { SecretBox } from "../core/secrets";
import type { KeyValueStore } from "./types";

/**
 * A plugin's key–value state in the `plugin_state` table, scoped by plugin and connection. Values are
 * sealed with CRM_SECRET_KEY when one is set (plugins keep access tokens here).
 */
export class PluginStateStore implements KeyValueStore {
  constructor(
    private readonly ds: DataSource,
    private readonly plugin: string,
    private readonly connectionId: string,
    private readonly secrets: SecretBox,
  ) {}

  private sealed(value: unknown): string {
    return JSON.stringify(this.secrets.seal(value ?? null));
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const rows: { value: T }[] = await this.ds.query(
      `SELECT value FROM plugin_state WHERE plugin = $1 AND connection_id = $2 AND key = $3 AND (expires_at IS NULL OR expires_at > now())`,
      [this.plugin, this.connectionId, key],
    );
    return rows.length ? (this.secrets.open(rows[0].value) as T) : undefined;
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    await this.ds.query(
      `INSERT INTO plugin_state (plugin, connection_id, key, value, expires_at, updated_at)
       VALUES ($1, $2, $3, $4::jsonb, CASE WHEN $5::int IS NULL THEN NULL ELSE now() + make_interval(secs => $5::int) END, now())
       ON CONFLICT (plugin, connection_id, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = now()`,
      [this.plugin, this.connectionId, key, this.sealed(value), ttlSeconds ?? null],
    );
  }

  async setIfAbsent(key: string, value: unknown, ttlSeconds?: number): Promise<boolean> {
    // One statement: insert, or take over an expired row; a live row wins and nothing is returned.
    const rows = await this.ds.query(
      `INSERT INTO plugin_state (plugin, connection_id, key, value, expires_at, updated_at)
       VALUES ($1, $2, $3, $4::jsonb, CASE WHEN $5::int IS NULL THEN NULL ELSE now() + make_interval(secs => $5::int) END, now())
       ON CONFLICT (plugin, connection_id, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = now()
         WHERE plugin_state.expires_at IS NOT NULL AND plugin_state.expires_at <= now()
       RETURNING key`,
      [this.plugin, this.connectionId, key, this.sealed(value), ttlSeconds ?? null],
    );
    return rows.length > 0;
  }

  async delete(key: string): Promise<void> {
    await this.ds.query(`DELETE FROM plugin_state WHERE plugin = $1 AND connection_id = $2 AND key = $3`, [this.plugin, this.connectionId, key]);
  }
}
