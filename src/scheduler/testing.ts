/**
 * Builders for scheduler tests and benchmarks: small in-memory cluster views with sensible
 * defaults, so each test states only what it is about. The hosts are simulated; no agent is involved.
 */
import type { ClusterView, HostView, PoolView, VmView, Weight } from './model.js';
import type { PlannedMove } from './balance.js';

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** The default pool: shared, reachable from every host the cluster builder is given. */
export const SHARED_POOL = 'shared';

/** A ready, healthy host named after its id: 8 CPUs, 16 GiB, no overcommit, both device models. */
export function host(id: string, overrides: Partial<HostView> = {}): HostView {
  return {
    id,
    name: id,
    cpus: 8,
    memoryBytes: 16 * GiB,
    cpuOvercommit: 1,
    memoryOvercommit: 1,
    tags: [],
    deviceModels: ['virtio', 'emulated'],
    state: 'ready',
    healthy: true,
    ...overrides,
  };
}

/** An unplaced, live-migratable virtio VM named after its id: 1 vCPU, 1 GiB, on the shared pool. */
export function vm(id: string, overrides: Partial<VmView> = {}): VmView {
  return {
    id,
    name: id,
    hostId: null,
    cpus: 1,
    memoryBytes: GiB,
    devices: 'virtio',
    pool: SHARED_POOL,
    requiredTags: [],
    groups: {},
    liveMigratable: true,
    ...overrides,
  };
}

/** A cluster of `hosts` and `vms` with a shared pool reachable from every host, plus `pools`. */
export function cluster(hosts: HostView[], vms: VmView[] = [], options: { weight?: Weight; pools?: PoolView[] } = {}): ClusterView {
  const shared: PoolView = { name: SHARED_POOL, kind: 'shared', hosts: hosts.map((h) => h.id) };
  return { hosts, vms, pools: [shared, ...(options.pools ?? [])], policy: { weight: options.weight ?? 'spread' } };
}

/** The cluster after `moves`: each moved VM's hostId changed, nothing else. */
export function applyMoves(view: ClusterView, moves: ReadonlyArray<Pick<PlannedMove, 'vmId' | 'toHostId'>>): ClusterView {
  const target = new Map(moves.map((move) => [move.vmId, move.toHostId]));
  return { ...view, vms: view.vms.map((v) => (target.has(v.id) ? { ...v, hostId: target.get(v.id) ?? null } : v)) };
}

/** Where each VM runs, as hostId → VM ids, for readable assertions. */
export function layout(view: ClusterView): Record<string, string[]> {
  const byHost: Record<string, string[]> = {};
  for (const h of view.hosts) byHost[h.id] = [];
  for (const v of view.vms) if (v.hostId !== null) byHost[v.hostId]?.push(v.id);
  return byHost;
}
