import { randomUUID } from 'node:crypto';
import { checkSubnetUsable, parseSubnet } from '../../network/addresses.js';
import { MAX_VNI } from '../../network/overlay.js';
import { DroverError } from '../../shared/errors.js';
import { validateName } from '../../shared/names.js';
import type { Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import { now, type NetworkRecord, type VmRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { DEFAULT_MTU, type CreateNetworkBody } from './schema.js';

/** The VMs with a NIC on network `name`. */
export function vmsOn(vms: readonly VmRecord[], name: string): VmRecord[] {
  return vms.filter((vm) => vm.nics.some((n) => n.mode === 'network' && n.network === name));
}

/** The lowest VNI no network in `networks` uses. */
export function freeVni(networks: readonly NetworkRecord[]): number {
  const used = new Set(networks.map((n) => n.vni));
  for (let vni = 1; vni <= MAX_VNI; vni++) if (!used.has(vni)) return vni;
  throw new DroverError('VNI_TAKEN', 'every VNI is in use');
}

/** The controller's virtual networks: definitions, and refusing to delete one that VMs still use. */
export class NetworkService {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
  ) {}

  async list(): Promise<NetworkRecord[]> {
    return this.store.networks.list();
  }

  async get(name: string): Promise<NetworkRecord> {
    const network = await this.store.networks.getByName(name);
    if (!network) throw new DroverError('VIRTUAL_NETWORK_NOT_FOUND', name);
    return network;
  }

  /** Defines a network; nothing is set up on hosts until a VM on it starts there. */
  async create(body: CreateNetworkBody, actor: Actor): Promise<NetworkRecord> {
    validateName('network', body.name);
    const subnet = parseSubnet(body.subnet);
    checkSubnetUsable(subnet);
    return this.store.transaction(async (tx) => {
      if (await tx.networks.getByName(body.name)) throw new DroverError('VIRTUAL_NETWORK_EXISTS', body.name);
      const all = await tx.networks.list();
      const taken = body.vni !== undefined ? all.find((n) => n.vni === body.vni) : undefined;
      if (taken) throw new DroverError('VNI_TAKEN', `VNI ${body.vni} belongs to network ${taken.name}`);
      const at = now();
      const network: NetworkRecord = { id: randomUUID(), name: body.name, subnet: subnet.cidr, vni: body.vni ?? freeVni(all), mtu: body.mtu ?? DEFAULT_MTU, createdAt: at, updatedAt: at };
      await tx.networks.insert(network);
      await this.events.record(
        { actor, objectType: 'network', objectId: network.id, objectName: network.name, action: 'network.create', result: 'success', detail: { subnet: network.subnet, vni: network.vni, mtu: network.mtu } },
        tx,
      );
      return network;
    });
  }

  /** Deletes a network no VM has a NIC on (VIRTUAL_NETWORK_IN_USE otherwise). Hosts keep its bridge until they are told to remove it. */
  async delete(name: string, actor: Actor): Promise<NetworkRecord> {
    return this.store.transaction(async (tx) => {
      const network = await tx.networks.getByName(name);
      if (!network) throw new DroverError('VIRTUAL_NETWORK_NOT_FOUND', name);
      const users = vmsOn(await tx.vms.list(), name);
      if (users.length > 0) throw new DroverError('VIRTUAL_NETWORK_IN_USE', `${name} is used by ${users.map((v) => v.name).join(', ')}`);
      await tx.networks.delete(network.id);
      await this.events.record({ actor, objectType: 'network', objectId: network.id, objectName: network.name, action: 'network.delete', result: 'success', detail: { vni: network.vni } }, tx);
      return network;
    });
  }
}
