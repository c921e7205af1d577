import { WebSocketServer } from "ws";
import { settledMemory } from "./memory";

/**
 * The baseline server of `npm run bench -- fanout`, in a process of its own (its sockets then count
 * against its own descriptor limit, not the server's): broadcasts what the parent sends it.
 */
const wss = new WebSocketServer({ port: 0 });
wss.once("listening", () => process.send!({ type: "listening", port: (wss.address() as { port: number }).port }));
process.on("message", (m: { type: string; payload: string }) => {
  if (m.type === "broadcast") for (const c of wss.clients) c.send(m.payload);
  if (m.type === "memory") process.send!({ type: "memory", ...settledMemory() });
  if (m.type === "close") wss.close(() => process.exit(0));
});
