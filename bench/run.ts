import "reflect-metadata";
import { ingestBench } from "./ingest";
import { adaptersBench } from "./adapters";
import { readsBench } from "./reads";
import { fanoutBench } from "./fanout";
import { segmentsBench } from "./segments";

/**
 * `npm run bench -- <scenario>`: runs one benchmark scenario (bench/<scenario>.ts), which prints its
 * figures beside a baseline measured in the same run and ends with one JSON line.
 */
const SCENARIOS: Record<string, () => Promise<number>> = {
  ingest: ingestBench,
  adapters: adaptersBench,
  reads: readsBench,
  fanout: fanoutBench,
  segments: segmentsBench,
};

async function main(): Promise<number> {
  const name = process.argv[2];
  const scenario = name ? SCENARIOS[name] : undefined;
  if (!scenario) {
    console.error(`usage: npm run bench -- <scenario>   (scenarios: ${Object.keys(SCENARIOS).join(", ")})`);
    return 2;
  }
  return scenario();
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  },
);
