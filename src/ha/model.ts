/**
 * The engine's input: observations the controller made and answers it received since the last
 * step. Nothing here is read from a store or a socket; the controller (or the simulation) maps
 * what it knows into these shapes and hands them in with the time.
 */
import type { ClusterView } from '../scheduler/model.js';

/** 1 (last) to 5 (first): higher priorities restart first. */
export type HaPriority = 1 | 2 | 3 | 4 | 5;

/**
 * What an isolated host (alive, writing its storage heartbeat, but cut off from the controller)
 * does with the VM. keep-running: it keeps it and nothing restarts elsewhere. power-off: the host
 * stops it itself, and once that is known (or certain) the VM restarts elsewhere.
 */
export type IsolationResponse = 'keep-running' | 'power-off';

/** One VM under HA protection. */
export interface HaVmSettings {
  vmId: string;
  priority: HaPriority;
  isolationResponse: IsolationResponse;
  /** Reset the guest when its guest agent stops answering (vSphere's VM Monitoring). */
  guestMonitoring: boolean;
}

/** One VM as a host reported it: its QEMU runs (in any state) at this generation. */
export interface HostVmReport {
  vmId: string;
  generation: number;
  /** When this QEMU started. */
  startedAt: number;
  /** When its guest agent last answered; undefined: not since the QEMU started. */
  lastGuestAnswerAt?: number;
}

/** One VM listed in a host's storage heartbeat slot. */
export interface StorageVmEntry {
  vmId: string;
  generation: number;
}

/** What a host last wrote in its storage heartbeat slot besides the heartbeat itself. */
export interface StorageSlot {
  /**
   * The host wrote this after its own lease had lapsed. From then on it refuses every start and
   * resume until it renews, so `vms` is everything it runs and will run.
   */
  leaseLost: boolean;
  vms: StorageVmEntry[];
}

/**
 * What the controller knows about one host. Times are the controller's own: when it accepted a
 * renewal, and when it saw a heartbeat slot change, never a timestamp the host wrote.
 */
export interface HostObservation {
  hostId: string;
  /** When the controller last accepted a lease renewal from the host's agent; undefined: not since this controller process started. */
  lastLeaseRenewalAt?: number;
  /** When the controller last saw the host's heartbeat slot change, in any shared pool; undefined: not seen change since it started. */
  lastStorageHeartbeatAt?: number;
  /** The VMs the host listed with its last lease renewal; undefined: it has not reported (none is not the same as unknown). */
  vms?: HostVmReport[];
  /** The slot content the controller last read with that heartbeat (how an isolated host says what it runs); undefined: not read. */
  storageSlot?: StorageSlot;
  /** The host arms a watchdog (hardware or softdog) that resets it when its agent stops keeping it alive. */
  watchdog: boolean;
  /** A fence device (IPMI, PDU, cloud API) is configured for the host. */
  fenceDevice: boolean;
}

/** An answer or an administrator's word the controller received since the last step. */
export type HaReport =
  /** A fence device's answer: `off` only when its status check confirmed the power is off. */
  | { kind: 'fence-result'; hostId: string; attempt: number; outcome: 'off' | 'failed'; detail: string }
  /** A host's answer to a restart: it runs the VM at this generation, or it could not start it. */
  | { kind: 'start-result'; vmId: string; hostId: string; generation: number; outcome: 'started' | 'failed'; detail: string }
  /** A host's answer to a start check: it runs the VM at this generation, or it never started it. */
  | { kind: 'start-check'; vmId: string; hostId: string; generation: number; outcome: 'running' | 'not-started' }
  /** An administrator states the host is powered off. */
  | { kind: 'confirm-down'; hostId: string; by: string };

/** One step's input. */
export interface HaInput {
  /** The controller's clock, in milliseconds. */
  now: number;
  /** Hosts, VMs (where the store records them), pools and policy, as the scheduler reads them. */
  cluster: ClusterView;
  /** One per host of the cluster; a host without one has never been heard from. */
  hosts: HostObservation[];
  /** The VMs under HA protection. */
  haVms: HaVmSettings[];
  /** Answers received since the last step. Replaying one is harmless: each is matched to what it answers. */
  reports: HaReport[];
  /** When the controller last read every heartbeat slot successfully; undefined: not since it started. Without reads, an unchanged slot is not proof of death. */
  storageReadAt?: number;
}
