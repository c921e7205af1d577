import WebSocket from "ws";
import { createClient } from "graphql-ws";

/**
 * A child process of `npm run bench -- fanout`: opens `count` graphql-ws clients subscribed to one
 * customer and `count` plain sockets to the baseline, and notes when each new name arrives.
 */
let arrivals: { name: string; at: number }[] = [];

process.on("message", async (m: { type: string; url: string; bareUrl: string; key: string; id: string; count: number }) => {
  if (m.type === "report") {
    process.send!({ type: "arrivals", arrivals });
    arrivals = [];
    return;
  }
  if (m.type !== "start") return;
  // Connections open a few hundred at a time: 10,000 at once overflow the listen backlog and come back as resets.
  let opened: Promise<void>[] = [];
  for (let i = 0; i < m.count; i++) {
    if (opened.length >= 400) {
      await Promise.all(opened);
      opened = [];
    }
    const client = createClient({ url: m.url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams: { authorization: `Bearer ${m.key}` } });
    opened.push(new Promise<void>((resolve) => client.on("connected", () => resolve())));
    client.subscribe(
      { query: `subscription($id: ID) { customerUpdated(id: $id) { id displayName } }`, variables: { id: m.id } },
      { next: (r: any) => void arrivals.push({ name: r.data?.customerUpdated?.displayName, at: Date.now() }), error: () => undefined, complete: () => undefined },
    );
    const bare = new WebSocket(m.bareUrl);
    opened.push(
      new Promise<void>((resolve, reject) => {
        bare.once("open", () => resolve());
        bare.once("error", reject);
      }),
    );
    bare.on("message", (data) => {
      const msg = JSON.parse(String(data));
      arrivals.push({ name: msg.payload.data.customerUpdated.displayName, at: Date.now() });
    });
  }
  await Promise.all(opened);
  process.send!({ type: "ready" });
});
