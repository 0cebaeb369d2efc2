/**
 * `drover vm set VM [--ha on|off] [--ha-priority N] [--ha-isolation R] [--ha-monitoring on|off] [--nic N --rate RATE]`:
 * change an existing VM's HA protection and policy, and the rate limit of one of its NICs.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { CreateVmBody, UpdateVmBody, VmWire } from '../../controller/vms/schema.js';
import { DroverError } from '../../shared/errors.js';
import { apiPath } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { integerIn, parseRateMbit } from '../parse.js';
import type { VmOperationResponse } from './vm.js';
import { formatNic, getVm, printVm } from './vm-view.js';

interface SetOptions extends OutputOptions {
  nic?: string;
  rate?: number | 'none';
  wait: boolean;
  ha?: 'on' | 'off';
  haPriority?: number;
  haIsolation?: 'keep-running' | 'power-off';
  haMonitoring?: 'on' | 'off';
  cpuLimit?: number | 'none';
  memory?: number;
  pids?: number | 'none';
}

/** A whole number in [min, max], or 'none' to remove the limit. */
function limitOrNone(min: number, max: number): (value: string) => number | 'none' {
  const parse = integerIn(min, max);
  return (value) => (value === 'none' ? 'none' : parse(value));
}

/** The HA policy fields the options give (none given: empty). */
export function haFields(opts: { haPriority?: number; haIsolation?: 'keep-running' | 'power-off'; haMonitoring?: 'on' | 'off' }): NonNullable<CreateVmBody['ha']> {
  return {
    ...(opts.haPriority !== undefined ? { priority: opts.haPriority } : {}),
    ...(opts.haIsolation ? { isolation: opts.haIsolation } : {}),
    ...(opts.haMonitoring ? { monitoring: opts.haMonitoring === 'on' } : {}),
  };
}

/** `1` or `eth1` → `eth1`, the NIC's name in the API. */
function nicName(value: string): string {
  if (/^\d$/.test(value)) return `eth${value}`;
  if (/^eth\d$/.test(value)) return value;
  throw new InvalidArgumentError(`"${value}" is not a NIC: give its index (1) or name (eth1), as \`drover vm show\` lists them`);
}

/** A rate (`10mbit`, `2MB/s`) in Mbit/s, or 'none' for `none`/`unlimited` (commander turns a parsed null into ''). */
function rateOrNone(value: string): number | 'none' {
  return value === 'none' || value === 'unlimited' ? 'none' : parseRateMbit(value);
}

/** Registers `vm set`. */
export function registerVmSetCommand(vm: Command): void {
  const set = vm
    .command('set')
    .description('Change a VM: its HA protection and policy, or a NIC\'s rate limit (applied at once if the VM runs, kept across restarts and migrations)')
    .argument('<vm>', 'VM name')
    .addOption(new Option('--ha <on|off>', 'protect the VM with HA (its disks must be on a shared pool), or stop protecting it').choices(['on', 'off']))
    .option('--ha-priority <n>', '1 (restarts last) to 5 (first)', integerIn(1, 5))
    .addOption(new Option('--ha-isolation <response>', 'what a host cut off from the controller does with the VM').choices(['keep-running', 'power-off']))
    .addOption(new Option('--ha-monitoring <on|off>', 'reset the guest when its guest agent stops answering').choices(['on', 'off']))
    .option('--nic <nic>', 'with --rate: the NIC, by index or name (eth1 is the first NIC on a virtual network)', nicName)
    .option('--rate <rate>', 'with --nic: cap each direction: 10mbit, 500kbit, 1gbit, 2MB/s (megabytes per second), or none', rateOrNone)
    .option('--cpu-limit <percent>', 'host CPU cap, 100 = one core, or none (live)', limitOrNone(1, 6400))
    .option('--memory <MiB>', 'memory in MiB (live for a container; a VM takes it at its next start)', integerIn(64))
    .option('--pids <n>', 'containers: most processes and threads at once, or none (live)', limitOrNone(8, 4_194_304));
  withOutput(withNoWait(set)).action(async (name: string, opts: SetOptions) => {
    const client = apiClient();
    const fields = haFields(opts);
    const haGiven = opts.ha !== undefined || Object.keys(fields).length > 0;
    if ((opts.nic === undefined) !== (opts.rate === undefined)) throw new DroverError('INVALID_ARGUMENT', '--nic and --rate go together');
    const limitsGiven = opts.cpuLimit !== undefined || opts.memory !== undefined || opts.pids !== undefined;
    if (!haGiven && opts.nic === undefined && !limitsGiven) {
      throw new DroverError('INVALID_ARGUMENT', 'nothing to change: give --ha on|off, --ha-priority, --ha-isolation, --ha-monitoring, --nic with --rate, --cpu-limit, --memory or --pids');
    }
    if (opts.ha === 'off' && Object.keys(fields).length > 0) throw new DroverError('INVALID_ARGUMENT', '--ha off takes no other --ha-* option');
    let shown: VmWire | undefined;
    if (haGiven) {
      const body: UpdateVmBody = { ha: opts.ha === 'off' ? null : fields };
      shown = await client.request<VmWire>('PATCH', apiPath('vms', name), body);
    }
    if (opts.nic !== undefined && opts.rate !== undefined) {
      const response = await client.request<VmOperationResponse>('PATCH', apiPath('vms', name, 'nics', opts.nic), { rateLimitMbit: opts.rate === 'none' ? null : opts.rate });
      if (!opts.wait) return printStarted(response.operation, response, opts.output);
      await followOperation(client, response.operation);
      shown = await getVm(client, name);
      if (opts.output !== 'json' && !haGiven) {
        const nic = shown.nics.find((n) => n.name === opts.nic);
        process.stdout.write(`vm ${name} ${nic ? formatNic(nic) : opts.nic}\n`);
        return;
      }
    }
    if (limitsGiven) {
      const limits = {
        ...(opts.cpuLimit !== undefined ? { cpuLimitPercent: opts.cpuLimit === 'none' ? null : opts.cpuLimit } : {}),
        ...(opts.memory !== undefined ? { memoryMiB: opts.memory } : {}),
        ...(opts.pids !== undefined ? { pidsLimit: opts.pids === 'none' ? null : opts.pids } : {}),
      };
      const response = await client.request<VmOperationResponse>('PATCH', apiPath('vms', name, 'limits'), limits);
      if (!opts.wait) return printStarted(response.operation, response, opts.output);
      await followOperation(client, response.operation);
      shown = await getVm(client, name);
    }
    if (shown) printVm(shown, opts.output);
  });
}
