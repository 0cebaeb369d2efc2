/** `drover vm set VM --nic N --rate RATE`: change a NIC of an existing VM (for now, its rate limit). */
import { InvalidArgumentError, type Command } from 'commander';
import { apiPath } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { printJson } from '../output.js';
import { parseRateMbit } from '../parse.js';
import type { VmOperationResponse } from './vm.js';
import { formatNic, getVm } from './vm-view.js';

interface SetOptions extends OutputOptions {
  nic: string;
  rate: number | 'none';
  wait: boolean;
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
export function registerVmNicCommands(vm: Command): void {
  const set = vm
    .command('set')
    .description('Change a NIC of a VM: its rate limit, applied at once if the VM runs and kept across restarts and migrations')
    .argument('<vm>', 'VM name')
    .requiredOption('--nic <nic>', 'the NIC: its index or name (eth1 is the first NIC on a virtual network)', nicName)
    .requiredOption('--rate <rate>', 'cap each direction: 10mbit, 500kbit, 1gbit, 2MB/s (megabytes per second), or none', rateOrNone);
  withOutput(withNoWait(set)).action(async (name: string, opts: SetOptions) => {
    const client = apiClient();
    const response = await client.request<VmOperationResponse>('PATCH', apiPath('vms', name, 'nics', opts.nic), { rateLimitMbit: opts.rate === 'none' ? null : opts.rate });
    if (!opts.wait) return printStarted(response.operation, response, opts.output);
    await followOperation(client, response.operation);
    const after = await getVm(client, name);
    if (opts.output === 'json') return printJson(after);
    const nic = after.nics.find((n) => n.name === opts.nic);
    process.stdout.write(`vm ${name} ${nic ? formatNic(nic) : opts.nic}\n`);
  });
}
