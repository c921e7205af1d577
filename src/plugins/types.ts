import type { Logger } from "pino";
import type { ZodType } from "zod";
import type { Delivered, DomainEventType, EventOf } from "../events/types";
import type { NormalizedEventInput } from "./events";
import { registerIdentityTypes, type IdentityTypeDefinition, type IdentityTypeName } from "./identity";

/** An HTTP request to `/channels/<channel>/<connectionId>`, as the plugin sees it. */
export interface ChannelRequest {
  method: "GET" | "POST";
  headers: Readonly<Record<string, string>>;
  /** Query string parameters (first value of each). */
  query: Readonly<Record<string, string>>;
  /** The body exactly as received: signatures are computed over these bytes. */
  rawBody: Buffer;
  receivedAt: Date;
}

/** One merchant account on a channel: the plugin's validated config plus where it belongs. */
export interface ChannelConnectionInfo<C = unknown> {
  id: string;
  tenantId: string;
  channel: string;
  name: string;
  config: C;
}

/** What the host sends back; `body` objects are sent as JSON, strings as text/plain unless headers say otherwise. */
export interface ChannelResponse {
  status?: number;
  headers?: Record<string, string>;
  body: string | Buffer | object;
}

/** Per-event outcome of ingestion, in request order. */
export interface IngestResult {
  externalId: string;
  status: "accepted" | "duplicate" | "rejected";
  reason?: string;
}

/** The request is not authentic (bad signature, stale timestamp, replay, wrong app): answered 401, nothing written. */
export class VerificationError extends Error {
  readonly status = 401;
  override readonly name = "VerificationError";
}

/** The payload is authentic but cannot be understood: answered 400 with the message, nothing written. */
export class NormalizationError extends Error {
  readonly status = 400;
  override readonly name = "NormalizationError";
}

/** A small key–value store per plugin and connection (cursors, tokens, seen nonces). Values are JSON. */
export interface KeyValueStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>;
  /**
   * Sets the key only if absent (or expired); true when it was set. Use it for replay protection.
   * Keys a channel's `verify` creates with it are deleted again by the host if ingesting that request
   * then fails (answered 503), so the channel's retry of the same request is not taken for a replay.
   */
  setIfAbsent(key: string, value: unknown, ttlSeconds?: number): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** What the host lends a plugin: no entities or repositories, only these. */
export interface PluginContext<C = unknown> {
  log: Logger;
  /** State scoped to this plugin and connection. */
  state(connectionId: string): KeyValueStore;
  /** Runs events through the ingestion pipeline as if they had arrived on that connection. */
  ingest(connectionId: string, events: NormalizedEventInput[]): Promise<IngestResult[]>;
  customers: {
    findByIdentity(tenantId: string, type: IdentityTypeName, value: string): Promise<{ id: string } | null>;
    /**
     * A read-only snapshot of a customer of `tenantId` (local id, as `findByIdentity` returns): profile,
     * identities and marketing consent — what an outbound plugin (a CRM sync, an e-mail sender) needs.
     * Null if there is no such customer. A copy: changing it changes nothing.
     */
    get(tenantId: string, customerId: string): Promise<CustomerSnapshot | null>;
    /** The identities of a customer of `tenantId` (local id, as `findByIdentity` returns), oldest first; null if there is no such customer. */
    identities(tenantId: string, customerId: string): Promise<{ type: IdentityTypeName; value: string }[] | null>;
  };
  /** Enabled connections of this plugin's channel, across tenants. */
  connections(): Promise<ChannelConnectionInfo<C>[]>;
}

export interface ChannelDefinition<C = unknown> {
  /**
   * Checks authenticity and returns the payload to normalize (parsed, decrypted…). Throw only
   * VerificationError (answered 401); a body that is authentic but unreadable is passed on for
   * `normalize` to refuse. Must not write anything but replay markers in `ctx.state`.
   */
  verify(req: ChannelRequest, connection: ChannelConnectionInfo<C>, ctx: PluginContext<C>): unknown | Promise<unknown>;
  /** Turns a verified payload into events (possibly none). Throw NormalizationError to answer 400. */
  normalize(payload: unknown, connection: ChannelConnectionInfo<C>): NormalizedEventInput[] | Promise<NormalizedEventInput[]>;
  /** GET on the webhook path (URL verification handshakes). Without it GET answers 405. */
  handshake?(req: ChannelRequest, connection: ChannelConnectionInfo<C>, ctx: PluginContext<C>): ChannelResponse | Promise<ChannelResponse>;
  /** The answer the channel expects after ingestion. Default: 200 `{ results }`. */
  acknowledge?(results: IngestResult[], payload: unknown, connection: ChannelConnectionInfo<C>): ChannelResponse;
  /** The channel's error form for a rejected request. Default: `{ error, reason }` with the status. */
  reject?(status: number, reason: string): ChannelResponse;
}

export type EventHandlers<C> = {
  [T in DomainEventType]?: (event: Delivered<EventOf<T>>, ctx: PluginContext<C>) => Promise<void> | void;
};

/**
 * A plugin's periodic work. With `cron` it runs on the job queue once per cluster, whatever the
 * number of instances, one run at a time (a run that outlasts its period delays the next; a failed run
 * is counted and logged, and the next period runs again). With only
 * `everyMs` it runs on a timer in every instance (the plugin must then keep instances from doing the
 * same work twice). Give one of the two.
 */
export interface JobDefinition<C = unknown> {
  name: string;
  /** Five-field cron expression in UTC (minute granularity), e.g. `"*\/10 * * * *"`. */
  cron?: string;
  /** Interval between the end of one run and the start of the next, in this instance. */
  everyMs?: number;
  run(ctx: PluginContext<C>): Promise<void>;
}

/** What `PluginContext.customers.get` returns. Times are ISO-8601 strings; money is not part of it. */
export interface CustomerSnapshot {
  /** Local id (use `customerGlobalId` for the API's id). */
  id: string;
  displayName: string | null;
  phone: string | null;
  email: string | null;
  gender: "MALE" | "FEMALE" | "UNKNOWN";
  birthday: string | null;
  locale: string | null;
  region: { country: string | null; province: string | null; city: string | null };
  tags: string[];
  attributes: Record<string, unknown>;
  identities: { type: IdentityTypeName; value: string; sourceChannel: string | null }[];
  /** Marketing consent per channel (SMS, EMAIL, WECHAT, …); a channel not listed was never asked. */
  marketingConsent: { channel: string; granted: boolean; updatedAt: string }[];
  /**
   * Every consent per purpose (`MARKETING` per channel, `SENSITIVE_DATA`, `CROSS_BORDER_TRANSFER`): read it just
   * before you act — a CRM sync to a data centre abroad needs `CROSS_BORDER_TRANSFER` granted. Absent: never asked.
   */
  consents: { purpose: string; channel: string | null; granted: boolean; updatedAt: string }[];
  createdAt: string;
  updatedAt: string;
}

/** The version of this contract (types, context, conformance kit). Plugins declare a semver range of it in `compatibility`. */
export const PLUGIN_CONTRACT_VERSION = "1.3.0";

export interface PluginDefinition<C = unknown> {
  /** Unique; also the channel name in `/channels/<name>/…` and `createChannelConnection(channel:)`. */
  name: string;
  version: string;
  /**
   * The semver range of the plugin contract ({@link PLUGIN_CONTRACT_VERSION}) the plugin was written
   * for, e.g. `"^1.0.0"`. The host refuses to load a plugin whose range excludes the running contract,
   * with the reason; a plugin without one loads with a warning.
   */
  compatibility?: string;
  description?: string;
  /** Validates a connection's config; bad config becomes `userErrors` with field ["config", key]. */
  configSchema?: ZodType<C>;
  /** Config keys never returned by the API. */
  secretKeys?: readonly string[];
  channel?: ChannelDefinition<C>;
  /**
   * Identity types the channel knows customers by, beyond the core ones (`phone`, `email`,
   * `wechat_unionid`, `wechat_openid`, `external`, `zoho_contact`) — e.g. `{ name: "youzan_buyer",
   * importHeaders: ["有赞买家ID"] }`. Registered when the plugin is defined: events may carry them, the
   * GraphQL enum `IdentityType` gains their upper-case names, imports read their headers, and they rank
   * after phone and e-mail in the default identity precedence.
   */
  identityTypes?: readonly IdentityTypeDefinition[];
  /**
   * Handlers of committed domain events, each delivery a job of the plugin's own queue
   * (`plugin:<name>`, so keep the name stable): a handler that throws is retried with backoff for
   * hours, then left as a dead letter. Delivery is at least once: make handlers idempotent with
   * `event.eventId`.
   */
  onEvent?: EventHandlers<C>;
  jobs?: JobDefinition<C>[];
  /**
   * type-graphql resolver classes adding operations to the API (e.g. a channel's login mutation).
   * They reach plugin services through `pluginRequest(ctx, name)`; they never see entities.
   */
  resolvers?: readonly Function[];
  init?(ctx: PluginContext<C>): Promise<void> | void;
  /** Shutdown: receives the same context `init` got. */
  destroy?(ctx: PluginContext<C>): Promise<void> | void;
}

/** Declares a plugin (type checking for partners) and registers the identity types it brings. */
export function definePlugin<C>(definition: PluginDefinition<C>): PluginDefinition<C> {
  if (definition.identityTypes?.length) registerIdentityTypes(definition.name, definition.identityTypes);
  return definition;
}
