import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import ExcelJS from "exceljs";
import { localId, toGlobalId } from "../../src/core/global-id";
import { createKey, createTenant, createTestServer, type TestServer } from "../helpers/test-server";

jest.setTimeout(120_000);

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const BOM = "\uFEFF";
let t: TestServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-imports-"));
  t = await createTestServer({ PUBLIC_URL: "https://crm.example.cn", DATA_DIR: dataDir });
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function upload(body: string | Buffer, opts: { type?: string | null; key?: string | null; query?: string } = {}) {
  const { type = "text/csv", key = t.adminKey, query = "" } = opts;
  const res = await fetch(`${t.url}/import/customers${query}`, {
    method: "POST",
    headers: { ...(type ? { "content-type": type } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: new Uint8Array(typeof body === "string" ? Buffer.from(body, "utf8") : body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

const JOB = `query($id: ID!) { importJob(id: $id) { id kind status format processed accepted rejected error createdAt finishedAt downloadUrl errors(first: 250) { nodes { row message } } } }`;
/** The job, its errors connection read as the list of its nodes. */
const job = async (id: string, key = t.adminKey) => {
  const j = (await t.gql(JOB, { id }, key)).data.importJob;
  return j && { ...j, errors: j.errors.nodes };
};
const PROFILE = `displayName phone email gender birthday region { country province city } tags attributes identities { type value sourceChannel }`;
const byIdentity = async (type: string, value: string, key = t.adminKey) =>
  (await t.gql(`query($type: IdentityType!, $value: String!) { customerByIdentity(type: $type, value: $value) { ${PROFILE} } }`, { type: type.toUpperCase(), value }, key)).data.customerByIdentity;
const customerCount = async (key = t.adminKey) => (await t.gql(`{ customers { totalCount } }`, {}, key)).data.customers.totalCount as number;
const jobRows = async () => Number((await t.server.app.db.dataSource.query(`SELECT count(*) AS n FROM import_jobs`))[0].n);

describe("POST /import/customers", () => {
  const csv = [
    "姓名,手机号,邮箱,性别,生日,省份,城市,标签,会员卡号,等级",
    "王芳,139 1234 5601,Wang.Fang@Example.cn,女,1990/05/06,浙江省,杭州市,\"VIP,老客户\",M0001,金卡",
    "李雷,13912345602,,男,,,,新客|导入,,银卡",
  ].join("\r\n");

  it("imports a BOM-prefixed CSV with Chinese headers through the ingestion pipeline", async () => {
    const r = await upload(BOM + csv);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ jobId: expect.any(String), status: "COMPLETED", processed: 2, accepted: 2, rejected: 0 });
    expect(Buffer.from(r.json.jobId, "base64url").toString()).toMatch(/^ImportJob:/);

    expect(await byIdentity("phone", "13912345601")).toEqual({
      displayName: "王芳",
      phone: "+8613912345601",
      email: "wang.fang@example.cn",
      gender: "FEMALE",
      birthday: "1990-05-06",
      region: { country: null, province: "浙江省", city: "杭州市" },
      tags: ["VIP", "老客户"],
      attributes: { 等级: "金卡" },
      identities: expect.arrayContaining([
        { type: "PHONE", value: "+8613912345601", sourceChannel: "import" },
        { type: "EMAIL", value: "wang.fang@example.cn", sourceChannel: "import" },
        { type: "POS_MEMBER", value: "M0001", sourceChannel: "import" },
      ]),
    });
    expect((await byIdentity("pos_member", "M0001")).displayName).toBe("王芳");
    expect((await byIdentity("phone", "139 1234 5602")).tags).toEqual(["新客", "导入"]);

    const j = await job(r.json.jobId);
    expect(j).toMatchObject({ id: r.json.jobId, kind: "CUSTOMERS_IMPORT", status: "COMPLETED", format: "CSV", processed: 2, accepted: 2, rejected: 0, error: null, downloadUrl: null, errors: [] });
    expect(Date.parse(j.finishedAt)).toBeGreaterThanOrEqual(Date.parse(j.createdAt));
  });

  it("updates the same customers when the file is imported again, instead of duplicating them", async () => {
    const before = await customerCount();
    const r = await upload(csv.replace("王芳,", "王芳芳,"));
    expect(r.json).toMatchObject({ status: "COMPLETED", accepted: 2 });
    expect(await customerCount()).toBe(before);
    // A later import is newer than the first: its values win.
    expect((await byIdentity("pos_member", "M0001")).displayName).toBe("王芳芳");
  });

  it("records an error per bad row, numbered from the first data row, while the good rows land", async () => {
    const before = await customerCount();
    const file = [
      "姓名,手机号,邮箱,性别,备注",
      "甲,13912345611,,,", // 1 good
      "乙,12345,,,", // 2 invalid phone
      "", // 3 blank line: skipped, but numbered
      "丙,,,,只有名字", // 4 no identity
      "丁,,not-an-email,,", // 5 invalid e-mail
      "戊,13800138000,,,", // 6 a shared shop phone: the pipeline refuses it
      "己,13912345616,,外星,", // 7 unknown gender
      "庚,13912345617,geng@example.cn,男,", // 8 good
    ].join("\n");
    const r = await upload(file);
    expect(r.json).toMatchObject({ status: "COMPLETED", processed: 7, accepted: 2, rejected: 5 });
    const j = await job(r.json.jobId);
    expect(j.errors.map((e: any) => e.row)).toEqual([2, 4, 5, 6, 7]);
    expect(j.errors[0].message).toBe("手机号: not a valid phone number");
    expect(j.errors[1].message).toMatch(/no identity/);
    expect(j.errors[2].message).toBe("邮箱: not a valid e-mail address");
    expect(j.errors[3].message).toMatch(/identit/); // the pipeline's reason
    expect(j.errors[4].message).toMatch(/^性别:/);
    expect(await customerCount()).toBe(before + 2);
    expect((await byIdentity("email", "geng@example.cn")).displayName).toBe("庚");

    const paged = await t.gql(`query($id: ID!) { importJob(id: $id) { errors(first: 2, afterRow: 4) { nodes { row } pageInfo { hasNextPage endCursor } } } }`, { id: r.json.jobId });
    expect(paged.data.importJob.errors.nodes).toEqual([{ row: 5 }, { row: 6 }]);
    expect(paged.data.importJob.errors.pageInfo.hasNextPage).toBe(true);
    // Cursors page on from there; totalCount counts every refused row.
    const next = await t.gql(`query($id: ID!, $after: String) { importJob(id: $id) { errors(first: 2, after: $after) { totalCount nodes { row } pageInfo { hasNextPage } } } }`, {
      id: r.json.jobId,
      after: paged.data.importJob.errors.pageInfo.endCursor,
    });
    expect(next.data.importJob.errors).toEqual({ totalCount: 5, nodes: [{ row: 7 }], pageInfo: { hasNextPage: false } });
    const tooMany = await t.gql(`query($id: ID!) { importJob(id: $id) { errors(first: 251) { nodes { row } } } }`, { id: r.json.jobId });
    expect(tooMany.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("makes a row with a NUL cell or a year-0 birthday a row error and goes on with the file", async () => {
    const before = await customerCount();
    const file = ["姓名,手机号,生日,备注", "辛,13912345621,,", "壬\u0000,13912345622,,", "癸,13912345623,0000-01-01,", "子,13912345624,,备\u0000注", "丑,13912345625,,"].join("\n");
    expect(file).toContain("\u0000");
    const r = await upload(file);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: "COMPLETED", processed: 5, accepted: 2, rejected: 3 });
    const j = await job(r.json.jobId);
    expect(j.errors.map((e: any) => e.row)).toEqual([2, 3, 4]);
    for (const e of j.errors) expect(e.message).not.toContain("\u0000");
    expect(await customerCount()).toBe(before + 2);
    expect((await byIdentity("phone", "13912345625")).displayName).toBe("丑");
  });

  it("answers 422 with the job FAILED when the file turns unreadable part-way, keeping the rows before", async () => {
    const r = await upload('手机号,姓名\n13912345671,甲\n13912345672,"乙 and a quote never closed\n13912345673,丙\n');
    expect(r.status).toBe(422);
    expect(r.json).toMatchObject({ status: "FAILED", processed: 1, accepted: 1, rejected: 0, error: expect.stringMatching(/not a readable CSV file/) });
    expect((await byIdentity("phone", "13912345671")).displayName).toBe("甲");
    expect(await byIdentity("phone", "13912345673")).toBeNull();
    expect((await job(r.json.jobId)).status).toBe("FAILED");
  });

  it("imports the first worksheet of an xlsx file, numbers and dates included", async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet("客户");
    ws.addRow(["客户姓名", "手机", "生日", "有赞买家ID", "淘宝买家ID", "unionid", "openid", "积分"]);
    ws.addRow(["赵敏", 13912345621, new Date(Date.UTC(1988, 1, 29)), "yz-001", "tb-001", "union-001", "open-001", 120]);
    ws.addRow(["周芷若", "", "", "yz-002", "", "", "", ""]);
    ws.addRow(["无名", "", "", "", "", "", "", ""]); // row 3: no identity
    wb.addWorksheet("说明").addRow(["手机号", "this sheet is ignored"]);
    const r = await upload(Buffer.from(await wb.xlsx.writeBuffer()), { type: XLSX });
    expect(r.json).toMatchObject({ status: "COMPLETED", processed: 3, accepted: 2, rejected: 1 });
    const c = await byIdentity("youzan_buyer", "yz-001");
    expect(c).toMatchObject({ displayName: "赵敏", phone: "+8613912345621", birthday: "1988-02-29", attributes: { 积分: "120" } });
    expect(c.identities.map((i: any) => `${i.type}:${i.value}`).sort()).toEqual(
      ["PHONE:+8613912345621", "TAOBAO_BUYER:tb-001", "WECHAT_OPENID:open-001", "WECHAT_UNIONID:union-001", "YOUZAN_BUYER:yz-001"].sort(),
    );
    expect((await byIdentity("youzan_buyer", "yz-002")).displayName).toBe("周芷若");
    expect((await job(r.json.jobId)).errors).toEqual([{ row: 3, message: expect.stringMatching(/no identity/) }]);
  });

  it("reads GBK files with ?encoding=gbk, and points GBK files sent as UTF-8 to it", async () => {
    const gbk = fs.readFileSync(path.join(__dirname, "../fixtures/imports/customers-gbk.csv"));
    const wrong = await upload(gbk);
    expect(wrong.status).toBe(400);
    expect(wrong.json.reason).toMatch(/encoding=gbk/);
    const r = await upload(gbk, { query: "?encoding=gbk" });
    expect(r.json).toMatchObject({ status: "COMPLETED", processed: 2, accepted: 2, rejected: 0 });
    expect(await byIdentity("phone", "13712345601")).toMatchObject({ displayName: "张伟", region: { province: "广东省", city: "深圳市" }, tags: ["老客户", "会员"], attributes: { 备注: "店内登记" } });
    expect((await byIdentity("phone", "13712345602")).displayName).toBe("刘洋");
  });

  it("maps columns with ?mapping=", async () => {
    const mapping = encodeURIComponent(JSON.stringify({ displayName: "客户", phone: "联系方式", pos_member: "卡号" }));
    const r = await upload("客户,联系方式,卡号,手机\n孙悟空,13912345631,K-9,备用\n", { query: `?mapping=${mapping}` });
    expect(r.json).toMatchObject({ status: "COMPLETED", accepted: 1 });
    expect(await byIdentity("pos_member", "K-9")).toMatchObject({ displayName: "孙悟空", phone: "+8613912345631", attributes: { 手机: "备用" } });
  });

  it("answers 401, 403, 415 and 400 with a reason, and writes nothing", async () => {
    const customers = await customerCount();
    const jobs = await jobRows();
    const good = "手机号\n13912345699\n";
    const { key: readOnly } = await createKey(t, ["customers:read"]);
    const cases: [Awaited<ReturnType<typeof upload>>, number][] = [
      [await upload(good, { key: null }), 401],
      [await upload(good, { key: "crm_not_a_key_at_all_0000" }), 401],
      [await upload(good, { key: t.platformKey }), 403],
      [await upload(good, { key: readOnly }), 403],
      [await upload(good, { type: "application/json" }), 415],
      [await upload(good, { type: null }), 415],
      [await upload(good, { query: "?mapping=%7Bnope" }), 400],
      [await upload(good, { query: `?mapping=${encodeURIComponent('{"mobile":"手机号"}')}` }), 400],
      [await upload(good, { query: `?mapping=${encodeURIComponent('{"phone":"电话"}')}` }), 400],
      [await upload(good, { query: "?encoding=latin9" }), 400],
      [await upload("姓名,备注\n王五,x\n"), 400],
      [await upload(""), 400],
      [await upload("not a zip at all", { type: XLSX }), 400],
    ];
    for (const [r, status] of cases) {
      expect(r.status).toBe(status);
      expect(r.json.reason).toEqual(expect.any(String));
    }
    expect(await customerCount()).toBe(customers);
    expect(await jobRows()).toBe(jobs);
  });

  it("leaves the job FAILED with the committed batches counted when the client disconnects mid-file", async () => {
    const before = await customerCount();
    const req = http.request(`${t.url}/import/customers`, { method: "POST", headers: { "content-type": "text/csv", authorization: `Bearer ${t.adminKey}` } });
    req.on("error", () => undefined);
    req.write("手机号,姓名\n");
    // 1,500 rows: one full batch of 1,000 is ingested; the other 500 wait for more that never comes.
    for (let i = 0; i < 1500; i++) req.write(`1591${String(i).padStart(7, "0")},断线${i}\n`);
    const running = async () => (await t.server.app.db.dataSource.query(`SELECT id, status, processed, accepted FROM import_jobs WHERE status = 'RUNNING'`))[0];
    for (let i = 0; i < 600 && !((await running())?.processed >= 1000); i++) await new Promise((r) => setTimeout(r, 50));
    const { id } = await running();
    req.destroy();
    let row: any;
    for (let i = 0; i < 200; i++) {
      [row] = await t.server.app.db.dataSource.query(`SELECT status, processed, accepted, rejected, error FROM import_jobs WHERE id = $1`, [id]);
      if (row.status !== "RUNNING") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(row).toMatchObject({ status: "FAILED", processed: 1000, accepted: 1000, rejected: 0, error: expect.stringMatching(/disconnected/) });
    expect(await customerCount()).toBe(before + 1000);
  });

  it("shows a job to its tenant only", async () => {
    const r = await upload("手机号\n13912345641\n");
    const other = await createTenant(t, "别家店铺");
    expect((await t.gql(JOB, { id: r.json.jobId }, other.key)).data.importJob).toBeNull();
    expect((await t.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: r.json.jobId }, other.key)).data.node).toBeNull();
    expect((await t.gql(`query($id: ID!) { node(id: $id) { ... on ImportJob { status } } }`, { id: r.json.jobId })).data.node).toEqual({ status: "COMPLETED" });
    const { key: noRead } = await createKey(t, ["customers:write"]);
    expect((await t.gql(JOB, { id: r.json.jobId }, noRead)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

describe("exportCustomers", () => {
  const EXPORT = `mutation($filter: CustomerFilter, $format: ExportFormat) { exportCustomers(input: {filter: $filter, format: $format}) { job { id kind status format downloadUrl } userErrors { code message } } }`;
  const seed = [
    "姓名,手机号,邮箱,性别,生日,国家,省份,城市,标签,会员卡号,有赞买家ID,淘宝买家ID,unionid,openid,等级,备注",
    "钱多多,13912345651,qian@example.cn,男,1985-01-02,CN,上海市,上海市,\"VIP,老客户\",P-001,yz-qian,tb-qian,un-qian,op-qian,金卡,=1+1 不是公式",
    "孙小美,+44 7911 123456,,女,,,,,新客,,,,,,,",
    "'0012 会员,,member-only@example.cn,,,,,,,00123,,,,,银卡,",
  ].join("\n");
  let source: { key: string };

  const snapshot = async (key: string) => {
    const r = await t.gql(`{ customers(first: 250) { nodes { ${PROFILE} } } }`, {}, key);
    return r.data.customers.nodes
      .map((c: any) => ({ ...c, identities: c.identities.map((i: any) => `${i.type}:${i.value}`).sort() }))
      .sort((a: any, b: any) => a.identities.join().localeCompare(b.identities.join()));
  };

  /** Exports (CSV when `format` is left out), waits for the job and downloads the file. */
  async function exportAndDownload(key: string, format?: "CSV" | "XLSX", filter?: object) {
    const r = await t.gql(EXPORT, { format, filter }, key);
    expect(r.data.exportCustomers.userErrors).toEqual([]);
    const id = r.data.exportCustomers.job.id;
    expect(r.data.exportCustomers.job).toMatchObject({ kind: "CUSTOMERS_EXPORT", format: format ?? "CSV" });
    let j: any;
    for (let i = 0; i < 400; i++) {
      j = await job(id, key);
      if (j.status !== "RUNNING") break;
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(j.status).toBe("COMPLETED");
    const local = localId(id, "ImportJob");
    expect(j.downloadUrl).toBe(`https://crm.example.cn/exports/${id}`);
    const ext = (format ?? "CSV").toLowerCase();
    expect(fs.existsSync(path.join(dataDir, "exports", `${local}.${ext}`))).toBe(true);
    const res = await fetch(`${t.url}/exports/${id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toMatch(new RegExp(`^attachment; filename="?customers-\\d{4}-\\d{2}-\\d{2}\\.${ext}"?$`));
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    return { id, job: j, type: res.headers.get("content-type"), body: Buffer.from(await res.arrayBuffer()) };
  }

  beforeAll(async () => {
    source = await createTenant(t, "导出源");
    const r = await upload(seed, { key: source.key });
    expect(r.json).toMatchObject({ status: "COMPLETED", accepted: 3 });
  });

  it("writes a UTF-8 CSV with a BOM and Chinese headers that imports back into another tenant unchanged", async () => {
    const { body, type, job: j } = await exportAndDownload(source.key, "CSV");
    expect(type).toBe("text/csv; charset=utf-8");
    expect(j.processed).toBe(3);
    const text = body.toString("utf8");
    expect(text.startsWith(BOM)).toBe(true);
    expect(text.split("\r\n")[0]).toBe(`${BOM}姓名,手机号,邮箱,性别,生日,国家,省份,城市,标签,会员卡号,有赞买家ID,淘宝买家ID,unionid,openid,zoho_contact,external,备注,等级`);
    expect(text).toContain("钱多多,13912345651,"); // the merchant's own region: the national number
    expect(text).toContain("'+447911123456"); // anything else: E.164, guarded against Excel formulas
    expect(text).toContain("'=1+1 不是公式");

    const target = await createTenant(t, "导入目标");
    const r = await upload(body, { key: target.key });
    expect(r.json).toMatchObject({ status: "COMPLETED", processed: 3, accepted: 3, rejected: 0 });
    expect(await snapshot(target.key)).toEqual(await snapshot(source.key));
    expect((await byIdentity("pos_member", "00123", target.key)).displayName).toBe("'0012 会员");
  });

  it("writes an xlsx workbook that imports back too", async () => {
    const { body, type } = await exportAndDownload(source.key, "XLSX");
    expect(type).toBe(XLSX);
    const target = await createTenant(t, "导入目标二");
    const r = await upload(body, { key: target.key, type: XLSX });
    expect(r.json).toMatchObject({ status: "COMPLETED", accepted: 3, rejected: 0 });
    expect(await snapshot(target.key)).toEqual(await snapshot(source.key));
  });

  it("exports only the customers the filter selects", async () => {
    const { body } = await exportAndDownload(source.key, undefined, { tags: ["VIP"] });
    const lines = body.toString("utf8").trim().split("\r\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^钱多多,/);
  });

  it("serves the file to its tenant's readers only", async () => {
    const { id } = await exportAndDownload(source.key, "CSV");
    const get = (key: string | null, jobId = id) => fetch(`${t.url}/exports/${jobId}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    expect((await get(null)).status).toBe(401);
    expect((await get(t.adminKey)).status).toBe(404); // another tenant's export
    const { key: writeOnly } = await createKey(t, ["customers:write"], source.key);
    expect((await get(writeOnly)).status).toBe(403);
    const imp = await upload("手机号\n13912345661\n", { key: source.key });
    expect((await get(source.key, imp.json.jobId)).status).toBe(404); // an import has no file
    expect((await get(source.key, "nope")).status).toBe(404);
    const { key: reader } = await createKey(t, ["customers:read"], source.key);
    expect((await get(reader)).status).toBe(200);
  });

  it("runs at most three exports of a tenant at once, and serves none before it completes", async () => {
    const ds = t.server.app.db.dataSource;
    const [{ id: tenantId }] = await ds.query(`SELECT id FROM tenants WHERE name = '导出源'`);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [{ id }] = await ds.query(
        `INSERT INTO import_jobs (tenant_id, kind, status, format, file_path) VALUES ($1, 'customers_export', 'RUNNING', 'csv', 'exports/x.csv') RETURNING id`,
        [tenantId],
      );
      ids.push(id);
    }
    try {
      const r = await t.gql(EXPORT, {}, source.key);
      expect(r.data.exportCustomers).toEqual({ job: null, userErrors: [{ code: "CONFLICT", message: expect.any(String) }] });
      const get = (id: string) => fetch(`${t.url}/exports/${toGlobalId("ImportJob", id)}`, { headers: { authorization: `Bearer ${source.key}` } });
      expect((await get(ids[0])).status).toBe(409);
      expect((await job(toGlobalId("ImportJob", ids[0]), source.key)).downloadUrl).toBeNull();
      await ds.query(`UPDATE import_jobs SET status = 'FAILED', error = 'test' WHERE id = $1`, [ids[0]]);
      expect((await get(ids[0])).status).toBe(410);
    } finally {
      await ds.query(`UPDATE import_jobs SET status = 'FAILED' WHERE id = ANY($1)`, [ids]);
    }
    expect((await t.gql(EXPORT, {}, source.key)).data.exportCustomers.userErrors).toEqual([]);
  });

  it("needs customers:read", async () => {
    const { key } = await createKey(t, ["customers:write"]);
    expect((await t.gql(EXPORT, {}, key)).errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  describe("retention (EXPORT_RETENTION_HOURS, 24 by default)", () => {
    const HOUR = 3_600_000;
    const localOf = (id: string) => localId(id, "ImportJob");
    const fileOf = (id: string, ext = "csv") => path.join(dataDir, "exports", `${localOf(id)}.${ext}`);
    const download = (id: string) => fetch(`${t.url}/exports/${id}`, { headers: { authorization: `Bearer ${source.key}` } });
    const finishedAgo = async (id: string, ms: number) => {
      await t.server.app.db.dataSource.query(`UPDATE import_jobs SET finished_at = $2 WHERE id = $1`, [localOf(id), new Date(Date.now() - ms)]);
    };
    const EXPIRY = `query($id: ID!) { importJob(id: $id) { status finishedAt expiresAt downloadUrl } }`;
    const expiry = async (id: string) => (await t.gql(EXPIRY, { id }, source.key)).data.importJob;
    const expiredReason = { error: "expired", reason: "the export expired after 24 hours; start a new one" };

    it("tells when a completed export expires, and nothing for imports", async () => {
      const { id } = await exportAndDownload(source.key, "CSV");
      const j = await expiry(id);
      expect(Date.parse(j.expiresAt) - Date.parse(j.finishedAt)).toBe(24 * HOUR);
      const imp = await upload("手机号\n13912345662\n", { key: source.key });
      expect((await expiry(imp.json.jobId)).expiresAt).toBeNull();
    });

    it("deletes the file of an export completed longer ago than the retention, answering 410 with the reason; a fresh one stays", async () => {
      const { id: old } = await exportAndDownload(source.key, "CSV");
      const { id: fresh } = await exportAndDownload(source.key, "XLSX");
      await finishedAgo(old, 24 * HOUR + 60_000);
      await finishedAgo(fresh, 23 * HOUR);

      // Refused from its expiry on, whether or not the sweeper has come by yet.
      const early = await download(old);
      expect(early.status).toBe(410);
      expect(await early.json()).toEqual(expiredReason);
      expect(fs.existsSync(fileOf(old))).toBe(true);

      const swept = await t.server.app.imports.sweepExports();
      expect(swept.expired).toBeGreaterThanOrEqual(1);
      expect(fs.existsSync(fileOf(old))).toBe(false);
      const res = await download(old);
      expect(res.status).toBe(410);
      expect(await res.json()).toEqual(expiredReason);
      const j = await expiry(old);
      expect(j).toMatchObject({ status: "COMPLETED", downloadUrl: null });
      expect(Date.parse(j.expiresAt)).toBe(Date.parse(j.finishedAt) + 24 * HOUR);
      expect(Date.parse(j.expiresAt)).toBeLessThan(Date.now());

      expect(fs.existsSync(fileOf(fresh, "xlsx"))).toBe(true);
      expect((await download(fresh)).status).toBe(200);
      expect((await expiry(fresh)).downloadUrl).toBe(`https://crm.example.cn/exports/${fresh}`);

      // Twice is harmless: nothing more to delete, and the answers stay the same.
      expect(await t.server.app.imports.sweepExports()).toEqual({ expired: 0, failed: 0, orphans: 0 });
      expect((await download(old)).status).toBe(410);
      expect((await download(fresh)).status).toBe(200);
    });

    it("deletes what a failed export left behind", async () => {
      const ds = t.server.app.db.dataSource;
      const [{ id: tenantId }] = await ds.query(`SELECT id FROM tenants WHERE name = '导出源'`);
      const [{ id }] = await ds.query(
        `INSERT INTO import_jobs (tenant_id, kind, status, format, error, finished_at) VALUES ($1, 'customers_export', 'FAILED', 'csv', 'the export failed; start a new one', now()) RETURNING id`,
        [tenantId],
      );
      await ds.query(`UPDATE import_jobs SET file_path = $2 WHERE id = $1`, [id, `exports/${id}.csv`]);
      const file = path.join(dataDir, "exports", `${id}.csv`);
      fs.writeFileSync(file, "姓名\r\n");
      fs.writeFileSync(`${file}.part`, "姓名\r\n");
      await t.server.app.imports.sweepExports();
      expect(fs.existsSync(file)).toBe(false);
      expect(fs.existsSync(`${file}.part`)).toBe(false);
      const res = await download(toGlobalId("ImportJob", id));
      expect(res.status).toBe(410);
      expect(await res.json()).toEqual({ error: "gone", reason: "the export failed; start a new one" });
    });

    it("deletes files that belong to no job once they are older than the retention, and leaves other files alone", async () => {
      const dir = path.join(dataDir, "exports");
      const old = new Date(Date.now() - 25 * HOUR);
      const orphan = path.join(dir, "0b8e1a52-5d1c-4c47-9f0e-2f1f3c9a7e11.xlsx");
      const orphanPart = path.join(dir, "1c9f2b63-6e2d-4d58-8a1f-3a2a4dab8f22.csv.part");
      const young = path.join(dir, "2da03c74-7f3e-4e69-9b2a-4b3b5ebc9a33.csv");
      const notOurs = path.join(dir, "README.txt");
      for (const f of [orphan, orphanPart, young, notOurs]) fs.writeFileSync(f, "x");
      for (const f of [orphan, orphanPart, notOurs]) fs.utimesSync(f, old, old);
      // An expired job's file is the job's: its age on disk does not matter, its completion time does.
      const { id: kept } = await exportAndDownload(source.key, "CSV");
      fs.utimesSync(fileOf(kept), old, old);

      const swept = await t.server.app.imports.sweepExports();
      expect(swept.orphans).toBe(2);
      expect(fs.existsSync(orphan)).toBe(false);
      expect(fs.existsSync(orphanPart)).toBe(false);
      expect(fs.existsSync(young)).toBe(true);
      expect(fs.existsSync(notOurs)).toBe(true);
      expect(fs.existsSync(fileOf(kept))).toBe(true);
      expect((await download(kept)).status).toBe(200);
      expect((await t.server.app.imports.sweepExports()).orphans).toBe(0);
    });
  });
});
