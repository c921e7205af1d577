import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { DataSource } from "typeorm";
import { startServer } from "../../../src/server";
import { reopenableDatabase, silentLog } from "../../helpers/database";

jest.setTimeout(60_000);

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

async function insertJob(ds: DataSource, tenantId: string, kind: string, createdAt: Date, heartbeatAt: Date, filePath: string | null = null): Promise<string> {
  const id = randomUUID();
  await ds.query(
    `INSERT INTO import_jobs (id, tenant_id, kind, status, format, processed, accepted, file_path, created_at, heartbeat_at)
     VALUES ($1, $2, $3, 'RUNNING', 'csv', 2000, 2000, $4, $5, $6)`,
    [id, tenantId, kind, filePath, createdAt, heartbeatAt],
  );
  return id;
}

const statusOf = async (ds: DataSource, id: string) => (await ds.query(`SELECT status, error, processed, finished_at FROM import_jobs WHERE id = $1`, [id]))[0];

it("marks the jobs a stopped process left RUNNING as FAILED at the next start, keeping their counts", async () => {
  const db = await reopenableDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-imports-recovery-"));
  const config = { ...db.config, port: 0, dataDir };
  const opts = { log: silentLog, print: () => undefined };
  try {
    const first = await startServer(config, { ...opts, database: await db.open() });
    let ds = first.app.db.dataSource;
    const [{ id: tenantId }] = await ds.query(`SELECT id FROM tenants WHERE name = 'default'`);
    // What a crash leaves behind: an import and an export still RUNNING, their heartbeats stopped minutes ago…
    const importId = await insertJob(ds, tenantId, "customers_import", minutesAgo(10), minutesAgo(9));
    const exportId = await insertJob(ds, tenantId, "customers_export", minutesAgo(10), minutesAgo(9), `exports/${randomUUID()}.csv`);
    const part = path.join(dataDir, `${(await ds.query(`SELECT file_path FROM import_jobs WHERE id = $1`, [exportId]))[0].file_path}.part`);
    fs.mkdirSync(path.dirname(part), { recursive: true });
    fs.writeFileSync(part, "\uFEFF姓名,手机号\r\n");
    // …and one whose heartbeat is fresh: on PostgreSQL another instance may still be running it.
    const freshId = await insertJob(ds, tenantId, "customers_import", minutesAgo(1), new Date());
    await first.close();

    const second = await startServer(config, { ...opts, database: await db.open() });
    ds = second.app.db.dataSource;
    try {
      for (const id of [importId, exportId]) {
        expect(await statusOf(ds, id)).toMatchObject({ status: "FAILED", processed: 2000, error: expect.stringMatching(/server stopped/), finished_at: expect.any(Date) });
      }
      expect(fs.existsSync(part)).toBe(false);
      // PGlite is one process per data directory, so every older RUNNING job was that process's.
      expect((await statusOf(ds, freshId)).status).toBe(second.app.db.kind === "pglite" ? "FAILED" : "RUNNING");

      // A job whose heartbeat stops while this process runs (its instance died) reads as FAILED.
      const orphan = await insertJob(ds, tenantId, "customers_import", new Date(), minutesAgo(5));
      const ctx = { requestId: "test", principal: { kind: "system" as const, tenantId, actor: "test" }, app: second.app, log: silentLog };
      expect(await second.app.imports.job(ctx, orphan)).toMatchObject({ status: "FAILED" });
      expect((await statusOf(ds, orphan)).status).toBe("FAILED");
    } finally {
      await second.close();
    }
  } finally {
    await db.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
