import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import type { DataSource } from "typeorm";
import { ExportSweeper } from "../../src/modules/imports/export-sweeper";

describe("ExportSweeper", () => {
  function setup(query: () => Promise<unknown>) {
    const log = { error: jest.fn(), warn: jest.fn(), info: jest.fn() };
    const ds = { query: jest.fn(query) };
    const dataDir = path.join(os.tmpdir(), "crm-no-such-dir", String(process.pid));
    const sweeper = new ExportSweeper(ds as unknown as DataSource, { dataDir, retentionHours: 24, log: log as unknown as Logger });
    return { sweeper, ds, log };
  }

  it("sweeps no more once stopped, and stop waits for a sweep in progress", async () => {
    let release!: (rows: unknown[]) => void;
    const { sweeper, ds } = setup(() => new Promise((resolve) => (release = resolve)));
    const running = sweeper.run();
    let stopped = false;
    const stopping = sweeper.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    release([]);
    await stopping;
    expect(await running).toEqual({ expired: 0, failed: 0, orphans: 0 });
    expect(await sweeper.run()).toEqual({ expired: 0, failed: 0, orphans: 0 });
    expect(ds.query).toHaveBeenCalledTimes(1);
  });

  it("joins a sweep already running instead of starting a second", async () => {
    let release!: (rows: unknown[]) => void;
    const { sweeper, ds } = setup(() => new Promise((resolve) => (release = resolve)));
    const a = sweeper.run();
    const b = sweeper.run();
    expect(ds.query).toHaveBeenCalledTimes(1);
    release([]);
    expect(await a).toEqual({ expired: 0, failed: 0, orphans: 0 });
    expect(await b).toEqual(await a);
  });
});
