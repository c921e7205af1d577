import type { ExecutionResult, GraphQLError, GraphQLFormattedError } from "graphql";

/**
 * One `JSON.stringify` per shared result, however many sockets it goes to. graphql-ws builds each `next` message as
 * `{"id":…,"type":"next","payload":…}` and serializes it whole, per subscriber: 10,000 members of one shared
 * subscription group (shared-subscriptions.ts) would serialize the same payload 10,000 times. Here the payload object
 * is one per result (`payloadOf`, graphql-ws's `onNext`), the message replacer (`messageReplacer`) swaps it for a short
 * token, and the socket's `send` (`expand`) puts the payload's JSON, serialized once, where the token stands.
 *
 * The token is the last member of the message (graphql-ws writes `id`, `type`, `payload` in that order), so `expand`
 * looks only at the message's end: a client-chosen `id` that looks like a token changes nothing. Tokens are kept for
 * the most recent results only: graphql-ws sends a message in the same call that serialized it.
 */
export class SharedPayloads {
  private readonly payloads = new WeakMap<ExecutionResult, Record<string, unknown>>();
  private readonly tokens = new WeakMap<object, string>();
  private readonly json = new Map<string, string>();
  private next = 0;

  private readonly formatError: (e: GraphQLError) => GraphQLFormattedError;
  private readonly keep: number;

  constructor(
    private readonly options: {
      /** How an error goes on the wire (masking, logging), applied once per result. */
      formatError?: (e: GraphQLError) => GraphQLFormattedError;
      /** Called for each payload serialized (for /metrics and tests). */
      onSerialized?: () => void;
      /** How many recent payloads stay expandable (default 1,024). */
      keep?: number;
    } = {},
  ) {
    this.formatError = options.formatError ?? ((e) => e.toJSON());
    this.keep = options.keep ?? 1024;
  }

  /** The payload graphql-ws sends for `result` (as it would build it), the same object for every subscriber. */
  payloadOf(result: ExecutionResult): Record<string, unknown> {
    let p = this.payloads.get(result);
    if (!p) {
      const { errors, ...rest } = result;
      p = { ...rest, ...(errors ? { errors: errors.map((e) => this.formatError(e)) } : {}) };
      this.payloads.set(result, p);
    }
    return p;
  }

  /**
   * graphql-ws's `jsonMessageReplacer`: a shared `next` payload becomes its token, serialized once. JSON.stringify
   * calls it with the object holding `key` as `this` (the message, for its `payload`).
   */
  messageReplacer(): (this: unknown, key: string, value: unknown) => unknown {
    const self = this;
    return function (this: unknown, key: string, value: unknown) {
      if (key !== "payload" || typeof value !== "object" || value === null) return value;
      if ((this as { type?: unknown }).type !== "next") return value;
      return self.tokenOf(value);
    };
  }

  private tokenOf(payload: object): string {
    let token = this.tokens.get(payload);
    if (!token) {
      token = `\u0000shared-payload:${this.next++}`;
      this.tokens.set(payload, token);
      this.json.set(token, JSON.stringify(payload));
      this.options.onSerialized?.();
      if (this.json.size > this.keep) this.json.delete(this.json.keys().next().value!);
    }
    return token;
  }

  /** The message as it goes on the wire: the token at its end, if any, replaced by the payload's JSON. */
  expand(data: string): string {
    // `,"payload":"\u0000shared-payload:<n>"}` — JSON.stringify writes the NUL as the six characters \u0000.
    const end = data.lastIndexOf(',"payload":"\\u0000shared-payload:');
    if (end < 0 || !data.endsWith('"}')) return data;
    const name = data.slice(end + 18, -2);
    if (!/^shared-payload:\d+$/.test(name)) return data;
    const token = `\u0000${name}`;
    const json = this.json.get(token);
    if (json === undefined) throw new Error(`shared payload ${token.slice(1)} is no longer kept`);
    return `${data.slice(0, end)},"payload":${json}}`;
  }
}
