/**
 * Builders for HA unit tests: observations, settings and inputs with defaults, so each test states
 * only what it is about. The hosts are simulated; no agent is involved.
 */
import type { ClusterView } from '../scheduler/model.js';
import { cluster, host, vm } from '../scheduler/testing.js';
import type { HaInput, HaVmSettings, HostObservation, HostVmReport } from './model.js';
import { DEFAULT_HA_CONFIG, DEFAULT_HA_TIMINGS, type HaConfig, type HaTimings } from './timings.js';

/** A host that renewed its lease and wrote its heartbeat at `at`, reporting no VMs, with neither watchdog nor fence device. */
export function observation(hostId: string, at: number, overrides: Partial<HostObservation> = {}): HostObservation {
  return { hostId, lastLeaseRenewalAt: at, lastStorageHeartbeatAt: at, vms: [], watchdog: false, fenceDevice: false, ...overrides };
}

/** A VM report: running at `generation` since `startedAt`, its guest last answering at `answeredAt` (null: not since it started). */
export function running(vmId: string, generation: number, startedAt = 0, answeredAt: number | null = startedAt): HostVmReport {
  return { vmId, generation, startedAt, ...(answeredAt === null ? {} : { lastGuestAnswerAt: answeredAt }) };
}

/** HA settings: priority 3, keep-running, no guest monitoring. */
export function haVm(vmId: string, overrides: Partial<HaVmSettings> = {}): HaVmSettings {
  return { vmId, priority: 3, isolationResponse: 'keep-running', guestMonitoring: false, ...overrides };
}

/** hostIds → ready 8-CPU hosts; vms (id → host) → 1-vCPU, 1 GiB VMs on the shared pool. */
export function smallCluster(hostIds: readonly string[], vms: Record<string, string | null>): ClusterView {
  return cluster(
    hostIds.map((id) => host(id)),
    Object.entries(vms).map(([id, hostId]) => vm(id, { hostId })),
  );
}

/** A step's input; storage read at `now` unless given. */
export function haInput(now: number, view: ClusterView, hosts: HostObservation[], haVms: HaVmSettings[], extra: Partial<HaInput> = {}): HaInput {
  return { now, cluster: view, hosts, haVms, reports: [], storageReadAt: now, ...extra };
}

/**
 * The timings the engine's logic tests and their expected logs were written for (a 10 s lease and
 * self-fence, 5 s margin). The tests pin them, so changing the defaults (timings.ts) changes what
 * a cluster does, not what these tests check; timings.test.ts checks the defaults themselves.
 */
export const SCENARIO_TIMINGS: Readonly<HaTimings> = Object.freeze({ ...DEFAULT_HA_TIMINGS, leaseExpiryMs: 10_000, storageHeartbeatExpiryMs: 10_000, selfFenceMs: 10_000, safetyMarginMs: 5_000 });
export const SCENARIO_CONFIG: Readonly<HaConfig> = Object.freeze({ ...DEFAULT_HA_CONFIG, timings: SCENARIO_TIMINGS });
