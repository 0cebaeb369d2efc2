import { Option, type Command } from 'commander';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { formatTable, printJson, printObject } from '../output.js';
import { integerIn } from '../parse.js';

/** The cluster policy as the API answers it. */
interface ClusterPolicy {
  weight: 'spread' | 'pack';
  cpuModel: string;
  haHostFailures: number;
}

/** GET /cluster/controllers as the API answers it. */
interface ControllerList {
  controllers: Array<{ url: string; self: boolean; id?: string; name?: string; version?: string; lastSeenAt?: string; state: string; leader: boolean }>;
  leader: { id: string; name: string | null; url: string | null; token: number; leaseAgeMs: number; expiresAt: string; expired: boolean } | null;
}

/** "3.2 s ago" from an ISO time. */
function ago(time: string | undefined, now = Date.now()): string | undefined {
  return time ? `${((now - Date.parse(time)) / 1000).toFixed(1)} s ago` : undefined;
}

/** `drover cluster controllers`, `drover cluster policy show` and `drover cluster policy set [--weight spread|pack] [--cpu-model M]`. */
export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('Cluster-wide settings');
  withOutput(cluster.command('controllers').description('The controllers sharing this cluster\'s store: which leads, and the age of its lease')).action(async (opts: OutputOptions) => {
    const list = await apiClient().request<ControllerList>('GET', apiPath('cluster', 'controllers'));
    if (opts.output === 'json') {
      printJson(list);
      return;
    }
    process.stdout.write(
      formatTable(list.controllers, {
        name: (c) => `${c.name ?? c.url}${c.self ? ' (this one)' : ''}`,
        url: (c) => c.url,
        state: (c) => c.state,
        leader: (c) => (c.leader ? 'yes' : ''),
        'last seen': (c) => ago(c.lastSeenAt),
        version: (c) => c.version,
      }),
    );
    const leader = list.leader;
    if (!leader) process.stdout.write('leader: none yet\n');
    else {
      const who = leader.name ?? leader.id;
      const age = `${(leader.leaseAgeMs / 1000).toFixed(1)} s`;
      process.stdout.write(leader.expired ? `leader: none (the lease of ${who} expired at ${leader.expiresAt}; token ${leader.token})\n` : `leader: ${who}, token ${leader.token}, lease renewed ${age} ago\n`);
    }
  });

  const policy = cluster.command('policy').description('The scheduling policy: placement weight and baseline CPU model');

  withOutput(policy.command('show').description('Show the cluster policy')).action(async (opts: OutputOptions) => {
    printObject(await apiClient().request<ClusterPolicy>('GET', apiPath('cluster', 'policy')), opts.output);
  });

  const set = policy
    .command('set')
    .description('Change the cluster policy; new placements and VM starts use it')
    .addOption(new Option('--weight <weight>', 'spread: most room left; pack: fullest host that fits').choices(['spread', 'pack']))
    .option('--cpu-model <model>', 'baseline CPU model every VM gets (e.g. qemu64, Haswell)')
    .option('--ha-host-failures <n>', 'HA admission control: keep room to restart the HA VMs of any N failed hosts (0: off)', integerIn(0, 100));
  withOutput(set).action(async (opts: OutputOptions & { weight?: string; cpuModel?: string; haHostFailures?: number }) => {
    const body = {
      ...(opts.weight ? { weight: opts.weight } : {}),
      ...(opts.cpuModel ? { cpuModel: opts.cpuModel } : {}),
      ...(opts.haHostFailures !== undefined ? { haHostFailures: opts.haHostFailures } : {}),
    };
    printObject(await apiClient().request<ClusterPolicy>('PUT', apiPath('cluster', 'policy'), body), opts.output);
  });
}
