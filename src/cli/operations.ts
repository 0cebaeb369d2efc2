/** How commands follow the operations they start: progress on a tty, a hint on Ctrl-C, --no-wait. */
import type { ApiClient, OperationView } from './client.js';
import { printJson, progress, progressDone, renderProgress, type OutputFormat } from './output.js';

/** Follows an operation to its end with a progress bar on a tty; throws ApiError if it failed. */
export async function followOperation(client: ApiClient, op: OperationView, timeoutMs?: number): Promise<OperationView> {
  const label = `${op.kind} ${op.target.name ?? op.target.id}`;
  const interrupted = (): void => {
    progressDone();
    process.stderr.write(
      `\ninterrupted; operation ${op.id} goes on. Follow it with \`drover op wait ${op.id}\` or stop it with \`drover op cancel ${op.id}\`.\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    return await client.wait(op.id, (current) => progress(`${label} ${renderProgress(current.progress, current.message)}`), timeoutMs);
  } finally {
    process.off('SIGINT', interrupted);
    progressDone();
  }
}

/**
 * What `--no-wait` prints: the operation id alone on stdout (for scripts), a hint on stderr;
 * with -o json, the whole response that carried the operation.
 */
export function printStarted(op: OperationView, response: unknown, format: OutputFormat): void {
  if (format === 'json') {
    printJson(response);
    return;
  }
  process.stdout.write(`${op.id}\n`);
  if (process.stderr.isTTY) process.stderr.write(`${op.kind} started; follow it with \`drover op wait ${op.id}\`\n`);
}
