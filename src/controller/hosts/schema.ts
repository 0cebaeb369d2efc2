import { Type, type Static } from '@fastify/type-provider-typebox';
import { Nullable, TimestampSchema } from '../api/schemas.js';
import type { HostRecord } from '../store/records.js';
import type { AgentHostInfo } from './agent-client.js';
import { HostFenceSummarySchema } from './fence-schema.js';
import type { UnmanagedVm } from './service.js';

const Resources = Type.Object({ cpus: Type.Number(), memoryBytes: Type.Number(), diskBytes: Type.Number() }, { additionalProperties: false });

import { TAG_PATTERN } from '../../shared/names.js';

export { TAG_PATTERN };

/** A host's tags, each once. */
export const HostTagsSchema = Type.Array(Type.String({ pattern: TAG_PATTERN.source, maxLength: 317 }), {
  maxItems: 64,
  uniqueItems: true,
  description: 'Placement labels: `key=value` or a plain `key` (letters, digits, ".", "_", "/", "-"; values may also hold ":", "@", "+").',
});

export const HostSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    address: Type.String(),
    version: Type.String(),
    accelerator: Type.String(),
    acceleratorReason: Nullable(Type.String({ description: 'Why the host uses this accelerator (the KVM probe result).' })),
    state: Type.String({ description: 'joining, ready, maintenance or offline.' }),
    health: Type.String({ description: 'healthy, degraded, unreachable or unknown.' }),
    lastHeartbeat: Nullable(TimestampSchema),
    capacity: Resources,
    usage: Resources,
    tags: HostTagsSchema,
    cpuOvercommit: Type.Number({ description: 'vCPUs that may be placed per physical CPU; 1.0 = no overcommit.' }),
    memoryOvercommit: Type.Number({ description: 'VM memory that may be placed per byte of host memory; 1.0 = no overcommit.' }),
    pools: Type.Array(Type.Object({ name: Type.String(), kind: Type.String({ description: 'local or shared.' }) }, { additionalProperties: false }), {
      description: 'Storage pools the agent proved it reaches: its own local pool, and a shared pool named by the marker in its --shared-storage directory.',
    }),
    cpuModels: Type.Array(Type.String(), { description: 'CPU models the host can present to guests; "*" means any.' }),
    fence: Nullable(HostFenceSummarySchema),
    vmCount: Type.Integer(),
    unmanagedVms: Type.Array(
      Type.Object({ name: Type.String(), state: Type.String(), pid: Type.Optional(Type.Integer()), seenSince: TimestampSchema }, { additionalProperties: false }),
      { description: 'VMs the host runs that the controller has no record of. Drover never kills them.' },
    ),
  },
  { additionalProperties: false },
);
export type HostWire = Static<typeof HostSchema>;

export const HostListSchema = Type.Object({ hosts: Type.Array(HostSchema) }, { additionalProperties: false });
export const HostNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

/** The wire form of a host. */
export function hostWire(host: HostRecord, vmCount: number, unmanaged: UnmanagedVm[], info: AgentHostInfo | undefined): HostWire {
  return {
    id: host.id,
    name: host.name,
    address: host.address,
    version: host.version,
    accelerator: host.accelerator,
    acceleratorReason: info?.accelerator.reason ?? null,
    state: host.state,
    health: host.health,
    lastHeartbeat: host.lastHeartbeat,
    capacity: host.capacity,
    usage: host.usage,
    tags: host.tags,
    cpuOvercommit: host.cpuOvercommit,
    memoryOvercommit: host.memoryOvercommit,
    pools: host.pools,
    cpuModels: host.cpuModels,
    fence: host.fenceDevice ? { agent: host.fenceDevice.agent, setAt: host.fenceDevice.setAt } : null,
    vmCount,
    unmanagedVms: unmanaged,
  };
}
