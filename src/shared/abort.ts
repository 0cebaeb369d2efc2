/**
 * Runs `fn` when `signal` aborts, or at once when it already has: an abort that came before the
 * listener was added has fired its event already. Returns the function that stops listening.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
