import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../../src/config";
import { definePlugin } from "../../src/plugins";
import { startServer } from "../../src/server";
import { createKey, createTenant, createTestServer, freshPostgresDatabase, usingPostgres, type TestServer } from "../helpers/test-server";
import { until } from "../helpers/wait";

/** The job queue (pg-boss) through the API: failures retried, dead letters listed and retried, per tenant. */
jest.setTimeout(120_000);

let t: TestServer;
const pluginRuns: string[] = [];
let pluginFails = false;
const scheduled = definePlugin({
  name: "cron-probe",
  version: "1.0.0",
  compatibility: "^1.0.0",
  jobs: [
    {
      name: "pull",
      cron: "*/5 * * * *",
      async run() {
        pluginRuns.push("pull");
        if (pluginFails) throw new Error("pull failed");
      },
    },
  ],
});
beforeAll(async () => {
  t = await createTestServer({}, { plugins: [scheduled] });
});
afterAll(() => t.close());

const RUNS = `query($filter: JobRunFilter, $first: Int, $after: String) { jobRuns(filter: $filter, first: $first, after: $after) {
  totalCount nodes { id name state tenantId attempts retryLimit lastError createdAt startedAt completedAt } pageInfo { hasNextPage endCursor } } }`;
const RETRY = `mutation($id: ID!) { retryJob(input: {id: $id}) { job { id state } userErrors { field code } } }`;


describe("jobRuns and retryJob", () => {
  const attempts: string[] = [];
  let healthy = false;

  beforeAll(async () => {
    await t.server.app.jobs.define<{ tenantId: string; label: string }>({
      name: "test.flaky",
      retryLimit: 1,
      retryDelaySeconds: 1,
      backoff: false,
      async run(data) {
        attempts.push(data.label);
        if (!healthy) throw new Error(`the partner API is down (${data.label})`);
      },
    });
  });

  it("retries a failing job, then keeps it FAILED with its error, visible to its tenant's admins only; retryJob runs it again", async () => {
    const [{ id: tenantId }] = await t.server.app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
    const jobId = await t.server.app.jobs.send("test.flaky", { tenantId, label: "a" });
    expect(jobId).toEqual(expect.any(String));
    const failed = await until(async () => {
      const r = await t.gql(RUNS, { filter: { name: "test.flaky", state: "FAILED" } });
      return r.data.jobRuns.nodes.find((j: { id: string }) => j.id === jobId);
    }, "the job to spend its retries");
    expect(failed).toMatchObject({ name: "test.flaky", state: "FAILED", attempts: 2, retryLimit: 1, lastError: "the partner API is down (a)" });
    expect(attempts).toEqual(["a", "a"]);

    // Another tenant's admin sees none of it and cannot retry it.
    const other = await createTenant(t, "别家任务");
    expect((await t.gql(RUNS, { filter: { name: "test.flaky" } }, other.key)).data.jobRuns).toMatchObject({ totalCount: 0, nodes: [] });
    expect((await t.gql(RETRY, { id: jobId }, other.key)).data.retryJob).toEqual({ job: null, userErrors: [{ field: ["id"], code: "NOT_FOUND" }] });
    // Keys without admin get FORBIDDEN; the platform key sees every tenant's jobs.
    const { key: reader } = await createKey(t, ["customers:read"]);
    expect((await t.gql(RUNS, {}, reader)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect((await t.gql(RUNS, { filter: { name: "test.flaky" } }, t.platformKey)).data.jobRuns.nodes.map((j: { id: string }) => j.id)).toContain(jobId);

    healthy = true;
    const retried = await t.gql(RETRY, { id: jobId });
    expect(retried.data.retryJob.userErrors).toEqual([]);
    await until(async () => {
      const r = await t.gql(RUNS, { filter: { name: "test.flaky", state: "COMPLETED" } });
      return r.data.jobRuns.nodes.some((j: { id: string }) => j.id === jobId);
    }, "the retried job to complete");
    expect(attempts).toEqual(["a", "a", "a"]);
    // Only a FAILED job can be retried.
    expect((await t.gql(RETRY, { id: jobId })).data.retryJob.userErrors).toEqual([{ field: ["id"], code: "NOT_FOUND" }]);
    expect((await t.gql(RETRY, { id: "not-a-job" })).data.retryJob.userErrors).toEqual([{ field: ["id"], code: "NOT_FOUND" }]);
  });

  it("pages forward through the runs, newest first", async () => {
    const [{ id: tenantId }] = await t.server.app.db.dataSource.query(`SELECT id FROM tenants WHERE name = 'default'`);
    for (const label of ["p1", "p2", "p3"]) await t.server.app.jobs.send("test.flaky", { tenantId, label });
    const ids: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r: any = await t.gql(RUNS, { filter: { name: "test.flaky" }, first: 1, after });
      ids.push(...r.data.jobRuns.nodes.map((j: { id: string }) => j.id));
      if (!r.data.jobRuns.pageInfo.hasNextPage) break;
      after = r.data.jobRuns.pageInfo.endCursor;
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe((await t.gql(RUNS, { filter: { name: "test.flaky" } })).data.jobRuns.totalCount);
    expect(ids.length).toBeGreaterThanOrEqual(4);
    expect((await t.gql(`{ jobRuns(last: 2) { totalCount } }`)).errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("shows queue depth and dead letters on /metrics", async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/^crm_jobs_failed\{queue="test\.flaky"\} \d+$/m);
    expect(text).toMatch(/^crm_jobs_queued\{queue="test\.flaky"\} \d+$/m);
  });

  it("sweeps export files and prunes the outbox on schedules of the queue", async () => {
    const { rows } = await t.server.app.db.pool.query(`SELECT name, cron FROM pgboss.schedule WHERE name LIKE 'crm.%' ORDER BY name`);
    expect(rows).toEqual([
      { name: "crm.analytics.daily", cron: "57 3 * * *" },
      { name: "crm.audit.prune", cron: "17 3 * * *" },
      { name: "crm.customers.retention", cron: "47 3 * * *" },
      { name: "crm.imports.export-sweep", cron: "*/10 * * * *" },
      { name: "crm.ingestion.strip-payloads", cron: "37 3 * * *" },
      { name: "crm.outbox.prune", cron: "17 * * * *" },
      { name: "crm.segments.refresh-all", cron: "27 4 * * *" },
      { name: "crm.segments.refresh-time-based", cron: "7 * * * *" },
    ]);
  });
});

describe("plugin jobs with a cron", () => {
  it("are scheduled on the queue (once per cluster) and run the plugin's job; a failure is counted", async () => {
    const { rows } = await t.server.app.db.pool.query(`SELECT cron FROM pgboss.schedule WHERE name = 'plugin.cron-probe.pull'`);
    expect(rows).toEqual([{ cron: "*/5 * * * *" }]);
    // What the scheduler does each period, done now.
    await t.server.app.jobs.send("plugin.cron-probe.pull", {});
    await until(async () => pluginRuns.length === 1, "the plugin's job");
    pluginFails = true;
    const failedId = await t.server.app.jobs.send("plugin.cron-probe.pull", {});
    const failed = await until(async () => {
      const r = await t.gql(RUNS, { filter: { name: "plugin.cron-probe.pull", state: "FAILED" } }, t.platformKey);
      return r.data.jobRuns.nodes.find((j: { id: string }) => j.id === failedId);
    }, "the failed run");
    pluginFails = false;
    expect(failed).toMatchObject({ attempts: 1, retryLimit: 0, lastError: "pull failed", tenantId: null });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('crm_plugin_job_failures_total{plugin="cron-probe",job="pull"} 1');
  });
});

describe("a delayed job", () => {
  it("sent before a restart fires once, after it", async () => {
    const pgDb = usingPostgres() ? await freshPostgresDatabase() : null;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-jobs-"));
    const env = {
      NODE_ENV: "test",
      PORT: "0",
      LOG_LEVEL: "silent",
      OUTBOX_POLL_MS: "0",
      DATA_DIR: dataDir,
      CRM_BOOTSTRAP_TENANT_KEY: `test_${randomBytes(18).toString("hex")}`,
      ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    };
    const log = pino({ level: "silent" });
    const runs: string[] = [];
    const define = (server: Awaited<ReturnType<typeof startServer>>, who: string) =>
      server.app.jobs.define<{ n: number }>({ name: "test.delayed", async run(data) { runs.push(`${who}:${data.n}`); } });
    try {
      const first = await startServer(loadConfig(env), { log, print: () => undefined });
      await define(first, "first");
      await first.app.jobs.send("test.delayed", { n: 1 }, { startAfter: 3 });
      await first.close();
      expect(runs).toEqual([]);
      const second = await startServer(loadConfig(env), { log, print: () => undefined });
      try {
        await define(second, "second");
        await until(async () => runs.length > 0, "the delayed job");
        await new Promise((r) => setTimeout(r, 2_500)); // a second run would show by now (polling every 0.5 s)
        expect(runs).toEqual(["second:1"]);
      } finally {
        await second.close();
      }
    } finally {
      await pgDb?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
