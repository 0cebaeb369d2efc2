import { DEFAULT_CPU_MODEL } from '../../vms/spec.js';
import { guestCapabilities } from '../../drivers/capabilities.js';
import { kbitToMbit } from '../../network/rate-units.js';
import type { MigrationTargets } from '../../scheduler/targets.js';
import type { PlacementRecord, VmRecord } from '../store/records.js';
import type { MigrationTargetWire, PlacementWire, VmWire } from './schema.js';

const MiB = 1024 * 1024;

/** The wire form of a VM; `hostNames` maps host ids to names. */
export function vmWire(vm: VmRecord, hostNames: Map<string, string>): VmWire {
  return {
    id: vm.id,
    name: vm.name,
    type: vm.spec.type ?? 'vm',
    privileged: vm.spec.privileged ?? false,
    pidsLimit: vm.spec.pidsLimit ?? null,
    cpuLimitPercent: vm.spec.cpuLimitPercent ?? null,
    host: vm.hostId ? (hostNames.get(vm.hostId) ?? vm.hostId) : null,
    movingTo: vm.movingTo ? (hostNames.get(vm.movingTo) ?? vm.movingTo) : null,
    state: vm.state,
    desiredState: vm.desiredState,
    guestReady: vm.runtime.guestReady ?? false,
    crashReason: vm.runtime.crashReason ?? null,
    image: vm.spec.imageId,
    cpus: vm.spec.cpus,
    // VMs recorded before per-VM models ran the agents' one model, qemu64.
    // A guest that cannot be given a model (a container) sees the host's own CPU.
    cpuModel: vm.spec.cpuModel ?? (guestCapabilities(vm.spec.type).cpuModels ? DEFAULT_CPU_MODEL : 'host'),
    memoryMiB: Math.round(vm.spec.memoryBytes / MiB),
    devices: vm.spec.devices ?? 'virtio',
    disks: vm.disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes, readOnly: false })),
    macs: vm.nics.map((n) => n.macAddress),
    ips: vm.runtime.addresses ?? [],
    nics: vm.nics.map((n) => ({
      name: n.name,
      mode: n.mode ?? (n.network === 'user' ? 'user' : 'bridge'),
      network: n.network,
      mac: n.macAddress,
      address: n.address ?? null,
      rateLimitMbit: n.rateLimitKbit ? kbitToMbit(n.rateLimitKbit) : null,
    })),
    pid: vm.runtime.pid ?? null,
    ha: vm.spec.ha ? { ...vm.spec.ha } : null,
    pool: vm.spec.pool ?? 'local',
    placement: {
      requiredTags: vm.spec.placement?.requiredTags ?? [],
      affinityGroups: vm.spec.placement?.affinityGroups ?? [],
      antiAffinityGroups: vm.spec.placement?.antiAffinityGroups ?? [],
    },
    startedAt: vm.runtime.startedAt ?? null,
    createdAt: vm.createdAt,
    updatedAt: vm.updatedAt,
  };
}

/** The wire form of a placement row. */
export function placementWire(p: PlacementRecord): PlacementWire {
  return { id: p.id, vm: p.vmName, host: p.hostName, hostId: p.hostId, startedAt: p.startedAt, endedAt: p.endedAt, reason: p.reason, actor: p.actor, operationId: p.operationId, detail: p.detail };
}

/** The wire form of judged migration targets: one item per host, the recommended one flagged. */
export function migrationTargetsWire(found: MigrationTargets): MigrationTargetWire[] {
  return found.targets.map((target) => ({
    host: target.hostName,
    suitable: target.refusals.length === 0,
    reasons: target.refusals.map((refusal) => refusal.reason),
    ...(target.score ? { score: Number(target.score.total.toFixed(4)) } : {}),
    recommended: target === found.recommended,
  }));
}
