import { Type, type Static } from '@fastify/type-provider-typebox';
import { NameSchema, Nullable, TimestampSchema } from '../api/schemas.js';
import { overlayBridgeName } from '../../network/overlay.js';
import type { NetworkRecord, VmRecord } from '../store/records.js';

/** The MTU of a network created without --mtu: a 1500-byte underlay minus VXLAN's 50 bytes. */
export const DEFAULT_MTU = 1450;

export const NetworkNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

/** Body of POST /api/v1/networks. */
export const CreateNetworkBody = Type.Object(
  {
    name: NameSchema,
    subnet: Type.String({ minLength: 1, maxLength: 64, description: 'IPv4 CIDR VM addresses come from, e.g. 10.60.0.0/24 (/8 to /29).' }),
    vni: Type.Optional(Type.Integer({ minimum: 1, maximum: 16_777_215, description: 'VXLAN id; default: the lowest free one.' })),
    mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 9000, default: DEFAULT_MTU, description: 'MTU of the network and of the guests\' NICs on it; leave 50 bytes of the hosts\' MTU for VXLAN.' })),
  },
  { additionalProperties: false },
);
export type CreateNetworkBody = Static<typeof CreateNetworkBody>;

/** One VM NIC on a network. */
export const NetworkMemberSchema = Type.Object(
  { vm: Type.String(), host: Nullable(Type.String()), mac: Type.String(), address: Type.String() },
  { additionalProperties: false },
);

/** A virtual network as the API shows it. */
export const NetworkSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    subnet: Type.String(),
    vni: Type.Integer(),
    mtu: Type.Integer(),
    bridge: Type.String({ description: 'The bridge name on every host that has the network.' }),
    members: Type.Array(NetworkMemberSchema),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  },
  { additionalProperties: false },
);
export type NetworkWire = Static<typeof NetworkSchema>;

export const NetworkListSchema = Type.Object({ networks: Type.Array(NetworkSchema) }, { additionalProperties: false });

/** The wire form of a network with the NICs `vms` have on it; `hostNames` maps host ids to names. */
export function networkWire(network: NetworkRecord, vms: readonly VmRecord[], hostNames: Map<string, string>): NetworkWire {
  const members = vms.flatMap((vm) =>
    vm.nics
      .filter((n) => n.mode === 'network' && n.network === network.name)
      .map((n) => ({ vm: vm.name, host: vm.hostId ? (hostNames.get(vm.hostId) ?? vm.hostId) : null, mac: n.macAddress, address: n.address ?? '' })),
  );
  return {
    id: network.id,
    name: network.name,
    subnet: network.subnet,
    vni: network.vni,
    mtu: network.mtu,
    bridge: overlayBridgeName(network.vni),
    members,
    createdAt: network.createdAt,
    updatedAt: network.updatedAt,
  };
}
