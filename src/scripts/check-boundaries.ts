import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

/**
 * The module boundary, checked on every import of the code base (`npm run lint`, and a test in the
 * suite): a file outside `src/modules/<m>/` may import from that module only its `index.ts`, and an
 * adapter only `src/plugins` (the public plugin contract) besides its own folder. Tests may reach
 * anywhere.
 *
 * Tables too: a module's tables (its `@Entity({ name })`) appear in SQL (`FROM`, `JOIN`, `INTO`,
 * `UPDATE`, `DELETE FROM`) only in that module's own files — others go through its service.
 */
export interface Violation {
  file: string;
  line: number;
  specifier: string;
  rule: string;
}

const SOURCE_DIRS = ["src", "adapters", "bench", "migrations"];

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" || e.name === "testing" ? filesUnder(p).filter(() => e.name !== "node_modules") : filesUnder(p);
    return /\.ts$/.test(e.name) && !/\.d\.ts$/.test(e.name) ? [p] : [];
  });
}

/** `src/modules/<m>/…` → m; null elsewhere. */
function moduleOf(rel: string): string | null {
  const m = /^src\/modules\/([^/]+)\//.exec(rel);
  return m ? m[1] : null;
}

/** Table name → owning module, from the `@Entity({ name: "…" })` declarations under src/modules. */
function tableOwners(root: string): Map<string, string> {
  const owners = new Map<string, string>();
  for (const abs of filesUnder(path.join(root, "src/modules"))) {
    const owner = moduleOf(path.relative(root, abs).split(path.sep).join("/"));
    if (!owner) continue;
    for (const m of fs.readFileSync(abs, "utf8").matchAll(/@Entity\(\s*\{\s*name:\s*"([a-z_]+)"/g)) owners.set(m[1], owner);
  }
  return owners;
}

export function boundaryViolations(root: string): Violation[] {
  const out: Violation[] = [];
  const owners = tableOwners(root);
  const tableUse = owners.size ? new RegExp(`\\b(?:FROM|JOIN|INTO|UPDATE)\\s+(${[...owners.keys()].join("|")})\\b`, "g") : null;
  for (const abs of SOURCE_DIRS.flatMap((d) => filesUnder(path.join(root, d)))) {
    const rel = path.relative(root, abs).split(path.sep).join("/");
    if (/\.test\.ts$/.test(rel)) continue; // tests may reach anywhere
    const text = fs.readFileSync(abs, "utf8");
    const self = moduleOf(rel);
    if (self && tableUse) {
      for (const m of text.matchAll(tableUse)) {
        const owner = owners.get(m[1])!;
        if (owner !== self) {
          out.push({ file: rel, line: text.slice(0, m.index).split("\n").length, specifier: m[0], rule: `the ${m[1]} table belongs to the ${owner} module: use its service` });
        }
      }
    }
    const info = ts.preProcessFile(text, true, true);
    for (const ref of info.importedFiles) {
      const spec = ref.fileName;
      if (!spec.startsWith(".")) continue;
      const target = path.relative(root, path.resolve(path.dirname(abs), spec)).split(path.sep).join("/").replace(/\.(js|ts)$/, "");
      const line = text.slice(0, ref.pos).split("\n").length;
      const adapter = /^adapters\/([^/]+)\//.exec(rel);
      if (adapter) {
        const own = target.startsWith(`adapters/${adapter[1]}/`) || target === `adapters/${adapter[1]}`;
        const contract = target === "src/plugins" || target === "src/plugins/index" || target.startsWith("src/plugins/testing");
        if (!own && !contract) out.push({ file: rel, line, specifier: spec, rule: "an adapter imports only src/plugins and its own folder" });
        continue;
      }
      const targetModule = moduleOf(`${target}/`) ?? moduleOf(target);
      if (!targetModule || moduleOf(rel) === targetModule) continue;
      if (target !== `src/modules/${targetModule}` && target !== `src/modules/${targetModule}/index`) {
        out.push({ file: rel, line, specifier: spec, rule: `import the ${targetModule} module through src/modules/${targetModule}/index.ts` });
      }
    }
  }
  return out;
}

if (require.main === module) {
  const root = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? "../../.." : "../..");
  const found = boundaryViolations(root);
  for (const v of found) process.stderr.write(`${v.file}:${v.line}: "${v.specifier}" — ${v.rule}\n`);
  if (found.length) {
    process.stderr.write(`${found.length} import${found.length === 1 ? "" : "s"} cross a module boundary\n`);
    process.exit(1);
  }
  process.stdout.write("module boundaries: ok\n");
}
