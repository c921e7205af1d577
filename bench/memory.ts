import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** This process's memory after full collections: what it retains, not garbage waiting for the collector. */
export function settledMemory(): { heapBytes: number; rssBytes: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heapBytes: m.heapUsed + m.external + m.arrayBuffers, rssBytes: m.rss };
}
