import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { settledMemory } from "./memory";
import { benchServer, positiveInt } from "./database";

/**
 * Subscription fan-out (issue 10): BENCH_SUBSCRIBERS (1000) real graphql-ws clients, spread over
 * BENCH_PROCESSES (4) child processes, subscribe to `customerUpdated(id)` of one customer; the bench
 * sends BENCH_MUTATIONS (20) `updateCustomer` mutations 500 ms apart and each client reports when the
 * delivery carrying each new name arrived. Beside it, in the same run and to the same clients: a bare
 * `ws` server (a process of its own) that broadcasts the same payload — what the wire and the clients
 * cost by themselves.
 *
 * Prints p50/p99 from the mutation, missed deliveries, server RSS and the mutation round trip during
 * the burst; the last line is one JSON object.
 */
export async function fanoutBench(): Promise<number> {
  const subscribers = positiveInt("BENCH_SUBSCRIBERS", 1_000);
  const processes = positiveInt("BENCH_PROCESSES", 4);
  const mutations = positiveInt("BENCH_MUTATIONS", 20);
  const bench = await benchServer("crm_fanout", { OUTBOX_POLL_MS: "1000" });
  const { server, adminKey } = bench;
  const gql = async (query: string, variables: object) => {
    const res = await fetch(`${server.url}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as any;
  };
  const children: ChildProcess[] = [];
  try {
    const created = await gql(`mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } } }`, { i: { displayName: "扇出", phone: "13800138999" } });
    const id = created.data.createCustomer.customer.id as string;

    // The baseline: a bare ws server broadcasting the same payload shape, in a process of its own.
    const bare = fork(path.join(__dirname, "fanout-bare.js"), [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    children.push(bare);
    const barePort = await new Promise<number>((resolve) => bare.once("message", (m: any) => resolve(m.port)));
    const bareUrl = `ws://127.0.0.1:${barePort}`;

    const bareMemory = () => new Promise<{ heapBytes: number; rssBytes: number }>((resolve) => {
      bare.once("message", (m: any) => resolve(m));
      bare.send({ type: "memory" });
    });
    const idleBefore = { ours: settledMemory(), bare: await bareMemory() };
    const per = Math.ceil(subscribers / processes);
    const clientProcesses: ChildProcess[] = [];
    const ready: Promise<void>[] = [];
    const arrivals: { name: string; at: number }[] = [];
    for (let p = 0; p < processes; p++) {
      const child = fork(path.join(__dirname, "fanout-client.js"), [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
      children.push(child);
      clientProcesses.push(child);
      child.on("message", (m: any) => {
        if (m.type === "arrivals") arrivals.push(...m.arrivals);
      });
      ready.push(
        new Promise((resolve, reject) => {
          child.once("message", (m: any) => m.type === "ready" && resolve());
          child.once("exit", (code) => reject(new Error(`a client process exited (${code}) before all its subscribers were connected`)));
        }),
      );
      child.send({ type: "start", url: server.url.replace("http", "ws") + "/graphql", bareUrl, key: adminKey, id, count: Math.min(per, subscribers - p * per) });
    }
    await Promise.all(ready);
    // Memory per idle subscriber: what the server process retains for each open, subscribed socket.
    await new Promise((r) => setTimeout(r, 1_000));
    const idleAfter = { ours: settledMemory(), bare: await bareMemory() };
    const perSubscriber = (k: "ours" | "bare", f: "heapBytes" | "rssBytes") => Math.round((idleAfter[k][f] - idleBefore[k][f]) / subscribers / 102.4) / 10;
    const idle = { oursHeapKb: perSubscriber("ours", "heapBytes"), oursRssKb: perSubscriber("ours", "rssBytes"), bareHeapKb: perSubscriber("bare", "heapBytes"), bareRssKb: perSubscriber("bare", "rssBytes") };
    // Warm-up: one event everybody must see before timing.
    await gql(`mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { customer { id } } }`, { i: { id, displayName: "warm-up" } });
    await new Promise((r) => setTimeout(r, 3_000));
    arrivals.length = 0;

    const run = async (send: (name: string) => Promise<void>) => {
      const sent = new Map<string, number>();
      const roundTrips: number[] = [];
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
      for (let m = 0; m < mutations; m++) {
        const name = `名${m}-${Date.now()}`;
        sent.set(name, Date.now());
        const t = performance.now();
        await send(name);
        roundTrips.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 500));
      }
      await new Promise((r) => setTimeout(r, 5_000));
      for (const c of clientProcesses) c.send({ type: "report" });
      await new Promise((r) => setTimeout(r, 1_000));
      clearInterval(sampler);
      const latencies = arrivals.filter((a) => sent.has(a.name)).map((a) => a.at - sent.get(a.name)!);
      arrivals.length = 0;
      latencies.sort((a, b) => a - b);
      roundTrips.sort((a, b) => a - b);
      const at = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
      return { p50: at(latencies, 0.5), p99: at(latencies, 0.99), missed: subscribers * mutations - latencies.length, roundTripP99: at(roundTrips, 0.99), peakRss: peak };
    };

    const baseline = await run(async (name) => {
      bare.send({ type: "broadcast", payload: JSON.stringify({ id: "1", type: "next", payload: { data: { customerUpdated: { id, displayName: name } } } }) });
    });
    const ours = await run(async (name) => {
      await gql(`mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { customer { id } } }`, { i: { id, displayName: name } });
    });
    const mb = (b: number) => Math.round(b / 1024 / 1024);
    console.log(`subscribers: ${subscribers} over ${processes} client processes, ${mutations} changes 500 ms apart`);
    console.log(`bare ws broadcast: p50 ${baseline.p50} ms, p99 ${baseline.p99} ms, missed ${baseline.missed}`);
    console.log(`ours: p50 ${ours.p50} ms, p99 ${ours.p99} ms from the mutation, missed ${ours.missed}; updateCustomer p99 ${ours.roundTripP99.toFixed(0)} ms during the burst; bench process RSS peak ${mb(ours.peakRss)} MB`);
    console.log(`idle subscriber: ours ${idle.oursHeapKb} kB of heap (${idle.oursRssKb} kB RSS), bare ws ${idle.bareHeapKb} kB of heap (${idle.bareRssKb} kB RSS)`);
    console.log(JSON.stringify({ scenario: "fanout", subscribers, idleHeapKb: idle.oursHeapKb, idleRssKb: idle.oursRssKb, baselineIdleHeapKb: idle.bareHeapKb, p50Ms: ours.p50, p99Ms: ours.p99, missed: ours.missed, mutationP99Ms: Math.round(ours.roundTripP99), rssPeakMb: mb(ours.peakRss), baselineP50Ms: baseline.p50, baselineP99Ms: baseline.p99 }));
    return ours.missed ? 1 : 0;
  } finally {
    for (const c of children) c.kill();
    await bench.close();
  }
}
