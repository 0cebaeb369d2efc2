import { Option, type Command } from 'commander';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { printObject } from '../output.js';
import { integerIn } from '../parse.js';

/** The cluster policy as the API answers it. */
interface ClusterPolicy {
  weight: 'spread' | 'pack';
  cpuModel: string;
  haHostFailures: number;
}

/** `drover cluster policy show` and `drover cluster policy set [--weight spread|pack] [--cpu-model M]`. */
export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('Cluster-wide settings');
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
