import type { Command } from 'commander';
import type { HaStatus } from '../../controller/ha/service.js';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { printJson, printTable } from '../output.js';

/** An age in milliseconds for a table: `0.4s`, or `-` when never seen. */
function age(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`;
}

/** `drover ha status`, and `drover host confirm-down HOST`. */
export function registerHaCommands(program: Command): void {
  const ha = program.command('ha').description('High availability: host liveness, fencing and protected VMs');
  withOutput(ha.command('status').description('Each host\'s lease and storage heartbeat, fencing, the protected VMs, failovers in progress and the admission figures')).action(
    async (opts: OutputOptions) => {
      const status = await apiClient().request<HaStatus>('GET', apiPath('ha', 'status'));
      if (opts.output === 'json') return printJson(status);
      printTable(
        status.hosts,
        {
          host: (h) => h.name,
          liveness: (h) => h.liveness,
          lease: (h) => age(h.leaseAgeMs),
          'storage heartbeat': (h) => age(h.storageHeartbeatAgeMs),
          watchdog: (h) => (h.watchdog ? 'yes' : 'no'),
          'fence device': (h) => (h.fenceDevice ? 'yes' : 'no'),
          fence: (h) => h.fence,
        },
        'table',
      );
      process.stdout.write('\n');
      printTable(
        status.vms,
        {
          vm: (v) => v.name,
          host: (v) => v.host ?? '-',
          priority: (v) => v.priority,
          isolation: (v) => v.isolation,
          phase: (v) => v.phase + (v.waiting ? ` (${v.waiting})` : ''),
          generation: (v) => v.generation,
          failed: (v) => v.failedReason ?? '',
        },
        'table',
      );
      const a = status.admission;
      process.stdout.write(`\nadmission: ${a.haHostFailures === 0 ? 'off (cluster policy --ha-host-failures 0)' : `${a.admitted ? 'ok' : 'VIOLATED'} for ${a.haHostFailures} host failure(s): ${a.reason}`}\n`);
    },
  );
}
