/**
 * One engine's scale run: a controller (scale/controller.ts) in its own process with N simulated hosts and M VMs in its
 * store, the HA benchmark's simulated hosts (ha/lease-worker.ts) renewing every host's lease once a second from another
 * process, HA stepping every 500 ms. Measured from this process over loopback: the controller's CPU while every host
 * renews, GET /api/v1/vms pages and GET /api/v1/vms/:name one at a time, VM creates accepted per second, and how fast a
 * host that stops renewing is found suspect and failed.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HaStatus } from '../../src/controller/ha/service.js';
import { IpcChild } from '../ha/child.js';
import type { ControllerCpu, RenewalStats, SimulatedLeaseHost, WorkerRequest } from '../ha/lease-protocol.js';
import { HA_STEP_MS, hang, type HangResult } from '../ha/lease-scale.js';
import { launcherNodeFlags } from '../lib/launcher.js';
import { median } from '../lib/stats.js';
import type { ScaleControllerRequest, ScaleControllerStarted } from './protocol.js';

const CONTROLLER = new URL(`./controller${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
const WORKER = new URL(`../ha/lease-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** Renewals before the counted CPU window, so that connections and the JIT are warm. */
const WARMUP_MS = 5_000;
/** CPU windows measured one after another; the CPU figure is their median. */
export const CPU_WINDOWS = 3;
/** Requests of each kind sent and not measured before the page and single-VM samples. */
export const READ_WARMUP_REQUESTS = 10;
/** Requests per page size asked for. */
export const PAGE_LIMIT = 500;

export interface ScaleOptions {
  hosts: number;
  vms: number;
  /** The CPU window, ms. */
  windowMs: number;
  pageSamples: number;
  getSamples: number;
  /** How long creates are sent, ms. */
  createMs: number;
}

/** What one engine's run measured. */
export interface EngineRun {
  engine: 'sqlite' | 'postgresql';
  hosts: number;
  vms: number;
  seedMs: number;
  /** The CPU windows' whole span, ms; user, system and loop figures are over it. */
  windowMs: number;
  /** Controller CPU (user + system), as a percentage of one core: the median of the windows'. */
  cpuPercent: number;
  /** Each window's CPU, in order. */
  cpuWindows: number[];
  userPercent: number;
  systemPercent: number;
  loopPercent: number;
  renewals: RenewalStats;
  livenessAfterWindow: Record<string, number>;
  /** GET /api/v1/vms?limit=500, walking the pages with `after` and starting over at the end (ms). */
  pageMs: number[];
  pagesWalked: number;
  /** GET /api/v1/vms/:name of random VMs (ms). */
  getMs: number[];
  /** POST /api/v1/vms one at a time: answers by status, and the time of each 202. */
  creates: { seconds: number; byStatus: Record<string, number>; acceptedMs: number[]; sampleErrors: string[] };
  hangs: HangResult[];
  /** Renewals from the end of the CPU window to the end (API samples, creates, hangs). */
  renewalsAfterWindow?: RenewalStats;
  /** Times the controller lost its own leader lease (a renewal too late); HA was started again each time it led again. */
  leadershipLosses: { inWindow: number; total: number };
}

/** `micros` of CPU over `wallMs` as a percentage of one core, to a tenth. */
function percentOfCore(micros: number, wallMs: number): number {
  return Math.round((micros / 1000 / wallMs) * 1000) / 10;
}

function hostName(index: number): string {
  return `sim-host-${String(index).padStart(4, '0')}`;
}

/** A keep-alive client that times each request from sending to the last byte of the answer. */
class TimedClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ ms: number; status: number; text: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(
        new URL(path, this.base),
        {
          method,
          agent: this.agent,
          timeout: 60_000,
          headers: { authorization: `Bearer ${this.token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

async function samplePages(client: TimedClient, count: number): Promise<{ ms: number[]; walked: number }> {
  const ms: number[] = [];
  let after: string | null = null;
  let walked = 0;
  for (let i = 0; i < count; i++) {
    const path: string = `/api/v1/vms?limit=${PAGE_LIMIT}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const answer = await client.request('GET', path);
    if (answer.status !== 200) throw new Error(`GET ${path}: HTTP ${answer.status}: ${answer.text.slice(0, 300)}`);
    ms.push(answer.ms);
    after = (JSON.parse(answer.text) as { next: string | null }).next;
    walked++;
  }
  return { ms, walked };
}

async function sampleGets(client: TimedClient, names: string[], count: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = names[Math.floor(Math.random() * names.length)] as string; // index below length
    const answer = await client.request('GET', `/api/v1/vms/${name}`);
    if (answer.status !== 200) throw new Error(`GET /api/v1/vms/${name}: HTTP ${answer.status}: ${answer.text.slice(0, 300)}`);
    ms.push(answer.ms);
  }
  return ms;
}

/** Creates one VM after another for `durationMs`; each is placed by the scheduler and its operation recorded (202). */
async function sendCreates(client: TimedClient, durationMs: number, tag: string): Promise<EngineRun['creates']> {
  const byStatus: Record<string, number> = {};
  const acceptedMs: number[] = [];
  const sampleErrors: string[] = [];
  const started = performance.now();
  for (let i = 1; performance.now() - started < durationMs; i++) {
    const answer = await client.request('POST', '/api/v1/vms', { name: `scale-${tag}-${i}`, image: 'tiny', cpus: 1, memoryMiB: 256 });
    byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
    if (answer.status === 202) acceptedMs.push(answer.ms);
    else if (sampleErrors.length < 3) sampleErrors.push(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`);
  }
  return { seconds: (performance.now() - started) / 1000, byStatus, acceptedMs, sampleErrors };
}

function countLiveness(status: HaStatus): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const host of status.hosts) counts[host.liveness] = (counts[host.liveness] ?? 0) + 1;
  return counts;
}

/** Runs one engine; everything it starts is stopped before it returns or throws. */
export async function runEngine(engine: EngineRun['engine'], storeUrl: string, options: ScaleOptions, log: (message: string) => void): Promise<EngineRun> {
  const hosts: SimulatedLeaseHost[] = Array.from({ length: options.hosts }, (_, i) => ({ name: hostName(i + 1), agentToken: `drva_${randomBytes(24).toString('base64url')}` }));
  const worker = new IpcChild<WorkerRequest>(WORKER, 'simulated hosts');
  // BENCH_SCALE_PROFILE=DIR writes a CPU profile of each controller process there (node --cpu-prof), to see where its time goes.
  const profile = process.env.BENCH_SCALE_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_SCALE_PROFILE}`] : [];
  // The controller runs with the Node flags the launcher gives a real one (bin/drover).
  const controller = new IpcChild<ScaleControllerRequest>(CONTROLLER, 'controller', [...launcherNodeFlags(), ...profile]);
  let client: TimedClient | undefined;
  try {
    const { agentBaseUrl } = await worker.ask<{ agentBaseUrl: string }>({ kind: 'start', hosts });
    const started = await controller.ask<ScaleControllerStarted>({ kind: 'start', store: storeUrl, hosts, vms: options.vms, agentBaseUrl }, 600_000);
    const { url, token } = started;
    client = new TimedClient(url, token);
    log(`scale ${engine}: controller (pid ${controller.pid}) at ${url}; ${options.hosts} hosts and ${options.vms} VMs written in ${started.seedMs} ms; renewing from pid ${worker.pid}`);
    await worker.ask({ kind: 'renew', controllerUrl: url });
    await controller.ask({ kind: 'start-ha', stepMs: HA_STEP_MS });
    await sleep(WARMUP_MS);
    await worker.ask({ kind: 'stats' });
    const { cpu: cpu0, leadershipLosses: lossesBefore } = await controller.ask<{ cpu: ControllerCpu; leadershipLosses: number }>({ kind: 'cpu' });
    // Several windows one after another: on a shared 2-core machine one window's CPU varies by a few points from the next.
    const windowPercents: number[] = [];
    let last = cpu0;
    for (let i = 0; i < CPU_WINDOWS; i++) {
      await sleep(options.windowMs);
      const { cpu: now } = await controller.ask<{ cpu: ControllerCpu }>({ kind: 'cpu' });
      windowPercents.push(percentOfCore(now.userMicros - last.userMicros + now.systemMicros - last.systemMicros, now.at - last.at));
      last = now;
    }
    const cpu1 = last;
    const { leadershipLosses: lossesAfter } = await controller.ask<{ leadershipLosses: number }>({ kind: 'cpu' });
    const { stats: renewals } = await worker.ask<{ stats: RenewalStats }>({ kind: 'stats' });
    const wallMs = cpu1.at - cpu0.at;
    const percent = (micros: number) => percentOfCore(micros, wallMs);
    const loopActive = cpu1.loopActiveMs - cpu0.loopActiveMs;
    const loopIdle = cpu1.loopIdleMs - cpu0.loopIdleMs;
    const status = JSON.parse((await client.request('GET', '/api/v1/ha/status')).text) as HaStatus;
    const cpuPercent = median(windowPercents) ?? 0; // CPU_WINDOWS > 0
    log(`scale ${engine}: controller CPU ${cpuPercent}% of one core (median of ${windowPercents.join(', ')}% over ${CPU_WINDOWS} windows of ${(options.windowMs / 1000).toFixed(0)} s); ${renewals.accepted} of ${renewals.sent} renewals accepted (p99 ${renewals.latency.p99} ms); liveness ${JSON.stringify(countLiveness(status))}`);

    // Unmeasured first requests, as in every other benchmark's warm-up runs: the first answers of a route run before V8 has compiled its serializer.
    await samplePages(client, READ_WARMUP_REQUESTS);
    await sampleGets(client, started.vmNames, READ_WARMUP_REQUESTS);
    const pages = await samplePages(client, options.pageSamples);
    const getMs = await sampleGets(client, started.vmNames, options.getSamples);
    log(`scale ${engine}: ${pages.ms.length} pages and ${getMs.length} single VMs read`);
    const creates = await sendCreates(client, options.createMs, engine);
    log(`scale ${engine}: creates answered ${JSON.stringify(creates.byStatus)} in ${creates.seconds.toFixed(1)} s`);
    // Let the creates' operations end (they fail at the simulated agent and roll back) before the hangs.
    await sleep(3_000);
    const hangs: HangResult[] = [];
    for (const index of [1, Math.max(1, Math.ceil(options.hosts / 2))]) hangs.push(await hang(worker, url, token, hostName(index), (m) => log(m.replace('ha lease-scale', `scale ${engine}`))));
    const renewalsAfterWindow = (await worker.ask<{ stats: RenewalStats }>({ kind: 'stats' })).stats;
    const { leadershipLosses } = await controller.ask<{ leadershipLosses: number }>({ kind: 'cpu' });
    return {
      engine,
      hosts: options.hosts,
      vms: options.vms,
      seedMs: started.seedMs,
      windowMs: Math.round(wallMs),
      cpuPercent,
      cpuWindows: windowPercents,
      userPercent: percent(cpu1.userMicros - cpu0.userMicros),
      systemPercent: percent(cpu1.systemMicros - cpu0.systemMicros),
      loopPercent: Math.round((loopActive / (loopActive + loopIdle)) * 1000) / 10,
      renewals,
      livenessAfterWindow: countLiveness(status),
      pageMs: pages.ms,
      pagesWalked: pages.walked,
      getMs,
      creates,
      hangs,
      renewalsAfterWindow,
      leadershipLosses: { inWindow: lossesAfter - lossesBefore, total: leadershipLosses },
    };
  } finally {
    client?.close();
    await controller.ask({ kind: 'stop' }, 60_000).catch((err: unknown) => log(`scale ${engine}: stopping the controller: ${String(err)}`));
    await worker.ask({ kind: 'stop' }).catch(() => undefined);
    await controller.close();
    await worker.close();
  }
}
