/**
 * Lease renewals at scale: a controller in its own process with 1,000 simulated hosts in its store, renewing their
 * leases once a second from another process (lease-worker.ts), HA stepping every 500 ms and reading the heartbeat
 * slots through a simulated host as it would through an agent. Measured: the controller process's CPU over a window,
 * as a share of one core; whether every host is judged ok; then, one host at a time, a host that hangs (no renewals,
 * its slot frozen, reads sent through it never answered): when HA finds it suspect and failed, and whether any other
 * host leaves ok meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HaStatus } from '../../src/controller/ha/service.js';
import { DEFAULT_HA_TIMINGS } from '../../src/ha/timings.js';
import { launcherNodeFlags } from '../lib/launcher.js';
import { IpcChild } from './child.js';
import type { ControllerCpu, ControllerRequest, RenewalStats, SimulatedLeaseHost, WorkerRequest } from './lease-protocol.js';

/** How many simulated hosts renew. */
export const LEASE_HOSTS = 1_000;
/** The controller's HA step interval, as `drover up` starts it (HaService.start's default). */
export const HA_STEP_MS = 500;
/** Renewals before the counted window, so that connections and the JIT are warm. */
const WARMUP_MS = 5_000;
/** The counted window. */
export const CPU_WINDOW_MS = 30_000;
/** Hung hosts, one after the other: the first is also the host the controller reads the heartbeat slots through. */
const HUNG_HOSTS = [1, 500, 1000];
/** Give up on a hung host's verdict after this long. */
const DETECTION_TIMEOUT_MS = 30_000;

const CONTROLLER = new URL(`./lease-controller${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
const WORKER = new URL(`./lease-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** One hung host: from the hang to its verdicts, in ms (undefined: not reached within the timeout). */
export interface HangResult {
  host: string;
  /** How long before the hang its last accepted renewal was sent (its lease ages from there). */
  lastRenewalBeforeHangMs?: number;
  suspectMs?: number;
  failedMs?: number;
  /** Its verdict when the wait ended. */
  finalLiveness: string;
  /** Other hosts that left ok (their host.* events) from the hang until this host was back ok. */
  othersDisturbed: string[];
}

/** What the lease-scale run measured. */
export interface LeaseScaleResult {
  hosts: number;
  windowMs: number;
  /** Controller CPU (user + system) over the window, as a percentage of one core. */
  cpuPercent: number;
  userPercent: number;
  systemPercent: number;
  /** The controller's event loop busy share over the window, in percent. */
  loopPercent: number;
  renewals: RenewalStats;
  /** GET /api/v1/ha/status after the window: hosts by liveness. */
  livenessAfterWindow: Record<string, number>;
  /** host.* events of any host during the window (a renewal late enough to make a host suspect shows here). */
  windowHostEvents: string[];
  hangs: HangResult[];
  /** Renewals during the hangs (999 hosts renewing; the stats of that period). */
  renewalsDuringHangs?: RenewalStats;
}

interface EventWire {
  time: string;
  action: string;
  object: { name: string | null };
}

function hostName(index: number): string {
  return `sim-host-${String(index).padStart(4, '0')}`;
}

async function api<T>(url: string, token: string, route: string): Promise<T> {
  const res = await fetch(`${url}${route}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${route}: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

function countLiveness(status: HaStatus): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const host of status.hosts) counts[host.liveness] = (counts[host.liveness] ?? 0) + 1;
  return counts;
}

async function hostEventsSince(url: string, token: string, since: string): Promise<EventWire[]> {
  const { events } = await api<{ events: EventWire[] }>(url, token, `/api/v1/events?since=${encodeURIComponent(since)}&order=asc&limit=1000`);
  return events.filter((e) => e.action.startsWith('host.'));
}

/** Hangs `name`, waits for its suspect and failed verdicts (events), resumes it and waits until it is ok again. */
export async function hang(worker: IpcChild<WorkerRequest>, url: string, token: string, name: string, log: (m: string) => void): Promise<HangResult> {
  const before = new Date().toISOString();
  const { at, lastAcceptedSentAt } = await worker.ask<{ at: number; lastAcceptedSentAt: number | null }>({ kind: 'hang', host: name });
  const result: HangResult = { host: name, finalLiveness: 'unknown', othersDisturbed: [], ...(lastAcceptedSentAt !== null ? { lastRenewalBeforeHangMs: at - lastAcceptedSentAt } : {}) };
  const deadline = at + DETECTION_TIMEOUT_MS;
  while (Date.now() < deadline && result.failedMs === undefined) {
    await sleep(200);
    for (const event of await hostEventsSince(url, token, before)) {
      if (event.object.name !== name) continue;
      const ms = Date.parse(event.time) - at;
      if (event.action === 'host.suspect') result.suspectMs ??= ms;
      if (event.action === 'host.failed') result.failedMs ??= ms;
    }
  }
  const status = await api<HaStatus>(url, token, '/api/v1/ha/status');
  result.finalLiveness = status.hosts.find((h) => h.name === name)?.liveness ?? 'missing';
  await worker.ask({ kind: 'resume', host: name });
  // Back to ok: its renewals resume at once.
  for (let i = 0; i < 50; i++) {
    const now = await api<HaStatus>(url, token, '/api/v1/ha/status');
    if (now.hosts.find((h) => h.name === name)?.liveness === 'ok') break;
    await sleep(200);
  }
  result.othersDisturbed = (await hostEventsSince(url, token, before)).filter((e) => e.object.name !== name).map((e) => `${e.object.name} ${e.action} at ${e.time}`);
  log(`ha lease-scale: ${name} hung: suspect after ${result.suspectMs ?? '-'} ms, failed after ${result.failedMs ?? '-'} ms (${result.finalLiveness}); other hosts disturbed: ${result.othersDisturbed.length}`);
  return result;
}

/** Runs the lease-scale measurement; everything it starts is stopped before it returns or throws. */
export async function runLeaseScale(log: (message: string) => void, options: { controllerExecArgv?: string[]; hungHosts?: number[] } = {}): Promise<LeaseScaleResult> {
  const hosts: SimulatedLeaseHost[] = Array.from({ length: LEASE_HOSTS }, (_, i) => ({ name: hostName(i + 1), agentToken: `drva_${randomBytes(24).toString('base64url')}` }));
  const worker = new IpcChild<WorkerRequest>(WORKER, 'simulated hosts');
  // The controller runs with the Node flags the launcher gives a real one (bin/drover).
  const controller = new IpcChild<ControllerRequest>(CONTROLLER, 'controller', [...launcherNodeFlags(), ...(options.controllerExecArgv ?? [])]);
  try {
    const { agentBaseUrl } = await worker.ask<{ agentBaseUrl: string }>({ kind: 'start', hosts });
    const { url, token } = await controller.ask<{ url: string; token: string }>({ kind: 'start', hosts, agentBaseUrl, stepMs: HA_STEP_MS }, 120_000);
    log(`ha lease-scale: controller (pid ${controller.pid}) at ${url} with ${LEASE_HOSTS} simulated hosts; renewing from pid ${worker.pid}`);
    await worker.ask({ kind: 'renew', controllerUrl: url });
    await controller.ask({ kind: 'start-ha' });
    await sleep(WARMUP_MS);
    await worker.ask({ kind: 'stats' });
    const windowStart = new Date().toISOString();
    const cpu0 = (await controller.ask<{ cpu: ControllerCpu }>({ kind: 'cpu' })).cpu;
    await sleep(CPU_WINDOW_MS);
    const cpu1 = (await controller.ask<{ cpu: ControllerCpu }>({ kind: 'cpu' })).cpu;
    const { stats: renewals } = await worker.ask<{ stats: RenewalStats }>({ kind: 'stats' });
    const wallMs = cpu1.at - cpu0.at;
    const percent = (micros: number) => Math.round((micros / 1000 / wallMs) * 1000) / 10;
    const loopActive = cpu1.loopActiveMs - cpu0.loopActiveMs;
    const loopIdle = cpu1.loopIdleMs - cpu0.loopIdleMs;
    const status = await api<HaStatus>(url, token, '/api/v1/ha/status');
    const windowHostEvents = (await hostEventsSince(url, token, windowStart)).map((e) => `${e.object.name} ${e.action} at ${e.time}`);
    const result: LeaseScaleResult = {
      hosts: LEASE_HOSTS,
      windowMs: Math.round(wallMs),
      cpuPercent: percent(cpu1.userMicros - cpu0.userMicros + cpu1.systemMicros - cpu0.systemMicros),
      userPercent: percent(cpu1.userMicros - cpu0.userMicros),
      systemPercent: percent(cpu1.systemMicros - cpu0.systemMicros),
      loopPercent: Math.round((loopActive / (loopActive + loopIdle)) * 1000) / 10,
      renewals,
      livenessAfterWindow: countLiveness(status),
      windowHostEvents,
      hangs: [],
    };
    log(`ha lease-scale: controller CPU ${result.cpuPercent}% of one core over ${(wallMs / 1000).toFixed(1)} s; ${renewals.accepted} renewals accepted (p50 ${renewals.latency.p50} ms, p99 ${renewals.latency.p99} ms); liveness ${JSON.stringify(result.livenessAfterWindow)}`);
    for (const index of options.hungHosts ?? HUNG_HOSTS) result.hangs.push(await hang(worker, url, token, hostName(index), log));
    result.renewalsDuringHangs = (await worker.ask<{ stats: RenewalStats }>({ kind: 'stats' })).stats;
    return result;
  } finally {
    await controller.ask({ kind: 'stop' }, 60_000).catch((err: unknown) => log(`ha lease-scale: stopping the controller: ${String(err)}`));
    await worker.ask({ kind: 'stop' }).catch(() => undefined);
    await controller.close();
    await worker.close();
  }
}

/** The budgets a hung host's verdicts are held to, measured from the hang: a threshold plus the step (and for failed, a slot read) that sees it. */
export function detectionBudgets(): { suspectMs: number; failedMs: number } {
  const t = DEFAULT_HA_TIMINGS;
  return {
    suspectMs: t.suspectAfterMs + HA_STEP_MS,
    failedMs: Math.max(t.leaseExpiryMs, t.storageHeartbeatExpiryMs) + t.storageHeartbeatIntervalMs + 2 * HA_STEP_MS,
  };
}
