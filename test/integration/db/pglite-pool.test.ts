import { openDatabase } from "../../../src/db/data-source";
import { silentLog } from "../../helpers/database";

describe("embedded database connection", () => {
  it("keeps concurrent transactions apart: a rollback does not take another request's write with it", async () => {
    const db = await openDatabase({ log: silentLog }); // PGlite in memory, whatever DATABASE_URL says
    const ds = db.dataSource;
    await ds.query(`CREATE TABLE pool_probe (name text)`);
    let inside!: () => void;
    const firstIsInside = new Promise<void>((r) => (inside = r));
    const failing = ds.transaction(async (m) => {
      await m.query(`INSERT INTO pool_probe VALUES ('rolled back')`);
      inside();
      await new Promise((r) => setTimeout(r, 50));
      throw new Error("abort");
    });
    await firstIsInside;
    const committing = ds.transaction((m) => m.query(`INSERT INTO pool_probe VALUES ('committed')`));
    await expect(failing).rejects.toThrow("abort");
    await committing;
    expect(await ds.query(`SELECT name FROM pool_probe`)).toEqual([{ name: "committed" }]);
    await db.close();
  });
});
