import "reflect-metadata";
import fs from "node:fs";
import path from "node:path";
import { printableSchema } from "../graphql/schema";

/** `npm run schema`: regenerates schema/schema.graphql from the code. */
async function main() {
  const file = path.resolve(__dirname, "../../../schema/schema.graphql");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, await printableSchema());
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
