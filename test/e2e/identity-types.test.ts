import { definePlugin } from "../../src/plugins";
import { createTestServer, type TestServer } from "../helpers/test-server";

/** A partner's channel plugin brings an identity type of its own; no central file names it. */
const acme = definePlugin({ name: "acme-loyalty", version: "1.0.0", compatibility: "^1.2.0", identityTypes: [{ name: "acme_card", importHeaders: ["ACME卡号"] }] });

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({}, { plugins: [acme] });
});
afterAll(() => t?.close());

describe("an identity type a plugin declares", () => {
  it("is a value of the GraphQL enum IdentityType, in the default precedence", async () => {
    const r = await t.gql(`{ __type(name: "IdentityType") { enumValues { name } } }`);
    expect(r.data.__type.enumValues.map((v: { name: string }) => v.name)).toContain("ACME_CARD");
    const s = await t.gql(`{ identitySettings { precedence } }`);
    expect(s.data.identitySettings.precedence.indexOf("ACME_CARD")).toBe(s.data.identitySettings.precedence.indexOf("ZOHO_CONTACT") - 1);
  });

  it("identifies customers: ingested and looked up by it", async () => {
    const conn = await t.gql(`mutation($c: JSONObject!) { createChannelConnection(input: {channel: "http-json", name: "acme", config: $c}) { connection { id } } }`, {
      c: { secret: "a-secret-for-acme-cards-0123456" },
    });
    const ingest = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status reason } } }`, {
      input: {
        connectionId: conn.data.createChannelConnection.connection.id,
        events: [{ type: "customer.upserted", externalId: "a1", occurredAt: "2026-12-01T10:00:00+08:00", identities: [{ type: "acme_card", value: "C-001" }], payload: { displayName: "欧阳娜娜" } }],
      },
    });
    expect(ingest.data.ingestEvents.results).toEqual([{ status: "ACCEPTED", reason: null }]);
    const found = await t.gql(`{ customerByIdentity(type: ACME_CARD, value: "C-001") { displayName identities { type value } } }`);
    expect(found.data.customerByIdentity).toEqual({ displayName: "欧阳娜娜", identities: [{ type: "ACME_CARD", value: "C-001" }] });
  });
});
