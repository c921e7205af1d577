import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { DataSource } from "typeorm";
import { startServer } from "../../../src/server";
import { ExportSweeper } from "../../../src/modules/imports/export-sweeper";
import { reopenableDatabase, silentLog } from "../../helpers/database";

jest.setTimeout(60_000);

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

/** A completed export finished `finishedAt`, with its file written. */
async function completedExport(ds: DataSource, dataDir: string, tenantId: string, finishedAt: Date): Promise<{ id: string; file: string }> {
  const id = randomUUID();
  await ds.query(
    `INSERT INTO import_jobs (id, tenant_id, kind, status, format, processed, file_path, created_at, heartbeat_at, finished_at)
     VALUES ($1, $2, 'customers_export', 'COMPLETED', 'csv', 1, $3, $4, $4, $4)`,
    [id, tenantId, `exports/${id}.csv`, finishedAt],
  );
  const file = path.join(dataDir, "exports", `${id}.csv`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, "\uFEFF姓名,手机号\r\n王芳,13912345601\r\n");
  return { id, file };
}

const deletedAt = async (ds: DataSource, id: string): Promise<Date | null> =>
  (await ds.query(`SELECT file_deleted_at FROM import_jobs WHERE id = $1`, [id]))[0].file_deleted_at;

describe("export retention", () => {
  let db: Awaited<ReturnType<typeof reopenableDatabase>>;
  let dataDir: string;
  beforeEach(async () => {
    db = await reopenableDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-export-retention-"));
  });
  afterEach(async () => {
    await db.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("sweeps at start with the configured retention, so exports past it are gone before the first request", async () => {
    const config = { ...db.config, port: 0, dataDir, exportRetentionHours: 1 };
    const opts = { log: silentLog, print: () => undefined };
    const first = await startServer(config, { ...opts, database: await db.open() });
    let ds = first.app.db.dataSource;
    const [{ id: tenantId }] = await ds.query(`SELECT id FROM tenants WHERE name = 'default'`);
    const old = await completedExport(ds, dataDir, tenantId, minutesAgo(61));
    const fresh = await completedExport(ds, dataDir, tenantId, minutesAgo(59));
    await first.close();

    const second = await startServer(config, { ...opts, database: await db.open() });
    ds = second.app.db.dataSource;
    try {
      expect(fs.existsSync(old.file)).toBe(false);
      expect(await deletedAt(ds, old.id)).toEqual(expect.any(Date));
      expect(fs.existsSync(fresh.file)).toBe(true);
      expect(await deletedAt(ds, fresh.id)).toBeNull();
      const ctx = { requestId: "test", principal: { kind: "system" as const, tenantId, actor: "test" }, app: second.app, log: silentLog };
      expect(await second.app.imports.exportFile(ctx, old.id)).toEqual({
        ok: false,
        status: 410,
        error: "expired",
        reason: "the export expired after 1 hour; start a new one",
      });
      expect(await second.app.imports.exportFile(ctx, fresh.id)).toMatchObject({ ok: true, file: fresh.file });
    } finally {
      await second.close();
    }
  });

  it("is harmless when several instances sweep at once", async () => {
    const config = { ...db.config, port: 0, dataDir };
    const server = await startServer(config, { log: silentLog, print: () => undefined, database: await db.open() });
    try {
      const ds = server.app.db.dataSource;
      const [{ id: tenantId }] = await ds.query(`SELECT id FROM tenants WHERE name = 'default'`);
      const expired = await Promise.all([1, 2, 3].map(() => completedExport(ds, dataDir, tenantId, minutesAgo(25 * 60))));
      const orphan = path.join(dataDir, "exports", `${randomUUID()}.csv`);
      fs.writeFileSync(orphan, "x");
      fs.utimesSync(orphan, minutesAgo(25 * 60), minutesAgo(25 * 60));
      // Two more instances (on PostgreSQL they would be other processes) sweep the same database and directory.
      const sweepers = [1, 2].map(() => new ExportSweeper(ds, { dataDir, retentionHours: 24, log: silentLog }));
      const results = await Promise.all([...sweepers.map((s) => s.run()), server.app.imports.sweepExports()]);
      expect(results.reduce((n, r) => n + r.expired, 0)).toBeGreaterThanOrEqual(3);
      for (const e of expired) {
        expect(fs.existsSync(e.file)).toBe(false);
        expect(await deletedAt(ds, e.id)).toEqual(expect.any(Date));
      }
      expect(fs.existsSync(orphan)).toBe(false);
      expect(await sweepers[0].run()).toEqual({ expired: 0, failed: 0, orphans: 0 });
    } finally {
      await server.close();
    }
  });

  it("finishes a sweep cut short: a job whose file is already gone is marked all the same", async () => {
    const config = { ...db.config, port: 0, dataDir };
    const server = await startServer(config, { log: silentLog, print: () => undefined, database: await db.open() });
    try {
      const ds = server.app.db.dataSource;
      const [{ id: tenantId }] = await ds.query(`SELECT id FROM tenants WHERE name = 'default'`);
      const e = await completedExport(ds, dataDir, tenantId, minutesAgo(25 * 60));
      fs.rmSync(e.file);
      expect((await server.app.imports.sweepExports()).expired).toBe(1);
      expect(await deletedAt(ds, e.id)).toEqual(expect.any(Date));
    } finally {
      await server.close();
    }
  });
});
