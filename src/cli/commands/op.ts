import { Option, type Command } from 'commander';
import { apiPath, withQuery, type OperationView } from '../client.js';
import { followOperation } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { printJson, printObject, printTable, progress, progressDone, renderProgress } from '../output.js';
import { integerIn, secondsToMs } from '../parse.js';

const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/** `vm/web`: an operation's target for people. */
function target(op: OperationView): string {
  return `${op.target.type}/${op.target.name ?? op.target.id}`;
}

/** Prints one operation in full: key/value lines with one line per step, or JSON. */
function printOperation(op: OperationView, format: OutputOptions['output']): void {
  if (format === 'json') return printJson(op);
  printObject(
    {
      id: op.id,
      kind: op.kind,
      target: target(op),
      state: op.cancelRequested && (op.state === 'queued' || op.state === 'running') ? `${op.state} (cancel requested)` : op.state,
      progress: `${Math.round(op.progress * 100)}%`,
      message: op.message || '-',
      ...(op.error ? { error: `${op.error.code}: ${op.error.message}${op.error.detail ? ` (${op.error.detail})` : ''}` } : {}),
      ...(op.error?.undoFailures?.length ? { 'undo failures': op.error.undoFailures.map((u) => `${u.step}: ${u.message}`).join('; ') } : {}),
      actor: op.actor,
      created: op.createdAt,
      updated: op.updatedAt,
    },
    'table',
  );
  if (op.steps.length) process.stdout.write(`steps:\n${op.steps.map((s) => `  ${s.state.padEnd(11)} ${s.name}${s.error ? `: ${s.error}` : ''}\n`).join('')}`);
}

/** `drover op list|show|wait|cancel` (also `drover operation ...`). */
export function registerOperationCommands(program: Command): void {
  const op = program.command('op').alias('operation').description('Operations: long actions with progress, cancel and rollback');

  const list = op
    .command('list')
    .description('List recent operations, newest first')
    .addOption(new Option('--state <state>', 'only operations in this state').choices(STATES))
    .option('--target-type <type>', 'only operations on this kind of object: vm, image, host...')
    .option('--target-id <id>', 'only operations on this object id')
    .option('--limit <n>', 'at most this many (default 100)', integerIn(1, 1000));
  withOutput(list).action(async (opts: OutputOptions & { state?: string; targetType?: string; targetId?: string; limit?: number }) => {
    const route = withQuery(apiPath('operations'), { state: opts.state, targetType: opts.targetType, targetId: opts.targetId, limit: opts.limit });
    const { operations } = await apiClient().request<{ operations: OperationView[] }>('GET', route);
    printTable(
      operations,
      {
        id: (o) => o.id,
        kind: (o) => o.kind,
        target,
        state: (o) => o.state,
        progress: (o) => `${Math.round(o.progress * 100)}%`,
        actor: (o) => o.actor,
        created: (o) => o.createdAt,
        message: (o) => (o.error ? `${o.error.code}: ${o.error.message}` : o.message),
      },
      opts.output,
    );
  });

  withOutput(op.command('show').description('Show one operation with its steps').argument('<id>', 'operation id')).action(
    async (id: string, opts: OutputOptions) => {
      printOperation(await apiClient().request<OperationView>('GET', apiPath('operations', id)), opts.output);
    },
  );

  const wait = op
    .command('wait')
    .description('Wait for an operation to end; exits 1 if it failed or was cancelled')
    .argument('<id>', 'operation id')
    .option('--timeout <seconds>', 'give up waiting after this long (the operation goes on)', secondsToMs);
  withOutput(wait).action(async (id: string, opts: OutputOptions & { timeout?: number }) => {
    const client = apiClient();
    const current = await client.request<OperationView>('GET', apiPath('operations', id));
    printOperation(await followOperation(client, current, opts.timeout), opts.output);
  });

  const cancel = op
    .command('cancel')
    .description('Cancel an operation: it stops at its next step and undoes the steps it did')
    .argument('<id>', 'operation id');
  withOutput(withNoWait(cancel)).action(async (id: string, opts: OutputOptions & { wait: boolean }) => {
    const client = apiClient();
    const requested = await client.request<OperationView>('POST', apiPath('operations', id, 'cancel'));
    if (!opts.wait) return printOperation(requested, opts.output);
    const ended = await client.waitForEnd(id, (o) => progress(`cancelling ${o.kind} ${target(o)} ${renderProgress(o.progress, o.message)}`));
    progressDone();
    printOperation(ended, opts.output);
  });
}
