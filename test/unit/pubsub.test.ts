import { createServer } from "node:net";
import pino from "pino";
import { PubSub } from "../../src/events/pubsub";

describe("PubSub", () => {
  it("delivers in process by tenant, and broadcast types to every tenant's listeners too", async () => {
    const pubsub = PubSub.inProcess();
    const forA = pubsub.subscribe("api_key.revoked", "tenant-a")[Symbol.asyncIterator]();
    const forAll = pubsub.subscribe("api_key.revoked", "*")[Symbol.asyncIterator]();
    const nextA = forA.next();
    const nextAll = forAll.next();
    pubsub.publish({ type: "api_key.revoked", tenantId: "tenant-a", keyId: "k1", eventId: "1", occurredAt: new Date().toISOString(), version: 1, source: { kind: "platform" } });
    expect((await nextA).value).toMatchObject({ keyId: "k1" });
    expect((await nextAll).value).toMatchObject({ keyId: "k1" });
    await forA.return?.();
    await forAll.return?.();
  });

  it("refuses a REDIS_URL that does not answer, with a reason, and leaves nothing running", async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    await expect(PubSub.redis(`redis://127.0.0.1:${port}`, pino({ level: "silent" }))).rejects.toThrow(/^REDIS_URL: cannot connect/);
  });
});

(process.env.REDIS_URL ? describe : describe.skip)("PubSub on Redis (REDIS_URL)", () => {
  it("answers reachable while connected and not after the connection is gone", async () => {
    const pubsub = await PubSub.redis(process.env.REDIS_URL!, pino({ level: "silent" }));
    expect(pubsub.kind).toBe("redis");
    expect(await pubsub.reachable()).toBe(true);
    await pubsub.close();
    expect(await pubsub.reachable()).toBe(false);
  });
});
