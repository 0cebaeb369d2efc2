/**
 * The messages between the lease-scale benchmark (lease-scale.ts) and its two child processes: the controller
 * (lease-controller.ts) and the simulated hosts (lease-worker.ts). Every request carries an `id`; the child answers
 * with the same `id`, either `{ ok: true, ...reply }` or `{ ok: false, error }`.
 */
import { performance } from 'node:perf_hooks';

/** One simulated host: its name and the agent token the controller holds as its credential. */
export interface SimulatedLeaseHost {
  name: string;
  agentToken: string;
}

/** Requests to the controller process. */
export type ControllerRequest =
  | { id: number; kind: 'start'; hosts: SimulatedLeaseHost[]; agentBaseUrl: string; stepMs: number }
  | { id: number; kind: 'start-ha' }
  | { id: number; kind: 'cpu' }
  | { id: number; kind: 'stop' };

/** What the controller process reports of itself: its CPU time so far and its event loop's use. */
export interface ControllerCpu {
  /** process.cpuUsage(): microseconds of user and system CPU since the process started. */
  userMicros: number;
  systemMicros: number;
  /** performance.now() in the controller process when it read the above. */
  at: number;
  /** performance.eventLoopUtilization(): idle and active ms since the process started. */
  loopIdleMs: number;
  loopActiveMs: number;
}

/** Reads ControllerCpu in the controller process itself. */
export function readControllerCpu(): ControllerCpu {
  const usage = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  return { userMicros: usage.user, systemMicros: usage.system, at: performance.now(), loopIdleMs: loop.idle, loopActiveMs: loop.active };
}

/** Requests to the simulated hosts' process. */
export type WorkerRequest =
  | { id: number; kind: 'start'; hosts: SimulatedLeaseHost[] }
  | { id: number; kind: 'renew'; controllerUrl: string }
  | { id: number; kind: 'hang'; host: string }
  | { id: number; kind: 'resume'; host: string }
  | { id: number; kind: 'stats' }
  | { id: number; kind: 'stop' };

/** The renewals sent since the last `stats` request (or since renewing began). */
export interface RenewalStats {
  /** Wall-clock ms this window lasted. */
  windowMs: number;
  sent: number;
  accepted: number;
  /** Renewals refused (non-200), by status code. */
  refused: Record<string, number>;
  /** Renewals that failed without an answer (connection error, timeout). */
  errors: number;
  /** Renewals skipped because the host's previous one was still in flight (an agent does the same). */
  skipped: number;
  /** Latency of accepted renewals, from sending to the last byte of the answer (ms). */
  latency: { p50: number; p90: number; p99: number; max: number };
  /** Heartbeat-slot reads the controller made through the simulated hosts' agent API, answered and held unanswered. */
  slotReads: number;
  slotReadsHeld: number;
  /** The first few error texts, for the notes. */
  sampleErrors: string[];
}

/** A reply from either child to request `id`. */
export type ChildReply = { id: number; ok: true; [key: string]: unknown } | { id: number; ok: false; error: string };
