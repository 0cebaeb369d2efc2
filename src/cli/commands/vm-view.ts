/** How the VM commands show VMs, and the steps several of them share (fetch, wait for the guest). */
import type { VmWire } from '../../controller/vms/schema.js';
import { formatRate } from '../../network/rate-units.js';
import { apiPath, type ApiClient } from '../client.js';
import { formatBytes, printJson, printObject, printTable, withSpinner, type OutputFormat } from '../output.js';

/** Default wait for a guest agent to answer: boot under TCG on a loaded machine takes a while. */
export const DEFAULT_READY_TIMEOUT_SECONDS = 120;

/** Fetches one VM. */
export function getVm(client: ApiClient, name: string): Promise<VmWire> {
  return client.request<VmWire>('GET', apiPath('vms', name));
}

/** Blocks until the VM's guest agent answers (the API waits; a spinner shows on a tty); returns the VM. */
export function waitReady(client: ApiClient, name: string, timeoutMs: number): Promise<VmWire> {
  return withSpinner(`waiting for the guest in ${name}`, () => client.request<VmWire>('POST', apiPath('vms', name, 'wait-ready'), { timeoutMs }));
}

/** Prints VMs as a table, or JSON. */
export function printVms(vms: readonly VmWire[], format: OutputFormat): void {
  printTable(
    vms,
    {
      name: (vm) => vm.name,
      type: (vm) => vm.type,
      state: (vm) => vm.state,
      host: (vm) => (vm.movingTo ? `${vm.host} → ${vm.movingTo}` : vm.host),
      image: (vm) => vm.image,
      cpus: (vm) => vm.cpus,
      memory: (vm) => `${vm.memoryMiB} MiB`,
      disk: (vm) => (vm.disks[0] ? formatBytes(vm.disks[0].sizeBytes) : undefined),
      guest: (vm) => (vm.guestReady ? 'ready' : vm.state === 'running' ? 'booting' : '-'),
    },
    format,
  );
}

/** Prints one VM in full: "key: value" lines, or JSON. */
export function printVm(vm: VmWire, format: OutputFormat): void {
  if (format === 'json') {
    printJson(vm);
    return;
  }
  printObject(
    {
      name: vm.name,
      type: vm.type === 'container' && vm.privileged ? 'container (PRIVILEGED: no user namespace, root inside is root on the host)' : vm.type,
      id: vm.id,
      state: vm.state === vm.desiredState ? vm.state : `${vm.state} (desired: ${vm.desiredState})`,
      ...(vm.crashReason ? { 'crash reason': vm.crashReason } : {}),
      host: vm.host ?? '-',
      ...(vm.movingTo ? { 'moving to': `${vm.movingTo} (live migration in flight)` } : {}),
      image: vm.image ?? '-',
      cpus: vm.cpus,
      'cpu model': vm.cpuModel,
      memory: `${vm.memoryMiB} MiB`,
      ...(vm.type === 'vm' ? { devices: vm.devices } : {}),
      'cpu limit': vm.cpuLimitPercent === null ? 'none' : `${vm.cpuLimitPercent}% of a core`,
      ...(vm.type === 'container' ? { 'process limit': vm.pidsLimit ?? 'none' } : {}),
      disks: vm.disks.map((d) => `${d.name} ${formatBytes(d.sizeBytes)}${d.readOnly ? ' (read-only)' : ''}`).join(', ') || '-',
      nics: vm.nics.map(formatNic).join('; ') || '-',
      'guest ready': vm.guestReady ? 'yes' : 'no',
      pool: vm.pool,
      ha: vm.ha ? `on, priority ${vm.ha.priority}, isolation ${vm.ha.isolation}${vm.ha.monitoring ? ', guest monitoring' : ''}` : 'off',
      'required tags': vm.placement.requiredTags.join(', ') || '-',
      'affinity groups': vm.placement.affinityGroups.join(', ') || '-',
      'anti-affinity groups': vm.placement.antiAffinityGroups.join(', ') || '-',
      pid: vm.pid ?? '-',
      started: vm.startedAt ?? '-',
      created: vm.createdAt,
    },
    'table',
  );
}

/** One NIC for people: `eth1 network blue 10.60.0.2 52:54:00:.. rate 8 Mbit/s`. */
export function formatNic(nic: VmWire['nics'][number]): string {
  const rate = nic.rateLimitMbit === null ? '' : ` rate ${formatRate(Math.round(nic.rateLimitMbit * 1000))}`;
  return `${nic.name} ${nic.mode === 'user' ? 'user' : `${nic.mode} ${nic.network}`}${nic.address ? ` ${nic.address}` : ''} ${nic.mac}${rate}`;
}

/** The one-line result of a power action: `vm web: running`, or the VM as JSON. */
export function printVmState(vm: VmWire, format: OutputFormat): void {
  if (format === 'json') printJson(vm);
  else process.stdout.write(`vm ${vm.name}: ${vm.state}${vm.guestReady ? ' (guest ready)' : ''}\n`);
}
