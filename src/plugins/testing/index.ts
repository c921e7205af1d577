/// <reference types="jest" />
/**
 * The adapter conformance kit: every channel adapter — ours and partners' — runs
 * {@link adapterConformance} in its tests. It declares Jest `describe`/`it` blocks, so call it at
 * the top level of a test file:
 *
 * ```ts
 * import { adapterConformance, channelRequest } from "<crm>/src/plugins/testing";
 * import plugin from "./index";
 *
 * adapterConformance(plugin, {
 *   connection: { config: { secret: "a-long-shared-secret" } },
 *   valid: [{ name: "new member", request: (conn) => signedRequest(conn, memberJson), types: ["customer.upserted"] }],
 *   invalid: [{ name: "wrong secret", request: (conn) => signedRequest(conn, memberJson, "another-secret"), expect: 401 }],
 * });
 * ```
 */
import type { NormalizedEventType } from "../events";
import type { ChannelConnectionInfo, ChannelRequest, PluginDefinition } from "../types";
import { resolveRequest, DEFAULT_LIMITS, type CheckLimits, type RequestFixture } from "./calls";
import {
  buildConnection,
  checkDeterminism,
  checkHandshake,
  checkInvalidFixture,
  checkPluginIdentity,
  checkResponses,
  checkValidFixture,
} from "./check-fixtures";
import { checkAuthenticGarbage, checkBodyTamper, checkCredentialRequired, checkGarbagePayloads, checkGarbageRequests, checkSignedPartTamper } from "./check-tampering";
import { withRequest } from "./requests";
import { isIntegrity, type Integrity } from "./signed-part";

export { InMemoryKeyValueStore, testPluginContext, type TestPluginContext, type TestPluginContextOptions } from "./context";
export { channelRequest, type ChannelRequestInit } from "./requests";
export { DEFAULT_LIMITS, MIN_TAMPER_POSITIONS, type CheckLimits, type RequestFixture } from "./calls";
export { buildConnection, checkDeterminism, checkHandshake, checkInvalidFixture, checkPluginIdentity, checkResponses, checkValidFixture } from "./check-fixtures";
export { checkAuthenticGarbage, checkBodyTamper, checkCredentialRequired, checkGarbagePayloads, checkGarbageRequests, checkSignedPartTamper } from "./check-tampering";
export { partBetween, type ByteRange, type Integrity, type SignedPartIntegrity } from "./signed-part";

/**
 * The merchant's connection the fixtures belong to, like a {@link ChannelConnectionInfo} whose
 * `config` is what the merchant enters: the kit parses it with the plugin's `configSchema` (as the
 * host does) and hands the parsed connection to request builders, verify and normalize.
 */
export interface ConnectionFixture {
  config: unknown;
  /** Default: a fixed UUID. */
  id?: string;
  tenantId?: string;
  name?: string;
}

/** An authentic, well-formed request the adapter must turn into schema-valid events. */
export interface ValidFixture<C = unknown> {
  /** Shown in test names; unique within the fixtures. */
  name: string;
  /**
   * The request, or a builder called each time it is needed. Use a builder when the signature
   * covers a timestamp, so every check sees a fresh one; it receives the parsed connection, whose
   * config holds the secret to sign with.
   */
  request: RequestFixture<C>;
  /** When given, normalize must produce exactly these event types, in this order. */
  types?: NormalizedEventType[];
  /**
   * This fixture's integrity, when it differs from {@link AdapterFixtures.integrity}: for a channel
   * with two forms, such as WeChat's plain mode (`"credential"`) and safe mode (`{ signedPart }`).
   */
  integrity?: Integrity;
}

/** A request the adapter must refuse, and how. */
export interface InvalidFixture<C = unknown> {
  name: string;
  request: RequestFixture<C>;
  /**
   * 401: `verify` throws VerificationError (not authentic).
   * 400: `verify` passes and `normalize` throws NormalizationError (authentic but not understood).
   */
  expect: 401 | 400;
  /** When given, the error message must contain this string or match this pattern. */
  reason?: string | RegExp;
}

/** A GET handshake and the answer the channel expects. */
export interface HandshakeFixture<C = unknown> {
  name: string;
  request: RequestFixture<C>;
  /** Default 200. */
  status?: number;
  /** When given, the response body must equal it (Buffers compared as UTF-8 text). */
  body?: unknown;
}

/** Everything {@link adapterConformance} needs to know about an adapter beyond the plugin itself. */
export interface AdapterFixtures<C = unknown> {
  connection: ConnectionFixture;
  /** At least one. Prefer real samples from the channel's documentation or logs, anonymised. */
  valid: ValidFixture<C>[];
  invalid?: InvalidFixture<C>[];
  handshakes?: HandshakeFixture<C>[];
  /**
   * What makes a request authentic; decides the tamper checks.
   * - `"body-signature"` (default): a MAC or signature covers the raw body (HMAC headers, WeChat,
   *   Youzan…). Cutting, extending or changing any single byte of a valid body must fail verify.
   * - `"credential"`: a shared token or key in a header or the query string, no body signature
   *   (TLS protects the body). The same request without headers and query must fail verify.
   * - `{ signedPart: (body) => ranges }`: the signature covers only part of the body, e.g. one field
   *   of an unsigned envelope (Youzan's classic push, WeChat's safe mode). `signedPart` returns the
   *   byte range(s) `{ start, end }` (end exclusive) of the body the kit is given; changing any
   *   single byte inside them, or cutting or extending them, must fail verify. Bytes outside may
   *   change freely. See {@link SignedPartIntegrity} and {@link partBetween}.
   *
   * A valid fixture's own `integrity` overrides this one.
   */
  integrity?: Integrity;
  /**
   * Builds an authentic request around any body (signs it with the connection's secret). With it,
   * the kit drives random and mutated bodies through verify *and* normalize, which a signed channel
   * otherwise never lets through. For `"credential"` channels the kit derives one from the first
   * valid fixture (its headers and query with the new body).
   */
  authenticRequest?: (rawBody: Buffer, connection: ChannelConnectionInfo<C>) => ChannelRequest | Promise<ChannelRequest>;
  /** Property-based effort and per-call deadline; defaults in {@link DEFAULT_LIMITS}. */
  limits?: Partial<CheckLimits>;
}

/**
 * Declares the conformance tests of a channel adapter:
 * - the plugin has a URL-safe `name`, a semantic `version`, and a channel with `verify` and `normalize`;
 * - `configSchema` accepts the fixture config, and every `secretKeys` entry is a key of it;
 * - every valid fixture verifies and normalizes to events that all pass `parseNormalizedEvent`,
 *   with distinct externalIds (and the declared `types`, if any);
 * - normalizing the same payload twice, or verifying and normalizing a redelivery, gives the same externalIds;
 * - `"body-signature"`: any single-byte change (64+ spread positions plus random ones, random xor
 *   values), a cut or an extension of a signed body fails verify; `{ signedPart }`: the same inside
 *   the signed ranges, while changes outside them end only in a payload or VerificationError;
 *   `"credential"`: removing headers and query fails verify;
 * - damaged requests, random payloads and (with `authenticRequest`) authentic requests around random
 *   bodies never make verify throw anything but VerificationError, nor normalize anything but
 *   NormalizationError, and no call takes longer than the deadline;
 * - each invalid fixture fails with its declared status; handshakes answer as declared;
 * - `acknowledge` and `reject`, when present, answer with a sendable response.
 */
export function adapterConformance<C>(plugin: PluginDefinition<C>, fixtures: AdapterFixtures<C>): void {
  checkFixtures(fixtures);
  const limits: CheckLimits = { ...DEFAULT_LIMITS, ...fixtures.limits };
  const integrity = fixtures.integrity ?? "body-signature";
  let connection: Promise<ChannelConnectionInfo<C>> | undefined;
  const conn = () => (connection ??= buildConnection(plugin, fixtures.connection));

  let authenticRequest = fixtures.authenticRequest;
  if (!authenticRequest && integrity === "credential") {
    authenticRequest = async (rawBody, c) => withRequest(await resolveRequest(fixtures.valid[0], c), { rawBody });
  }

  describe(`adapter conformance: ${plugin.name}`, () => {
    it("has a URL-safe name, a semantic version and a channel with verify and normalize", () => {
      checkPluginIdentity(plugin as PluginDefinition<unknown>);
    });

    it("accepts the fixture connection config, which holds every secretKeys entry", async () => {
      await conn();
    });

    for (const f of fixtures.valid) {
      describe(`valid fixture "${f.name}"`, () => {
        it("verifies and normalizes to schema-valid events with distinct externalIds", async () => {
          await checkValidFixture(plugin, await conn(), f, limits);
        });

        it("gives the same externalIds when normalized again or redelivered", async () => {
          await checkDeterminism(plugin, await conn(), f, limits);
        });

        const mode = f.integrity ?? integrity;
        if (mode === "body-signature") {
          it("fails verify when any single byte of the body changes, or the body is cut or extended", async () => {
            await checkBodyTamper(plugin, await conn(), f, limits);
          });
        } else if (typeof mode === "object") {
          it("fails verify when any single byte of the signed part changes, or the signed part is cut or extended", async () => {
            await checkSignedPartTamper(plugin, await conn(), f, mode, limits);
          });
        } else {
          it("fails verify without its headers and query parameters", async () => {
            await checkCredentialRequired(plugin, await conn(), f, limits);
          });
        }

        it("answers damaged headers, query, body and receive time only with VerificationError or NormalizationError", async () => {
          await checkGarbageRequests(plugin, await conn(), f, limits);
        });
      });
    }

    for (const f of fixtures.invalid ?? []) {
      it(`answers invalid fixture "${f.name}" with ${f.expect}`, async () => {
        await checkInvalidFixture(plugin, await conn(), f, limits);
      });
    }

    for (const f of fixtures.handshakes ?? []) {
      it(`answers handshake "${f.name}" with ${f.status ?? 200}`, async () => {
        await checkHandshake(plugin, await conn(), f, limits);
      });
    }

    it("normalizes random and mutated payloads to an array or NormalizationError, in time", async () => {
      await checkGarbagePayloads(plugin, await conn(), fixtures.valid, limits);
    });

    if (authenticRequest) {
      const build = authenticRequest;
      it("takes authentic requests with random or mutated bodies to events, VerificationError or NormalizationError", async () => {
        await checkAuthenticGarbage(plugin, await conn(), fixtures.valid, build, limits);
      });
    }

    if (plugin.channel?.acknowledge || plugin.channel?.reject) {
      it("answers acknowledge and reject with a sendable response", async () => {
        await checkResponses(plugin, await conn(), fixtures.valid[0], limits);
      });
    }
  });
}

/** Mistakes in the fixtures themselves fail loudly at declaration, not as confusing test failures. */
function checkFixtures<C>(fixtures: AdapterFixtures<C>): void {
  if (!fixtures || typeof fixtures !== "object") throw new Error("adapterConformance: fixtures are required");
  if (!fixtures.connection || typeof fixtures.connection !== "object" || !("config" in fixtures.connection)) {
    throw new Error("adapterConformance: fixtures.connection must be an object with a config");
  }
  if (!Array.isArray(fixtures.valid) || fixtures.valid.length === 0) throw new Error("adapterConformance: at least one valid fixture is required");
  const names = new Set<string>();
  for (const f of [...fixtures.valid, ...(fixtures.invalid ?? []), ...(fixtures.handshakes ?? [])]) {
    if (typeof f.name !== "string" || !f.name) throw new Error("adapterConformance: every fixture needs a name");
    if (names.has(f.name)) throw new Error(`adapterConformance: fixture name "${f.name}" is used twice`);
    names.add(f.name);
  }
  for (const f of fixtures.invalid ?? []) {
    if (f.expect !== 401 && f.expect !== 400) throw new Error(`adapterConformance: invalid fixture "${f.name}" must expect 401 or 400`);
  }
  for (const [where, integrity] of [["integrity", fixtures.integrity], ...fixtures.valid.map((f) => [`valid fixture "${f.name}": integrity`, f.integrity])]) {
    if (integrity !== undefined && !isIntegrity(integrity)) {
      throw new Error(`adapterConformance: ${where} must be "body-signature", "credential" or { signedPart: (body) => ranges }`);
    }
  }
}
