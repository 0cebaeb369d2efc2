/** Sample records for tests and test tools; each takes overrides for the fields a test cares about. */
import type { HostRecord, JoinTokenRecord, OperationRecord, PlacementRecord, TokenRecord, VmRecord } from './records.js';

/** The creation time every sample has. */
export const T0 = '2025-01-01T00:00:00.000Z';

/** A host record with test values; `overrides` wins. */
export function sampleHost(overrides: Partial<HostRecord> = {}): HostRecord {
  return {
    id: 'host-1',
    name: 'alpha',
    address: '10.0.0.1:7070',
    version: '0.1.0',
    accelerator: 'kvm',
    capacity: { cpus: 8, memoryBytes: 16 * 2 ** 30, diskBytes: 500 * 2 ** 30 },
    usage: { cpus: 0, memoryBytes: 0, diskBytes: 0 },
    health: 'healthy',
    lastHeartbeat: null,
    state: 'ready',
    credential: null,
    tags: [],
    cpuOvercommit: 1,
    memoryOvercommit: 1,
    // Every sample host reaches one shared pool, as hosts mounting one NAS would report.
    pools: [{ name: 'shared:fixture', kind: 'shared' }],
    cpuModels: ['*'],
    fenceDevice: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** A VM record with test values; `overrides` wins. */
export function sampleVm(overrides: Partial<VmRecord> = {}): VmRecord {
  return {
    id: 'vm-1',
    name: 'web',
    hostId: null,
    state: 'stopped',
    desiredState: 'stopped',
    spec: { cpus: 2, memoryBytes: 2 ** 30, imageId: null },
    disks: [{ name: 'root', sizeBytes: 10 * 2 ** 30, format: 'qcow2', backingImageId: null }],
    nics: [{ name: 'eth0', network: 'default', macAddress: '52:54:00:00:00:01' }],
    snapshots: [],
    runtime: {},
    movingTo: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** An operation record with test values; `overrides` wins. */
export function sampleOperation(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'op-1',
    kind: 'start',
    targetType: 'vm',
    targetId: 'vm-1',
    targetName: 'web',
    hostId: null,
    state: 'queued',
    progress: 0,
    message: '',
    steps: [],
    result: null,
    error: null,
    actor: 'admin',
    cancelRequested: false,
    owner: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** A token record with test values; `overrides` wins. */
export function sampleToken(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return { id: 'tok-1', name: 'ci', hash: 'a'.repeat(64), role: 'admin', createdAt: T0, revokedAt: null, lastUsedAt: null, ...overrides };
}

/** A join token record (unused, expiring an hour after T0) with test values; `overrides` wins. */
export function sampleJoinToken(overrides: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
  return { id: 'join-1', hash: 'b'.repeat(64), createdBy: 'admin', createdAt: T0, expiresAt: '2025-01-01T01:00:00.000Z', usedAt: null, usedByHostId: null, ...overrides };
}

/** An open placement of VM vm-1 on host-1 since T0 with test values; `overrides` wins. */
export function samplePlacement(overrides: Partial<PlacementRecord> = {}): PlacementRecord {
  return {
    id: 'pl-1', vmId: 'vm-1', vmName: 'web', hostId: 'host-1', hostName: 'alpha', startedAt: T0, endedAt: null,
    reason: 'scheduler', actor: 'admin', operationId: null, detail: {}, ...overrides,
  };
}
