/** Async-iterable plumbing for subscriptions. */

/**
 * An async generator's `return()` waits for its pending `next()` — for a subscription, the next event,
 * which may never come: the subscription would run (and execute its selection once more) after its
 * client left. This wrapper ends at once: `return()` settles the pending `next()` as done and lets the
 * generator finish in the background.
 */
export function endsAtOnce<T>(source: AsyncGenerator<T>): AsyncIterableIterator<T> {
  let close!: () => void;
  const closed = new Promise<IteratorResult<T>>((resolve) => (close = () => resolve({ done: true, value: undefined })));
  let ended = false;
  const it: AsyncIterableIterator<T> = {
    next: () => (ended ? Promise.resolve({ done: true, value: undefined }) : Promise.race([source.next(), closed])),
    return: async () => {
      ended = true;
      close();
      void source.return(undefined).catch(() => undefined);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

/** Interleaves several async iterables; returning from it returns from all of them. */
export async function* mergeIterables<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<T> }>>();
  const next = (i: number) => pending.set(i, iterators[i].next().then((r) => ({ i, r })));
  iterators.forEach((_, i) => next(i));
  try {
    while (pending.size) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) pending.delete(i);
      else {
        next(i);
        yield r.value;
      }
    }
  } finally {
    await Promise.all(iterators.map((it) => it.return?.()));
  }
}
