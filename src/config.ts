import { z } from "zod";
import { parseSecretKeys } from "./core/secrets";

/**
 * Every setting the server reads from the environment, validated once at start.
 * A bad value stops start with a one-line reason (see `loadConfig`).
 */
const intFrom = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).optional().default("development"),
  PORT: intFrom(4000, 0, 65535),
  DATA_DIR: optionalString.transform((v) => v ?? "./data"),
  DATABASE_URL: optionalString.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
    message: "must be a postgres:// or postgresql:// URL",
  }),
  PUBLIC_URL: optionalString.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), {
    message: "must be an http(s) URL",
  }),
  CRM_BOOTSTRAP_TENANT_KEY: optionalString.refine((v) => v === undefined || (v.length >= 16 && v.length <= 200), {
    message: "must be 16 to 200 characters",
  }),
  CRM_PLATFORM_KEY: optionalString.refine((v) => v === undefined || (v.length >= 16 && v.length <= 200), {
    message: "must be 16 to 200 characters",
  }),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional().default("info"),
  DB_POOL_SIZE: intFrom(10, 1, 200),
  DEFAULT_PHONE_REGION: z
    .string()
    .regex(/^[A-Z]{2}$/, "must be a two-letter ISO 3166 region code such as CN")
    .optional()
    .default("CN"),
  GRAPHQL_MAX_DEPTH: intFrom(12, 2, 100),
  GRAPHQL_MAX_ALIASES: intFrom(30, 1, 1000),
  GRAPHQL_MAX_COST: intFrom(50000, 100, 10_000_000),
  GRAPHQL_MAX_TOKENS: intFrom(5000, 100, 1_000_000),
  GRAPHQL_INTROSPECTION: z.enum(["true", "false"]).optional(),
  OUTBOX_POLL_MS: intFrom(1000, 0, 3_600_000),
  EXPORT_RETENTION_HOURS: intFrom(24, 1, 8760),
  OUTBOX_RETENTION_DAYS: intFrom(7, 1, 3650),
  AUDIT_RETENTION_DAYS: intFrom(365, 1, 36500),
  EVENT_RETRY_DELAY_SECONDS: intFrom(30, 1, 3600),
  EVENT_RETRY_LIMIT: intFrom(10, 0, 16),
  CRM_PLUGINS: optionalString,
  REDIS_URL: optionalString.refine((v) => v === undefined || /^rediss?:\/\//.test(v), { message: "must be a redis:// or rediss:// URL" }),
  CRM_SECRET_KEY: optionalString.refine((v) => typeof parseSecretKeys(v) !== "string", { message: "must be 32-byte keys, comma-separated, each as 64 hex digits or 44 base64 characters (openssl rand -base64 32)" }),
  CRM_DATA_KEY: optionalString.refine((v) => typeof parseSecretKeys(v) !== "string", { message: "must be 32-byte keys, comma-separated, each as 64 hex digits or 44 base64 characters (openssl rand -base64 32)" }),
});

export interface Config {
  env: "development" | "production" | "test";
  port: number;
  dataDir: string;
  /** Unset means the embedded PGlite database under `dataDir`. */
  databaseUrl?: string;
  /** Base of URLs we hand out (webhook URLs, download links). */
  publicUrl: string;
  bootstrapTenantKey?: string;
  platformKey?: string;
  logLevel: string;
  dbPoolSize: number;
  defaultPhoneRegion: string;
  graphql: { maxDepth: number; maxAliases: number; maxCost: number; maxTokens: number; introspection: boolean };
  /** How often undispatched outbox rows are polled for; 0 disables polling (dispatch then happens after each commit only). */
  outboxPollMs: number;
  /** Hours an export's file is kept after the export completed; then it is deleted and the download answers 410. */
  exportRetentionHours: number;
  /** Days a dispatched outbox row is kept (for inspection and replays by hand) before the hourly prune deletes it. */
  outboxRetentionDays: number;
  /** Days an audit record is kept before the daily prune deletes it. */
  auditRetentionDays: number;
  /**
   * Delivery of a domain event to one handler: the first retry after EVENT_RETRY_DELAY_SECONDS (to twice
   * that), each later one after twice the last, EVENT_RETRY_LIMIT retries in all; then a dead letter.
   */
  eventDelivery: { retryDelaySeconds: number; retryLimit: number };
  /** Module paths or package names of partner plugins to load besides the built-in adapters. */
  plugins: string[];
  /** Redis for GraphQL subscriptions across instances (REDIS_URL); unset: in-process. */
  redisUrl: string | undefined;
  /** Keys sealing channel secrets at rest (CRM_SECRET_KEY); empty: stored as given. */
  secretKeys: Buffer[];
  /** Keys encrypting personal data at rest (CRM_DATA_KEY; the first encrypts); empty: a key file in `dataDir`. */
  dataKeys: Buffer[];
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`Invalid configuration: ${issue.path.join(".")} ${issue.message}`);
  }
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ""),
    bootstrapTenantKey: e.CRM_BOOTSTRAP_TENANT_KEY,
    platformKey: e.CRM_PLATFORM_KEY,
    logLevel: e.LOG_LEVEL,
    dbPoolSize: e.DB_POOL_SIZE,
    defaultPhoneRegion: e.DEFAULT_PHONE_REGION,
    graphql: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxCost: e.GRAPHQL_MAX_COST,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      introspection: e.GRAPHQL_INTROSPECTION ? e.GRAPHQL_INTROSPECTION === "true" : true,
    },
    outboxPollMs: e.OUTBOX_POLL_MS,
    exportRetentionHours: e.EXPORT_RETENTION_HOURS,
    outboxRetentionDays: e.OUTBOX_RETENTION_DAYS,
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    eventDelivery: { retryDelaySeconds: e.EVENT_RETRY_DELAY_SECONDS, retryLimit: e.EVENT_RETRY_LIMIT },
    plugins: e.CRM_PLUGINS ? e.CRM_PLUGINS.split(",").map((x) => x.trim()).filter(Boolean) : [],
    secretKeys: parseSecretKeys(e.CRM_SECRET_KEY) as Buffer[],
    dataKeys: parseSecretKeys(e.CRM_DATA_KEY) as Buffer[],
    redisUrl: e.REDIS_URL,
  };
}
