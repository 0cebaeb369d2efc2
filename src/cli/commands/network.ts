import type { Command } from 'commander';
import type { NetworkWire } from '../../controller/networks/schema.js';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { integerIn } from '../parse.js';
import { printJson, printObject, printTable } from '../output.js';

interface CreateOptions extends OutputOptions {
  subnet: string;
  vni?: number;
  mtu?: number;
}

function printNetwork(n: NetworkWire, output: OutputOptions['output']): void {
  if (output === 'json') return printJson(n);
  printObject(
    {
      name: n.name,
      id: n.id,
      subnet: n.subnet,
      vni: n.vni,
      mtu: n.mtu,
      bridge: n.bridge,
      nics: n.members.map((m) => `${m.vm} ${m.address} ${m.mac}${m.host ? ` on ${m.host}` : ''}`).join(', ') || 'none',
    },
    'table',
  );
}

/** `drover network create|list|show|delete`: virtual networks that span hosts (bridge + VXLAN). */
export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('Virtual networks: one L2 segment across hosts, with addresses Drover assigns');

  withOutput(
    network
      .command('create')
      .description('Define a virtual network; attach VMs with `drover vm create --network NAME`')
      .argument('<name>', 'network name: lowercase letters, digits and "-", starting with a letter')
      .requiredOption('--subnet <cidr>', 'IPv4 subnet VM addresses come from, e.g. 10.60.0.0/24')
      .option('--vni <n>', 'VXLAN id (default: the lowest free one)', integerIn(1, 16_777_215))
      .option('--mtu <bytes>', 'MTU of the network and its guests (default 1450: a 1500 underlay minus VXLAN)', integerIn(576, 9000)),
  ).action(async (name: string, opts: CreateOptions) => {
    const body = { name, subnet: opts.subnet, ...(opts.vni !== undefined ? { vni: opts.vni } : {}), ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}) };
    printNetwork(await apiClient().request<NetworkWire>('POST', apiPath('networks'), body), opts.output);
  });

  withOutput(network.command('list').description('List virtual networks')).action(async (opts: OutputOptions) => {
    const { networks } = await apiClient().request<{ networks: NetworkWire[] }>('GET', apiPath('networks'));
    printTable(networks, { name: (n) => n.name, subnet: (n) => n.subnet, vni: (n) => n.vni, mtu: (n) => n.mtu, nics: (n) => n.members.length }, opts.output);
  });

  withOutput(network.command('show').description('Show a virtual network with the VM NICs on it').argument('<network>', 'network name')).action(async (name: string, opts: OutputOptions) => {
    printNetwork(await apiClient().request<NetworkWire>('GET', apiPath('networks', name)), opts.output);
  });

  withOutput(network.command('delete').description('Delete a virtual network no VM uses').argument('<network>', 'network name')).action(async (name: string, opts: OutputOptions) => {
    await apiClient().request('DELETE', apiPath('networks', name));
    if (opts.output === 'json') return printJson({ deleted: name });
    process.stdout.write(`deleted network ${name}\n`);
  });
}
