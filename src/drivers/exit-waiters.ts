/** The callers waiting for a guest's process to end, as both drivers keep them. */
export type ExitWaiters = Array<() => void>;

/** Resolves true once `done()` holds or a waiter in `waiters` is woken, false after `timeoutMs`. */
export function waitForExit(done: () => boolean, waiters: ExitWaiters, timeoutMs: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    waiters.push(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
