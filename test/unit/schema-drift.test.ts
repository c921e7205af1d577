import fs from "node:fs";
import path from "node:path";
import { printableSchema } from "../../src/graphql/schema";

describe("schema/schema.graphql", () => {
  it("matches the schema the code builds (run `npm run schema` after changing the API)", async () => {
    const committed = fs.readFileSync(path.join(__dirname, "../../schema/schema.graphql"), "utf8");
    expect(committed).toBe(await printableSchema());
  });
});
