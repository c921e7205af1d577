/** Polls `fn` until it returns a value (work that happens in the background: the queue, deliveries), for at most `ms`. */
export async function until<T>(fn: () => Promise<T | undefined | null | false>, what: string, ms = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
