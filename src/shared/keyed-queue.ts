/** Runs async work one at a time per key, in the order it was asked for; different keys run side by side. */
export class KeyedQueue<K> {
  private readonly tails = new Map<K, Promise<unknown>>();

  /** Runs `fn` once every earlier call for `key` has settled; resolves or rejects as `fn` does. */
  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(fn, fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
