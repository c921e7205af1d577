import http from "node:http";
import { Session } from "node:inspector";
import { readFileSync } from "node:fs";
import path from "node:path";
import { buildSchema, execute, parse } from "graphql";

/**
 * What bounds the reads ratio, measured beside the two servers of `npm run bench -- reads`:
 *
 * - **graphql-js alone**: node:http + graphql-js `execute` of the same document over the same schema (its SDL, with
 *   graphql-js's default resolvers) and the same answer held in memory — no database, no authentication, no Apollo,
 *   no type-graphql, no TypeORM. No server that executes this page with graphql-js can do better; its ratio to the
 *   hand-written server is the ceiling of the mandated stack.
 * - **where ours spends its CPU**: a sampling profile (node:inspector) while ours is under load, self time by package.
 */
export function graphqlJsAlone(document: string, data: unknown): Promise<http.Server> {
  // The committed SDL (checked against the code for drift): same types and fields, every resolver the default one.
  const plain = buildSchema(readFileSync(path.join(__dirname, "..", "..", "schema", "schema.graphql"), "utf8"));
  const doc = parse(document);
  const s = http.createServer((req, res) => {
    req.resume();
    req.on("end", async () => {
      try {
        const result = await execute({ schema: plain, document: doc, rootValue: data });
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  // The clients' keep-alive sockets sit idle while the other servers are measured: no idle close under them.
  s.keepAliveTimeout = 120_000;
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
}

interface ProfileNode {
  id: number;
  callFrame: { url: string; functionName: string };
  hitCount?: number;
  children?: number[];
}

/** Self time of this process while `during` runs, as shares by where the code lives (package, or what V8 names). */
export async function profileShares(during: () => Promise<unknown>): Promise<{ what: string; share: number }[]> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 200 });
  await post("Profiler.start");
  let profile: { nodes: ProfileNode[] };
  try {
    await during();
  } finally {
    profile = (await post<{ profile: { nodes: ProfileNode[] } }>("Profiler.stop")).profile;
    session.disconnect();
  }
  const totals = new Map<string, number>();
  let all = 0;
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    all += hits;
    const what = bucket(n.callFrame.url, n.callFrame.functionName);
    totals.set(what, (totals.get(what) ?? 0) + hits);
  }
  return [...totals.entries()].map(([what, hits]) => ({ what, share: hits / all })).sort((a, b) => b.share - a.share);
}

function bucket(url: string, fn: string): string {
  if (!url) return fn === "(garbage collector)" ? "garbage collection" : fn === "(idle)" ? "idle (waiting on I/O)" : "V8 and native code (JSON, parsing, builtins)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith("node:")) return "Node.js core";
  if (/\/dist\/bench\//.test(url)) return "bench (clients, baseline)";
  const ours = /\/dist\/(src\/.*)\.js$/.exec(url);
  if (ours) return `${ours[1]}.ts`;
  return url;
}
