/**
 * Where virtual networks meet VMs and hosts: assigning a new VM's NICs their MAC and address, and
 * setting a network up on the hosts that need it. The controller pushes each host the network's VNI,
 * MTU and the underlay addresses of every other host with a VM on it (its peers), before a VM on it
 * starts or arrives there, and again to the remaining hosts when a VM leaves; hosts learn nothing on
 * their own, so the controller's records are the one source of peers.
 */
import { assignAddress, parseSubnet } from '../../network/addresses.js';
import { mbitToKbit } from '../../network/rate-units.js';
import { DroverError } from '../../shared/errors.js';
import { KeyedQueue } from '../../shared/keyed-queue.js';
import { macFor } from '../../vms/mac.js';
import type { CreateVmRequest } from '../../vms/schemas.js';
import type { NicSpec } from '../../vms/spec.js';
import type { HostService } from '../hosts/service.js';
import type { HostRecord, VmNic, VmRecord } from '../store/records.js';
import type { Repositories, Store } from '../store/store.js';
import { vmsOn } from './service.js';

/** What `vm create --network NAME[,ip=A.B.C.D][,rate=10mbit]` asks for. */
export interface NetworkNicRequest {
  network: string;
  address?: string;
  /** Cap in Mbit/s, both directions. */
  rateLimitMbit?: number;
}

type AgentNetworkNic = NonNullable<CreateVmRequest['networkNics']>[number];

/** The virtual-network NICs of a VM record. */
export function networkNicsOf(vm: Pick<VmRecord, 'nics'>): VmNic[] {
  return vm.nics.filter((n) => n.mode === 'network');
}

/**
 * Assigns each requested NIC (NIC index 1, 2... after the VM's first NIC) a MAC no other VM has and an address
 * of its network no other VM has, reading through `tx` so two creates cannot take the same one (`recorded`: the VMs
 * as `tx` sees them, when the caller has them already).
 * Coded errors, before anything is written: VIRTUAL_NETWORK_NOT_FOUND, ADDRESS_TAKEN, ADDRESS_OUT_OF_SUBNET, NETWORK_FULL, INVALID_RATE_LIMIT.
 */
export async function assignNetworkNics(tx: Repositories, vmId: string, requests: readonly NetworkNicRequest[], recorded?: readonly VmRecord[]): Promise<{ nics: VmNic[]; agentNics: AgentNetworkNic[] }> {
  if (requests.length === 0) return { nics: [], agentNics: [] };
  const names = requests.map((r) => r.network);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice) throw new DroverError('INVALID_ARGUMENT', `network ${twice} is named twice; a VM has at most one NIC per network`);
  const vms = recorded ?? (await tx.vms.list());
  const macs = new Set(vms.flatMap((vm) => vm.nics.map((n) => n.macAddress)));
  const nics: VmNic[] = [];
  const agentNics: AgentNetworkNic[] = [];
  for (const [i, request] of requests.entries()) {
    const network = await tx.networks.getByName(request.network);
    if (!network) throw new DroverError('VIRTUAL_NETWORK_NOT_FOUND', request.network);
    const subnet = parseSubnet(network.subnet);
    const taken = new Set(vmsOn(vms, network.name).flatMap((vm) => vm.nics.filter((n) => n.network === network.name && n.address).map((n) => n.address as string)));
    const address = assignAddress(subnet, taken, request.address);
    const rate = request.rateLimitMbit !== undefined ? { rateLimitKbit: mbitToKbit(request.rateLimitMbit) } : {};
    let mac = macFor(vmId, i + 1);
    for (let salt = 1; macs.has(mac); salt++) mac = macFor(`${vmId}/${salt}`, i + 1);
    macs.add(mac);
    nics.push({ name: `eth${i + 1}`, mode: 'network', network: network.name, macAddress: mac, address, ...rate });
    agentNics.push({ mac, network: network.name, vni: network.vni, address: `${address}/${subnet.prefixLength}`, mtu: network.mtu, ...rate });
  }
  return { nics, agentNics };
}

/** The IPv4 address a host's agent is reached at: its underlay address on every network. */
function underlayAddress(host: HostRecord): string {
  return new URL(host.address).hostname;
}

/**
 * Changes to one VNI's overlays, one at a time in the order asked: a deleted network's removal is not
 * overtaken by the set-up of a new network given the same VNI, and the last push a host gets carries
 * the newest peers (each reads the members when its turn comes).
 */
const overlayChanges = new KeyedQueue<number>();

/** Sends host `hostId` the current definition of `networkName` and, as peers, every other host with a VM on it (and `extra`). */
async function push(store: Store, hosts: HostService, networkName: string, hostId: string, extra?: string): Promise<void> {
  const network = await store.networks.getByName(networkName);
  if (!network) throw new DroverError('VIRTUAL_NETWORK_NOT_FOUND', networkName);
  await overlayChanges.run(network.vni, async () => {
    const host = await store.hosts.get(hostId);
    if (!host) throw new DroverError('NOT_FOUND', `host ${hostId}`);
    const peers: string[] = [];
    for (const id of await membersOf(store, networkName, extra)) {
      const peer = id === hostId ? undefined : await store.hosts.get(id);
      if (peer) peers.push(underlayAddress(peer));
    }
    const agent = await hosts.client(hostId);
    await agent.request('PUT', `/api/v1/overlays/${network.vni}`, { network: network.name, mtu: network.mtu, localAddress: underlayAddress(host), peers });
  });
}

/** The hosts with a VM on `networkName`, plus `extra`. */
async function membersOf(store: Store, networkName: string, extra?: string): Promise<Set<string>> {
  const members = new Set(vmsOn(await store.vms.list(), networkName).flatMap((vm) => (vm.hostId ? [vm.hostId] : [])));
  if (extra) members.add(extra);
  return members;
}

/**
 * Sets up every virtual network of `vm` on host `hostId` (which must succeed) and tells the other member hosts
 * about it (best effort: a host that cannot be reached gets the full list on its next push). Call it before
 * the VM starts on, or migrates to, that host.
 */
export async function prepareNetworksOnHost(store: Store, hosts: HostService, vm: Pick<VmRecord, 'nics'>, hostId: string): Promise<void> {
  for (const nic of networkNicsOf(vm)) {
    const members = await membersOf(store, nic.network, hostId);
    await push(store, hosts, nic.network, hostId, hostId);
    for (const other of members) if (other !== hostId) await push(store, hosts, nic.network, other, hostId).catch(() => undefined);
  }
}

/** Re-sends the peers of `vm`'s networks to every member host, so hosts that no VM on them is left on drop out; best effort. */
export async function refreshNetworkPeers(store: Store, hosts: HostService, vm: Pick<VmRecord, 'nics'>): Promise<void> {
  for (const nic of networkNicsOf(vm)) {
    for (const id of await membersOf(store, nic.network)) await push(store, hosts, nic.network, id).catch(() => undefined);
  }
}

/** Asks every host to remove the overlay of a deleted network (VNI `vni`); best effort, hosts that are down keep it. */
export async function removeOverlayEverywhere(store: Store, hosts: HostService, vni: number): Promise<void> {
  await overlayChanges.run(vni, async () => {
    for (const host of await store.hosts.list()) {
      if (!host.credential) continue;
      await (await hosts.client(host.id)).request('DELETE', `/api/v1/overlays/${vni}`, undefined, 10_000).catch(() => undefined);
    }
  });
}

/** The controller's NIC records for the NICs a host reports (the address without its prefix length). */
export function nicRecords(nics: readonly NicSpec[]): VmNic[] {
  return nics.map((n, i) => {
    const base = { name: `eth${i}`, macAddress: n.mac, mode: n.mode, ...(n.mode !== 'user' && n.rateLimitKbit ? { rateLimitKbit: n.rateLimitKbit } : {}) };
    if (n.mode === 'network') return { ...base, network: n.network, address: n.address.split('/')[0] ?? n.address };
    return { ...base, network: n.mode === 'bridge' ? n.bridge : 'user' };
  });
}
