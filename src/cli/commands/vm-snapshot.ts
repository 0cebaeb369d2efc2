import type { Command } from 'commander';
import type { OperationView } from '../client.js';
import { apiPath } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { formatBytes, printJson, printTable } from '../output.js';
import { defaultSnapshotName } from '../parse.js';

interface Snapshot {
  name: string;
  createdAt: string;
  vmStateSizeBytes: number;
}

type WaitOptions = OutputOptions & { wait: boolean };

/** Sends a snapshot action, follows its operation (unless --no-wait) and prints `done` or the operation as JSON. */
async function snapshotAction(method: string, route: string, body: unknown, opts: WaitOptions, done: string): Promise<void> {
  const client = apiClient();
  const response = await client.request<{ operation: OperationView }>(method, route, body);
  if (!opts.wait) return printStarted(response.operation, response, opts.output);
  const finished = await followOperation(client, response.operation);
  if (opts.output === 'json') printJson(finished);
  else process.stdout.write(`${done}\n`);
}

/** `drover vm snapshot create|list|revert|delete VM [SNAPSHOT]`. */
export function registerVmSnapshotCommands(vm: Command): void {
  const snapshot = vm.command('snapshot').description('Snapshots of a VM: disks, and memory too when it runs');

  const create = snapshot
    .command('create')
    .description('Take a snapshot (of disks and, if the VM runs, its memory)')
    .argument('<vm>', 'VM name')
    .argument('[snapshot]', 'snapshot name (default: snap-DATE-TIME)');
  withOutput(withNoWait(create)).action(async (name: string, snap: string | undefined, opts: WaitOptions) => {
    const snapshotName = snap ?? defaultSnapshotName();
    await snapshotAction('POST', apiPath('vms', name, 'snapshots'), { name: snapshotName }, opts, `created snapshot ${snapshotName} of vm ${name}`);
  });

  withOutput(snapshot.command('list').description("List a VM's snapshots").argument('<vm>', 'VM name')).action(async (name: string, opts: OutputOptions) => {
    const { snapshots } = await apiClient().request<{ snapshots: Snapshot[] }>('GET', apiPath('vms', name, 'snapshots'));
    printTable(
      snapshots,
      { name: (s) => s.name, created: (s) => s.createdAt, memory: (s) => (s.vmStateSizeBytes > 0 ? formatBytes(s.vmStateSizeBytes) : 'none') },
      opts.output,
    );
  });

  const revert = snapshot
    .command('revert')
    .description('Return a VM to a snapshot; what changed since is lost')
    .argument('<vm>', 'VM name')
    .argument('<snapshot>', 'snapshot name (see `drover vm snapshot list VM`)');
  withOutput(withNoWait(revert)).action(async (name: string, snap: string, opts: WaitOptions) => {
    await snapshotAction('POST', apiPath('vms', name, 'snapshots', snap, 'revert'), undefined, opts, `reverted vm ${name} to snapshot ${snap}`);
  });

  const remove = snapshot.command('delete').description('Delete a snapshot').argument('<vm>', 'VM name').argument('<snapshot>', 'snapshot name');
  withOutput(withNoWait(remove)).action(async (name: string, snap: string, opts: WaitOptions) => {
    await snapshotAction('DELETE', apiPath('vms', name, 'snapshots', snap), undefined, opts, `deleted snapshot ${snap} of vm ${name}`);
  });
}
