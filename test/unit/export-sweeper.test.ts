import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import type { DataSource } from "typeorm";
import { ExportSweeper, SWEEP_EVERY_MS } from "../../src/modules/imports/export-sweeper";

describe("ExportSweeper's timer", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function setup(query: () => Promise<unknown>) {
    const log = { error: jest.fn(), warn: jest.fn(), info: jest.fn() };
    const ds = { query: jest.fn(query) };
    const dataDir = path.join(os.tmpdir(), "crm-no-such-dir", String(process.pid));
    const sweeper = new ExportSweeper(ds as unknown as DataSource, { dataDir, retentionHours: 24, log: log as unknown as Logger });
    return { sweeper, ds, log };
  }

  it("sweeps every ten minutes, logging a failed sweep instead of throwing, until stopped", async () => {
    const { sweeper, ds, log } = setup(async () => {
      throw new Error("database unavailable");
    });
    sweeper.start();
    await jest.advanceTimersByTimeAsync(SWEEP_EVERY_MS - 1);
    expect(ds.query).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(ds.query).toHaveBeenCalledTimes(1);
    expect(log.error).toHaveBeenCalledWith({ err: "database unavailable" }, "export sweep failed");
    await jest.advanceTimersByTimeAsync(SWEEP_EVERY_MS);
    expect(ds.query).toHaveBeenCalledTimes(2);

    await sweeper.stop();
    await jest.advanceTimersByTimeAsync(3 * SWEEP_EVERY_MS);
    expect(ds.query).toHaveBeenCalledTimes(2);
    expect(await sweeper.run()).toEqual({ expired: 0, failed: 0, orphans: 0 });
    expect(ds.query).toHaveBeenCalledTimes(2);
  });

  it("does not keep the process alive", () => {
    const { sweeper } = setup(async () => []);
    const spy = jest.spyOn(global, "setInterval");
    sweeper.start();
    const timer = spy.mock.results[0].value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
    return sweeper.stop();
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
