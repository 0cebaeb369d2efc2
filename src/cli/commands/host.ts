import type { Command } from 'commander';
import type { HostWire } from '../../controller/hosts/schema.js';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { formatBytes, printJson, printObject, printTable } from '../output.js';
import { registerHostFenceCommands } from './host-fence.js';
import { registerHostMaintenanceCommands } from './host-maintenance.js';

/** "used/total" for one resource. */
function share(used: number, total: number, format: (n: number) => string = String): string {
  return `${format(used)}/${format(total)}`;
}

/** How long ago an ISO time was, roughly: `12s ago`, `5m ago`. */
export function ago(iso: string | null, now: number = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86_400)}d ago`;
}

/** The CPU models a host offers, short enough for a table: a TCG host names over a hundred, `-o json` lists them all. */
export function cpuModelSummary(models: readonly string[]): string {
  const shown = models.map((model) => (model === '*' ? 'any' : model));
  if (shown.length === 0) return 'not reported';
  if (shown.length <= 8) return shown.join(', ');
  return `${shown.length} models: ${shown.filter((model) => !/-v\d+$/.test(model)).slice(0, 6).join(', ')}, ... (-o json lists all)`;
}

/** `drover host list|show|remove|maintenance|fence`. */
export function registerHostCommands(program: Command): void {
  const host = program.command('host').description('Hosts: the machines whose agents run the VMs');

  withOutput(host.command('list').description('List hosts with their health and resource use')).action(async (opts: OutputOptions) => {
    const { hosts } = await apiClient().request<{ hosts: HostWire[] }>('GET', apiPath('hosts'));
    printTable(
      [...hosts].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true })),
      {
        name: (h) => h.name,
        state: (h) => h.state,
        health: (h) => h.health,
        address: (h) => h.address,
        accelerator: (h) => h.accelerator,
        vms: (h) => h.vmCount + (h.unmanagedVms.length ? ` (+${h.unmanagedVms.length} unmanaged)` : ''),
        cpus: (h) => share(h.usage.cpus, h.capacity.cpus),
        memory: (h) => share(h.usage.memoryBytes, h.capacity.memoryBytes, formatBytes),
        heartbeat: (h) => ago(h.lastHeartbeat),
      },
      opts.output,
    );
  });

  withOutput(
    host
      .command('confirm-down')
      .description('State that a host is powered off, so HA restarts its VMs elsewhere; use only when it is certainly off (refused while it renews its lease or writes its storage heartbeat)')
      .argument('<host>', 'host name'),
  ).action(async (name: string, opts: OutputOptions) => {
    const answer = await apiClient().request<{ host: string; accepted: boolean }>('POST', apiPath('hosts', name, 'confirm-down'));
    if (opts.output === 'json') return printJson(answer);
    process.stdout.write(`${name} confirmed down; HA restarts its protected VMs elsewhere (drover ha status)\n`);
  });

  withOutput(host.command('show').description('Show one host in full').argument('<host>', 'host name')).action(async (name: string, opts: OutputOptions) => {
    const h = await apiClient().request<HostWire>('GET', apiPath('hosts', name));
    if (opts.output === 'json') return printJson(h);
    printObject(
      {
        name: h.name,
        id: h.id,
        address: h.address,
        version: h.version,
        state: h.state,
        health: h.health,
        'last heartbeat': h.lastHeartbeat ? `${h.lastHeartbeat} (${ago(h.lastHeartbeat)})` : 'never',
        accelerator: h.acceleratorReason ? `${h.accelerator} (${h.acceleratorReason})` : h.accelerator,
        cpus: `${h.usage.cpus} of ${h.capacity.cpus} in use`,
        memory: `${formatBytes(h.usage.memoryBytes)} of ${formatBytes(h.capacity.memoryBytes)} in use`,
        disk: `${formatBytes(h.usage.diskBytes)} of ${formatBytes(h.capacity.diskBytes)} in use`,
        vms: h.vmCount,
        pools: h.pools.map((pool) => `${pool.name} (${pool.kind})`).join(', ') || 'not reported',
        'cpu models': cpuModelSummary(h.cpuModels),
        fence: h.fence ? `${h.fence.agent} (set ${h.fence.setAt})` : 'none',
        'unmanaged vms': h.unmanagedVms.map((vm) => `${vm.name} (${vm.state}${vm.pid ? `, pid ${vm.pid}` : ''})`).join(', ') || 'none',
      },
      'table',
    );
  });

  withOutput(host.command('remove').description('Forget a host that has no VMs').argument('<host>', 'host name')).action(async (name: string, opts: OutputOptions) => {
    await apiClient().request('DELETE', apiPath('hosts', name));
    if (opts.output === 'json') return printJson({ removed: name });
    process.stdout.write(`removed host ${name}\n`);
  });

  registerHostMaintenanceCommands(host);
  registerHostFenceCommands(host);
}
