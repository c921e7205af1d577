import pino from "pino";
import { loadConfig } from "../../src/config";
import { startServer, type RunningServer } from "../../src/server";
import { freshPostgresDatabase } from "../helpers/test-server";

/**
 * Two server instances on one PostgreSQL database share one job queue: a cron schedule runs once per
 * period in the cluster, not once per instance (with timers, each instance ran it: 12 and 11 runs of a
 * 250 ms job in 3 s were measured). Cron has minute granularity, so this waits for two minute
 * boundaries. PGlite is one process's database: there is no second instance to share it with.
 */
jest.setTimeout(240_000);

const enabled = Boolean(process.env.DATABASE_URL);
const describeShared = enabled ? describe : describe.skip;
if (!enabled) console.info("multi-instance jobs suite skipped: set DATABASE_URL to run it");

describeShared("two instances sharing one job queue", () => {
  it("run a cron job once per minute between them", async () => {
    const db = await freshPostgresDatabase();
    const config = loadConfig({ NODE_ENV: "test", PORT: "0", LOG_LEVEL: "silent", DATABASE_URL: db.url, OUTBOX_POLL_MS: "0" });
    const log = pino({ level: "silent" });
    const runs: { instance: string; jobId: string }[] = [];
    const servers: RunningServer[] = [];
    try {
      for (const instance of ["a", "b"]) {
        const s = await startServer(config, { log, print: () => undefined });
        servers.push(s);
        await s.app.jobs.define({ name: "test.every-minute", cron: { expression: "* * * * *" }, run: async (_data, job) => void runs.push({ instance, jobId: job.id }) });
      }
      const deadline = Date.now() + 200_000;
      while (runs.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1_000));
      await new Promise((r) => setTimeout(r, 5_000)); // a second run of the last period would have happened by now
      expect(runs.length).toBeGreaterThanOrEqual(2);
      // No job ran twice, whichever instance took it…
      expect(new Set(runs.map((r) => r.jobId)).size).toBe(runs.length);
      // …and the schedule made one job per minute for the cluster, not one per instance: pg-boss sends each period
      // through its internal queue with a singleton per minute (`singleton_on`), then one job to ours.
      const all = (queue: string) =>
        `(SELECT singleton_on, data FROM pgboss.job WHERE name = '${queue}' UNION ALL SELECT singleton_on, data FROM pgboss.archive WHERE name = '${queue}') j`;
      const [periods] = (
        await servers[0].app.db.pool.query(`SELECT count(*)::int AS sends, count(DISTINCT singleton_on)::int AS minutes FROM ${all("__pgboss__send-it")} WHERE data->>'name' = 'test.every-minute'`)
      ).rows;
      expect(periods.sends).toBe(periods.minutes);
      const [{ jobs }] = (await servers[0].app.db.pool.query(`SELECT count(*)::int AS jobs FROM ${all("test.every-minute")}`)).rows;
      expect(jobs).toBeLessThanOrEqual(periods.minutes);
      // Every job but possibly the current minute's (waiting for a worker as we stop) has run.
      expect(jobs - runs.length).toBeLessThanOrEqual(1);
    } finally {
      for (const s of servers) await s.close();
      await db.drop();
    }
  });
});
