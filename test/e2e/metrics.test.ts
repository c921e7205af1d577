import { createTestServer, type TestServer } from "../helpers/test-server";

/** GET /metrics: Prometheus text an operator can scrape, from real requests through the server. */

let t: TestServer;
let connectionId: string;

beforeAll(async () => {
  t = await createTestServer();
  const r = await t.gql(
    `mutation { createChannelConnection(input: {channel: "http-json", name: "ERP", config: {secret: "metrics-secret-0123456789"}}) { connection { id } userErrors { code } } }`,
  );
  connectionId = r.data.createChannelConnection.connection.id;
});
afterAll(() => t?.close());

const scrape = async () => {
  const res = await fetch(`${t.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
};
/** The value of one sample line, or undefined. */
const sample = (text: string, line: string) => {
  const m = text.split("\n").find((l) => l.startsWith(`${line} `));
  return m === undefined ? undefined : Number(m.slice(line.length + 1));
};

const event = (externalId: string, phone: string) => ({
  type: "customer.upserted",
  externalId,
  occurredAt: "2026-08-01T00:00:00Z",
  identities: [{ type: "phone", value: phone }],
  payload: { displayName: "周明" },
});

it("counts ingested events by channel and result, and times the batches", async () => {
  const before = await scrape();
  const accepted = sample(before, 'crm_ingest_events_total{channel="http-json",status="accepted"}') ?? 0;
  const r = await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status } } }`, {
    input: { connectionId, events: [event("m1", "139 0000 7001"), event("m1", "139 0000 7001"), event("m2", "139 0000 7002"), { type: "nope" }] },
  });
  expect(r.data.ingestEvents.results.map((x: { status: string }) => x.status)).toEqual(["ACCEPTED", "DUPLICATE", "ACCEPTED", "REJECTED"]);
  const after = await scrape();
  expect(sample(after, 'crm_ingest_events_total{channel="http-json",status="accepted"}')).toBe(accepted + 2);
  expect(sample(after, 'crm_ingest_events_total{channel="http-json",status="duplicate"}')).toBeGreaterThanOrEqual(1);
  expect(sample(after, 'crm_ingest_events_total{channel="http-json",status="rejected"}')).toBeGreaterThanOrEqual(1);
  expect(sample(after, 'crm_ingest_batch_duration_seconds_count{channel="http-json"}')).toBeGreaterThanOrEqual(1);
});

it("counts refusals, folding unknown channel names into one label", async () => {
  for (const name of ["scanner-a", "scanner-b"]) {
    expect((await fetch(`${t.url}/channels/${name}/00000000-0000-0000-0000-000000000000`, { method: "POST" })).status).toBe(404);
  }
  const text = await scrape();
  expect(sample(text, 'crm_channel_refusals_total{channel="(unknown)",status="404"}')).toBe(2);
  expect(text).not.toContain("scanner-a");
});

it("reports the outbox backlog from the database, and process metrics", async () => {
  await t.server.app.outbox.idle();
  expect(sample(await scrape(), "crm_outbox_pending_events")).toBe(0);
  await t.server.app.outbox.stop(); // nothing delivers from here on: the next events stay pending
  await t.gql(`mutation($input: IngestEventsInput!) { ingestEvents(input: $input) { results { status } } }`, {
    input: { connectionId, events: [event("m3", "139 0000 7003")] },
  });
  const text = await scrape();
  expect(sample(text, "crm_outbox_pending_events")).toBeGreaterThanOrEqual(1);
  expect(sample(text, "crm_outbox_oldest_pending_seconds")).toBeGreaterThanOrEqual(0);
  expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
  expect(text).not.toMatch(/周明|13900007003|\+86/); // nothing personal
});
