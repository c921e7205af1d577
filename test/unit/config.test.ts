import { ConfigError, loadConfig } from "../../src/config";

describe("configuration", () => {
  it("has defaults for everything", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 4000, dataDir: "./data", databaseUrl: undefined, publicUrl: "http://localhost:4000", logLevel: "info", defaultPhoneRegion: "CN", exportRetentionHours: 24 });
  });
  it("derives PUBLIC_URL from PORT and strips a trailing slash from a given one", () => {
    expect(loadConfig({ PORT: "8080" }).publicUrl).toBe("http://localhost:8080");
    expect(loadConfig({ PUBLIC_URL: "https://crm.example.cn/" }).publicUrl).toBe("https://crm.example.cn");
  });
  it("reads CRM_SECRET_KEY as comma-separated 32-byte keys in hex or base64", () => {
    expect(loadConfig({}).secretKeys).toEqual([]);
    const keys = loadConfig({ CRM_SECRET_KEY: `${"0f".repeat(32)}, ${Buffer.alloc(32, 7).toString("base64")}` }).secretKeys;
    expect(keys.map((k) => k.toString("hex"))).toEqual(["0f".repeat(32), "07".repeat(32)]);
  });
  it("keeps exports for EXPORT_RETENTION_HOURS", () => {
    expect(loadConfig({ EXPORT_RETENTION_HOURS: "1" }).exportRetentionHours).toBe(1);
    expect(loadConfig({ EXPORT_RETENTION_HOURS: " " }).exportRetentionHours).toBe(24);
  });
  it.each([
    [{ PORT: "eighty" }, /PORT/],
    [{ PORT: "70000" }, /PORT/],
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL/],
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL/],
    [{ CRM_BOOTSTRAP_TENANT_KEY: "short" }, /CRM_BOOTSTRAP_TENANT_KEY/],
    [{ PUBLIC_URL: "crm.example.cn" }, /PUBLIC_URL/],
    [{ DEFAULT_PHONE_REGION: "china" }, /DEFAULT_PHONE_REGION/],
    [{ EXPORT_RETENTION_HOURS: "0" }, /EXPORT_RETENTION_HOURS/],
    [{ EXPORT_RETENTION_HOURS: "1.5" }, /EXPORT_RETENTION_HOURS/],
    [{ EXPORT_RETENTION_HOURS: "a day" }, /EXPORT_RETENTION_HOURS/],
    [{ CRM_SECRET_KEY: "too-short" }, /CRM_SECRET_KEY/],
    [{ REDIS_URL: "localhost:6379" }, /REDIS_URL/],
    [{ CRM_SECRET_KEY: `${"ab".repeat(32)},${"ab".repeat(31)}` }, /CRM_SECRET_KEY/],
  ])("refuses %p with a one-line reason naming the variable", (env, name) => {
    let error: unknown;
    try {
      loadConfig(env as NodeJS.ProcessEnv);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(name);
    expect((error as Error).message).not.toContain("\n");
  });
});
