import pino from "pino";
import type { App } from "../../../src/app";
import { definePlugin, PLUGIN_CONTRACT_VERSION } from "../../../src/plugins";
import { PluginHost } from "../../../src/plugins/host";
import { builtinPlugins } from "../../../adapters";

/** Registering plugins needs only the app's logger; the lines it writes are kept to be read. */
function hostWithLog() {
  const lines: { msg: string; plugin?: string }[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { host: new PluginHost({ log } as unknown as App), lines };
}
const plugin = (compatibility?: string) => definePlugin({ name: "compat-probe", version: "0.1.0", ...(compatibility === undefined ? {} : { compatibility }) });

describe("plugin compatibility", () => {
  it("is at contract 1.3.0", () => {
    expect(PLUGIN_CONTRACT_VERSION).toBe("1.3.0");
  });

  it.each(["^1.0.0", "1.x", ">=1.3.0 <2", "~1.3.0"])("loads a plugin whose range %s includes the contract", (range) => {
    const { host, lines } = hostWithLog();
    host.register(plugin(range));
    expect(host.get("compat-probe")).toBeDefined();
    expect(lines).toEqual([]);
  });

  it.each([
    ["^2.0.0", /needs plugin contract \^2\.0\.0; this server has 1\.3\.0/],
    ["~1.1.0", /needs plugin contract ~1\.1\.0/],
    ["not a range", /is not a semver range/],
  ])("refuses a plugin whose compatibility is %s, with the reason", (range, reason) => {
    const { host } = hostWithLog();
    expect(() => host.register(plugin(range))).toThrow(reason);
    expect(host.get("compat-probe")).toBeUndefined();
  });

  it("loads a plugin without a compatibility with a warning", () => {
    const { host, lines } = hostWithLog();
    host.register(plugin());
    expect(host.get("compat-probe")).toBeDefined();
    expect(lines).toEqual([expect.objectContaining({ plugin: "compat-probe", msg: expect.stringMatching(/declares no compatibility/) })]);
  });

  it("every built-in adapter declares a range that includes the contract", () => {
    for (const p of builtinPlugins) {
      const { host, lines } = hostWithLog();
      host.register(p);
      expect({ name: p.name, warnings: lines }).toEqual({ name: p.name, warnings: [] });
    }
  });
});
