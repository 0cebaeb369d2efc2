import { Option, type Command } from 'commander';
import type { MigrateVmBody, MigrationTargetWire, PlacementWire } from '../../controller/vms/schema.js';
import { apiPath, withQuery } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { formatBytes, printJson, printTable } from '../output.js';
import { integerIn, parseTime } from '../parse.js';
import type { VmOperationResponse } from './vm.js';

interface MigrateOptions extends OutputOptions {
  to?: string;
  storage?: 'local' | 'shared' | 'copy';
  downtimeLimit?: number;
  bandwidth?: number;
  wait: boolean;
}

/** What a finished `migrate` operation reports. */
interface MigrationOutcome {
  from: string;
  to: string;
  totalTimeMs: number;
  /** Null when the source host was lost after switchover: only it had QEMU's statistics. */
  downtimeMs: number | null;
  setupTimeMs: number | null;
  bytes: number;
  sourceLost?: boolean;
  /** 'cold' for a guest that moved by a restart (a container): downtime is from its stop to its start. */
  mode?: 'cold';
}

/** `drover vm migrate VM [--to HOST]`, `drover vm migration-targets VM`, `drover vm history VM` and `drover vm where VM --at TIME`. */
export function registerVmMigrateCommands(vm: Command): void {
  const migrate = vm
    .command('migrate')
    .description('Move a VM to another host: live for a VM, by a restart for a container (its disk copied while it runs); prints the measured downtime and total time')
    .argument('<vm>', 'VM name')
    .option('--to <host>', 'the host to move the VM to; it must pass the placement filters (default: the scheduler picks)')
    .addOption(
      new Option('--storage <pool>', 'the pool the disks go to: local (the destination\'s own storage; the disks are mirrored during the migration) or shared (the shared pool the VM is already in); copy is the older name of local (default: the VM\'s pool)').choices(['local', 'shared', 'copy']),
    )
    .option('--downtime-limit <ms>', 'longest pause allowed at switchover, in milliseconds', integerIn(1, 60_000))
    .option('--bandwidth <Mbps>', 'cap for the copy, in megabits per second', integerIn(1, 1_000_000));
  withOutput(withNoWait(migrate)).action(async (name: string, opts: MigrateOptions) => {
    const client = apiClient();
    const body: MigrateVmBody = {
      ...(opts.to !== undefined ? { to: opts.to } : {}),
      ...(opts.storage ? { storage: opts.storage } : {}),
      ...(opts.downtimeLimit !== undefined ? { downtimeLimitMs: opts.downtimeLimit } : {}),
      ...(opts.bandwidth !== undefined ? { bandwidthMbps: opts.bandwidth } : {}),
    };
    const response = await client.request<VmOperationResponse>('POST', apiPath('vms', name, 'migrate'), body);
    if (!opts.wait) return printStarted(response.operation, response, opts.output);
    const done = await followOperation(client, response.operation);
    // A succeeded migrate operation's result is a MigrationOutcome (see controller/vms/migrate.ts).
    const outcome = done.result as unknown as MigrationOutcome;
    if (opts.output === 'json') return printJson({ vm: name, ...outcome });
    process.stdout.write(
      outcome.mode === 'cold'
        ? `moved ${name} from ${outcome.from} to ${outcome.to} by a restart (cold migration): downtime ${outcome.downtimeMs ?? 0} ms (stopped to started), total ${outcome.totalTimeMs} ms, ${formatBytes(outcome.bytes)} of disk copied\n`
        : outcome.sourceLost
        ? `migrated vm ${name} from ${outcome.from} to ${outcome.to}: ${outcome.from} was lost after switchover; downtime unknown, total ${outcome.totalTimeMs} ms\n`
        : `migrated vm ${name} from ${outcome.from} to ${outcome.to}: downtime ${outcome.downtimeMs} ms, total ${outcome.totalTimeMs} ms, ${formatBytes(outcome.bytes)} sent\n`,
    );
  });

  const targets = vm
    .command('migration-targets')
    .description('Every other host judged as a live-migration destination: suitable or why not, and the scheduler\'s pick')
    .argument('<vm>', 'VM name')
    .addOption(new Option('--storage <pool>', 'judge a move with the disks going to this pool: local or shared; copy is the older name of local (default: the VM\'s pool)').choices(['local', 'shared', 'copy']));
  withOutput(targets).action(async (name: string, opts: OutputOptions & { storage?: string }) => {
    const { items } = await apiClient().request<{ items: MigrationTargetWire[] }>('GET', withQuery(apiPath('vms', name, 'migration-targets'), { storage: opts.storage }));
    if (opts.output === 'json') return printJson({ items });
    printTable(
      items,
      {
        host: (t) => `${t.host}${t.recommended ? ' *' : ''}`,
        suitable: (t) => (t.suitable ? 'yes' : 'no'),
        score: (t) => (t.score === undefined ? '' : t.score.toFixed(3)),
        reasons: (t) => t.reasons.join('; '),
      },
      opts.output,
    );
  });

  withOutput(vm.command('history').description('The hosts a VM has been on, newest first').argument('<vm>', 'VM name')).action(async (name: string, opts: OutputOptions) => {
    const { placements } = await apiClient().request<{ placements: PlacementWire[] }>('GET', apiPath('vms', name, 'history'));
    const why = (p: PlacementWire): string | undefined => {
      const detail = p.detail as { why?: unknown; refused?: Array<{ host: string; reasons: string[] }> } | null;
      if (typeof detail?.why !== 'string') return undefined;
      const refused = detail.refused?.length ? `; refused ${detail.refused.map((r) => `${r.host} (${r.reasons.join(', ')})`).join('; ')}` : '';
      return `${detail.why}${refused}`;
    };
    printTable(placements, { host: (p) => p.host, since: (p) => p.startedAt, until: (p) => p.endedAt, reason: (p) => p.reason, actor: (p) => p.actor, why }, opts.output);
  });

  const where = vm
    .command('where')
    .description('The host a VM was on at a time')
    .argument('<vm>', 'VM name')
    .option('--at <time>', 'now, ISO 8601, or a duration ago like 10m, 2h, 1d (default: now)', (v) => (v === 'now' ? new Date().toISOString() : parseTime(v)));
  withOutput(where).action(async (name: string, opts: OutputOptions & { at?: string }) => {
    const placement = await apiClient().request<PlacementWire>('GET', withQuery(apiPath('vms', name, 'where'), { at: opts.at }));
    if (opts.output === 'json') printJson(placement);
    else process.stdout.write(`${placement.host}\n`);
  });
}
