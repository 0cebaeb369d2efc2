/**
 * Last-resort cleanup when the run is interrupted (Ctrl-C, SIGTERM): finally blocks do not run then, so each
 * resource a benchmark creates (a QEMU pid, a libvirt domain, a temp dir) also registers a synchronous undo here.
 */
const pending = new Set<() => void>();
let installed = false;

/** Registers `undo` to run if the process is interrupted; call the returned function once the resource is gone. */
export function onInterrupt(undo: () => void): () => void {
  pending.add(undo);
  return () => {
    pending.delete(undo);
  };
}

/** Makes SIGINT and SIGTERM run every registered undo (newest first), then exit with 128 + signal number. */
export function installInterruptCleanup(): void {
  if (installed) return;
  installed = true;
  const handler = (signal: NodeJS.Signals, exitCode: number): void => {
    process.stderr.write(`\n[bench] ${signal}: cleaning up ${pending.size} resource(s)\n`);
    for (const undo of [...pending].reverse()) {
      try {
        undo();
      } catch (err) {
        process.stderr.write(`[bench] cleanup failed: ${(err as Error).message}\n`);
      }
    }
    process.exit(exitCode);
  };
  process.once('SIGINT', () => handler('SIGINT', 130));
  process.once('SIGTERM', () => handler('SIGTERM', 143));
}
