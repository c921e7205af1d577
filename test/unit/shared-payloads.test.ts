import { GraphQLError, type ExecutionResult } from "graphql";
import { SharedPayloads } from "../../src/graphql/shared-payloads";

/**
 * The reference is the message graphql-ws sends without sharing: `JSON.stringify({ id, type: "next", payload })` with
 * the payload built from the result as graphql-ws builds it. What the socket puts on the wire must be that string,
 * byte for byte, while the payload is serialized once for all the sockets it goes to.
 */
const reference = (id: string, result: ExecutionResult) => {
  const { errors, ...rest } = result;
  return JSON.stringify({ id, type: "next", payload: { ...rest, ...(errors ? { errors: errors.map((e) => e.toJSON()) } : {}) } });
};

function wire(shared: SharedPayloads, id: string, result: ExecutionResult): string {
  // What graphql-ws does per subscriber: onNext → payload, stringify the message with the replacer, send.
  const message = JSON.stringify({ id, type: "next", payload: shared.payloadOf(result) }, shared.messageReplacer());
  return shared.expand(message);
}

describe("shared subscription payloads", () => {
  it("puts on every socket exactly the message graphql-ws would, serializing the payload once", () => {
    let serialized = 0;
    const shared = new SharedPayloads({ onSerialized: () => serialized++ });
    const result: ExecutionResult = { data: { customerUpdated: { id: "Q3VzdG9tZXI6MQ==", displayName: "林晓 \"小林\" \\ \u2028", tags: ["会员", "\u0000"] } } };
    const ids = Array.from({ length: 100 }, (_, i) => `sub-${i}`);
    for (const id of ids) expect(wire(shared, id, result)).toBe(reference(id, result));
    expect(serialized).toBe(1);
    const other: ExecutionResult = { data: { customerUpdated: null } };
    expect(wire(shared, "x", other)).toBe(reference("x", other));
    expect(serialized).toBe(2);
  });

  it("formats errors once per result, as the server's error formatter says", () => {
    const shared = new SharedPayloads({ formatError: (e) => ({ message: `masked: ${e.message}`, extensions: { code: "FORBIDDEN" } }) });
    const result: ExecutionResult = { data: { customerUpdated: { orders: null } }, errors: [new GraphQLError("no orders:read")] };
    expect(JSON.parse(wire(shared, "1", result))).toEqual({
      id: "1",
      type: "next",
      payload: { data: { customerUpdated: { orders: null } }, errors: [{ message: "masked: no orders:read", extensions: { code: "FORBIDDEN" } }] },
    });
  });

  it("is not fooled by ids or data that look like a token, and leaves other messages alone", () => {
    const shared = new SharedPayloads();
    const result: ExecutionResult = { data: { payload: "\u0000shared-payload:0" } };
    const id = '\u0000shared-payload:0","payload":"\u0000shared-payload:0';
    expect(wire(shared, id, result)).toBe(reference(id, result));
    for (const other of [
      JSON.stringify({ type: "connection_ack" }),
      JSON.stringify({ id: "1", type: "complete" }),
      JSON.stringify({ id: "1", type: "error", payload: [{ message: "bad" }] }),
      JSON.stringify({ type: "pong", payload: { note: "\u0000shared-payload:0" } }, shared.messageReplacer()),
    ]) {
      expect(shared.expand(other)).toBe(other);
    }
  });

  it("refuses to expand a payload it no longer keeps rather than send a token", () => {
    const shared = new SharedPayloads({ keep: 2 });
    const results: ExecutionResult[] = [1, 2, 3].map((n) => ({ data: { n } }));
    const messages = results.map((r) => JSON.stringify({ id: "1", type: "next", payload: shared.payloadOf(r) }, shared.messageReplacer()));
    expect(() => shared.expand(messages[0])).toThrow(new Error("shared payload shared-payload:0 is no longer kept"));
    expect(shared.expand(messages[1])).toBe(reference("1", results[1]));
    expect(shared.expand(messages[2])).toBe(reference("1", results[2]));
  });

  it("formats errors as graphql-ws does (toJSON) when the server gives no formatter", () => {
    const shared = new SharedPayloads();
    const result: ExecutionResult = { data: null, errors: [new GraphQLError("boom", { extensions: { code: "X" } })] };
    expect(wire(shared, "1", result)).toBe(reference("1", result));
    expect(JSON.parse(wire(shared, "2", result))).toEqual({ id: "2", type: "next", payload: { data: null, errors: [{ message: "boom", extensions: { code: "X" } }] } });
  });

  it("expands tokens past the tenth (numbers of more than one digit)", () => {
    const shared = new SharedPayloads();
    const results: ExecutionResult[] = Array.from({ length: 12 }, (_, n) => ({ data: { n } }));
    for (const r of results) expect(wire(shared, "1", r)).toBe(`{"id":"1","type":"next","payload":{"data":{"n":${r.data!.n}}}}`);
  });

  it("shares only the object payload of a next message: other members and other payloads are written as they are", () => {
    let serialized = 0;
    const shared = new SharedPayloads({ onSerialized: () => serialized++ });
    for (const message of [
      { id: "1", type: "next", payload: null },
      { id: "1", type: "next", payload: "text" },
      { id: "1", type: "next", extensions: { a: 1 } },
    ]) {
      const data = JSON.stringify(message, shared.messageReplacer());
      expect(data).toBe(JSON.stringify(message));
      expect(shared.expand(data)).toBe(data);
    }
    expect(serialized).toBe(0);
  });

  it("expands only a token that is the message's last member, under payload", () => {
    const shared = new SharedPayloads();
    wire(shared, "1", { data: { n: 0 } }); // token 0 exists
    for (const data of [
      JSON.stringify({ id: "1", type: "x", payload: "\u0000shared-payload:0", note: "y" }), // a token, but not last
      '{"type":"x","t":"shared-payload:0"}', // ends like a token's name, without the member
    ]) {
      expect(shared.expand(data)).toBe(data);
    }
  });
});
