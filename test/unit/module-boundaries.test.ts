import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { boundaryViolations } from "../../src/scripts/check-boundaries";

const root = path.resolve(__dirname, "../..");

describe("module boundaries", () => {
  it("no file imports another module past its index.ts, and adapters import only the plugin contract", () => {
    expect(boundaryViolations(root).map((v) => `${v.file}:${v.line} ${v.specifier} — ${v.rule}`)).toEqual([]);
  });

  it("catches a deep import, a type-only one, a dynamic one, an adapter reaching into a module, and SQL on another module's table", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "boundaries-"));
    try {
      const write = (file: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
      };
      write("src/modules/a/index.ts", `export const a = 1;\n`);
      write("src/modules/a/entity.ts", `@Entity({ name: "a_things" })\nexport class AThing {}\n`);
      write("src/modules/a/repo.ts", `export const q = "SELECT * FROM a_things";\n`);
      write("src/modules/b/sql.ts", `export const q = \`UPDATE a_things SET x = 1\`;\nexport const ok = "SELECT * FROM a_thingsy";\n`);
      write("src/modules/a/service.ts", `import { x } from "./entity";\nimport { b } from "../b";\n`);
      write("src/modules/b/index.ts", `export { b } from "./service";\n`);
      write("src/modules/b/service.ts", `import type { A } from "../a/entity";\nimport { a } from "../a/index";\nexport const b = 2;\n`);
      write("src/modules/b/lazy.ts", `export const load = () => import("../a/service");\n`);
      write("src/app.ts", `import { a } from "./modules/a";\nimport { S } from "./modules/b/service";\n`);
      write("adapters/shop/index.ts", `import { definePlugin } from "../../src/plugins";\nimport { x } from "./parse";\nimport { C } from "../../src/modules/a";\n`);
      expect(boundaryViolations(dir).map((v) => `${v.file}:${v.line} ${v.specifier}`).sort()).toEqual([
        "adapters/shop/index.ts:3 ../../src/modules/a",
        "src/app.ts:2 ./modules/b/service",
        "src/modules/b/lazy.ts:1 ../a/service",
        "src/modules/b/service.ts:1 ../a/entity",
        "src/modules/b/sql.ts:1 UPDATE a_things",
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
