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
    const runs: { instance: string; at: number }[] = [];
    const servers: RunningServer[] = [];
    try {
      for (const instance of ["a", "b"]) {
        const s = await startServer(config, { log, print: () => undefined });
        servers.push(s);
        await s.app.jobs.define({ name: "test.every-minute", cron: { expression: "* * * * *" }, run: async () => void runs.push({ instance, at: Date.now() }) });
      }
      const deadline = Date.now() + 200_000;
      while (runs.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1_000));
      await new Promise((r) => setTimeout(r, 5_000)); // a duplicate of the last period would have run by now
      expect(runs.length).toBeGreaterThanOrEqual(2);
      const minutes = runs.map((r) => Math.floor(r.at / 60_000));
      // One run per minute, whichever instance took it.
      expect(new Set(minutes).size).toBe(runs.length);
      const { rows } = await servers[0].app.db.pool.query(
        `SELECT count(*)::int AS jobs FROM (SELECT id FROM pgboss.job WHERE name = 'test.every-minute' UNION ALL SELECT id FROM pgboss.archive WHERE name = 'test.every-minute') j`,
      );
      // One job per period in the queue too (the current period's may be waiting for a worker as we stop).
      expect(rows[0].jobs).toBeGreaterThanOrEqual(runs.length);
      expect(rows[0].jobs).toBeLessThanOrEqual(runs.length + 1);
    } finally {
      for (const s of servers) await s.close();
      await db.drop();
    }
  });
});
