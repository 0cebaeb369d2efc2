/**
 * Live migration benchmark: the same 256 MiB tiny guest moved between two QEMUs on this machine, idle and busy,
 * by Drover (two host agents over loopback, shared storage), by hand-run QEMU (the same command line twice, QMP
 * `migrate`), and by libvirt (`virsh migrate --live` between two libvirt daemons in their own network and mount
 * namespaces, migration/libvirt.ts). Each tool's own total time and downtime, plus the end-to-end wall clock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildQemuArgs, runtimePaths, type RuntimePaths } from '../src/drivers/qemu/cmdline.js';
import { isOurQemu, qemuBinary, readPidFile, signalProcess, tailLog } from '../src/drivers/qemu/process.js';
import { setCapabilities } from '../src/migration/qmp.js';
import { QmpClient } from '../src/qmp/client.js';
import { AgentProcess } from './boot/agent-process.js';
import { BOOT_TIMEOUT_MS, GUEST, VariantUnavailable, createOverlay, makeWorkDir, waitForGuestAgent } from './boot/guest.js';
import { droverEquivalentSpec } from './boot/qemu.js';
import { LibvirtPair } from './migration/libvirt.js';
import { BUSY_BOUND_MS, BUSY_LOOP, BUSY_SETUP, DidNotConverge, type Load, type Measured, message, startBusyWorkload } from './migration/shared.js';
import { onInterrupt } from './lib/cleanup.js';
import { stopChild } from './lib/process.js';
import { formatMs } from './lib/report.js';
import { summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';

/** How long Drover's migration may take before the run counts as failed. */
const DROVER_TIMEOUT_MS = 180_000;
/** Drover's downtime may be at most this multiple of hand-run QEMU's (idle guest). */
const DOWNTIME_TARGET = 2;
const FINAL = ['completed', 'failed', 'cancelled', 'unresolved'];

interface MigrationView {
  id: string;
  state: string;
  finishedAt?: string;
  result?: { totalTimeMs: number; downtimeMs: number; setupTimeMs: number; ramTransferredBytes: number; passes: number; postcopy: boolean; maxCpuThrottlePercent: number; handoverMs?: number; pausedMs?: number };
  error?: { code: string; message: string; detail?: string };
}

interface VmView {
  id: string;
  name: string;
  pid?: number;
}

interface ExecView {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** SIGKILLs every QEMU whose pidfile lies under `dataDir/run` and whose command line names its runtime dir. */
function killQemusUnder(dataDir: string): void {
  const runDir = path.join(dataDir, 'run');
  if (!fs.existsSync(runDir)) return;
  for (const id of fs.readdirSync(runDir)) {
    const paths = runtimePaths(runDir, id);
    const pid = readPidFile(paths.pidFile);
    if (pid && isOurQemu(pid, paths.dir)) signalProcess(pid, 'SIGKILL');
  }
}

/** Drover: two host agents with one shared-storage dir; migrate through the source agent's API. */
class DroverPair {
  private agents: AgentProcess[] = [];
  private dirs: string[] = [];
  private releases: Array<() => void> = [];
  private shared = '';

  async start(ctx: BenchmarkContext): Promise<void> {
    this.shared = makeWorkDir('mig-shared');
    this.dirs = [makeWorkDir('mig-a'), makeWorkDir('mig-b')];
    for (const dir of this.dirs) this.releases.push(onInterrupt(() => killQemusUnder(dir)));
    this.agents = await Promise.all(this.dirs.map((dir) => AgentProcess.start(ctx.repoRoot, dir, ['--shared-storage', this.shared])));
    for (const agent of this.agents) {
      const pid = agent.pid;
      this.releases.push(onInterrupt(() => pid && signalProcess(pid, 'SIGKILL')));
    }
  }

  async migrate(run: number, load: Load): Promise<Measured> {
    const [a, b] = this.agents as [AgentProcess, AgentProcess];
    const name = `mig-${load}-${run}`;
    try {
      await a.request<VmView>('POST', '/api/v1/vms', { name, image: 'tiny', memoryMiB: GUEST.memoryMiB, cpus: GUEST.cpus, pool: 'shared' });
      await a.request<VmView>('POST', `/api/v1/vms/${name}/start`, undefined, BOOT_TIMEOUT_MS);
      await a.request<VmView>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: BOOT_TIMEOUT_MS }, BOOT_TIMEOUT_MS + 30_000);
      if (load === 'busy') {
        for (const script of [BUSY_SETUP, BUSY_LOOP]) {
          const res = await a.request<ExecView>('POST', `/api/v1/vms/${name}/exec`, { command: '/bin/sh', args: ['-c', script], timeoutMs: 120_000 }, 150_000);
          if (res.exitCode !== 0) throw new Error(`guest command failed (${res.exitCode}): ${script}: ${res.stderr}`);
        }
        await sleep(2_000);
      }
      // Drover's defaults: auto-converge on, post-copy allowed (after 8 passes), QEMU's default bandwidth and downtime limit.
      const wallStart = Date.now();
      const started = await a.request<MigrationView>('POST', `/api/v1/vms/${name}/migrate`, { destination: { agentUrl: b.baseUrl, token: b.apiToken }, storage: 'shared' });
      const deadline = Date.now() + DROVER_TIMEOUT_MS;
      let view = started;
      while (!FINAL.includes(view.state)) {
        if (Date.now() > deadline) throw new Error(`migration still ${view.state} after ${DROVER_TIMEOUT_MS / 1000} s`);
        await sleep(100);
        view = await a.request<MigrationView>('GET', `/api/v1/migrations/${started.id}`);
      }
      // The operation's own finish time (after the destination confirmed the guest runs), so polling adds no error.
      const wallMs = view.finishedAt ? Date.parse(view.finishedAt) - wallStart : Date.now() - wallStart;
      if (view.state !== 'completed' || !view.result) throw new Error(`migration ${view.state}: ${JSON.stringify(view.error)}`);
      const r = view.result;
      // Seen on this machine: a completed migration whose result has total time 0 (the agent read query-migrate in the moment
      // QEMU says completed but has not stored total-time and downtime yet); not a sample.
      if (r.totalTimeMs <= 0) throw new Error(`migration completed but its result has no QEMU total time: ${JSON.stringify(r)}`);
      return {
        totalMs: r.totalTimeMs,
        downtimeMs: r.downtimeMs,
        wallMs,
        ...(r.pausedMs !== undefined ? { pausedMs: r.pausedMs } : {}),
        detail: `passes ${r.passes}, post-copy ${r.postcopy}, max CPU throttle ${r.maxCpuThrottlePercent}%, ${(r.ramTransferredBytes / 2 ** 20).toFixed(0)} MiB sent, hand-over ${r.handoverMs ?? '?'} ms`,
      };
    } finally {
      for (const agent of [a, b]) {
        await agent.request('POST', `/api/v1/vms/${name}/kill`).catch(() => undefined);
        await agent.request('DELETE', `/api/v1/vms/${name}?force=true`).catch(() => undefined);
      }
      for (const dir of this.dirs) killQemusUnder(dir);
    }
  }

  async close(): Promise<void> {
    for (const agent of this.agents) await agent.stop().catch(() => undefined);
    for (const dir of this.dirs) killQemusUnder(dir);
    for (const release of this.releases) release();
    for (const dir of [...this.dirs, this.shared]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A free TCP port on 127.0.0.1 (bound then released; QEMU binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Hand-run QEMU: the command line Drover builds, started as source and as `-incoming tcp:` destination. */
class RawQemu {
  private workDir = '';
  lastArgs: string[] = [];

  start(): void {
    this.workDir = makeWorkDir('mig-qemu');
  }

  private spawnQemu(args: string[], paths: RuntimePaths): { child: ChildProcess; release: () => void } {
    fs.mkdirSync(paths.dir, { recursive: true });
    const log = fs.openSync(paths.qemuLog, 'w');
    let child: ChildProcess;
    try {
      child = spawn(qemuBinary(), args, { stdio: ['ignore', log, log] });
    } finally {
      fs.closeSync(log);
    }
    const spawned = child;
    spawned.on('error', () => undefined);
    return { child: spawned, release: onInterrupt(() => spawned.kill('SIGKILL')) };
  }

  /** `droverCaps`: set the migration capabilities Drover's agents set (src/migration/outgoing.ts, incoming.ts) instead of QEMU's defaults. */
  async migrate(ctx: BenchmarkContext, run: number, load: Load, droverCaps = false): Promise<Measured> {
    const id = randomUUID();
    const runDir = path.join(this.workDir, `run-${load}-${run}`);
    const src = runtimePaths(path.join(runDir, 'a'), id);
    const dst = runtimePaths(path.join(runDir, 'b'), id);
    fs.mkdirSync(runDir, { recursive: true });
    const disk = path.join(runDir, 'root.qcow2');
    const spec = droverEquivalentSpec(ctx, id, `mig-${load}-${run}`, disk, 'virtio');
    const owned: Array<{ child: ChildProcess; release: () => void }> = [];
    const clients: QmpClient[] = [];
    try {
      await createOverlay(ctx.tiny.disk, disk);
      const args = buildQemuArgs(spec, src, ctx.accelerator.accelerator);
      this.lastArgs = args;
      owned.push(this.spawnQemu(args, src));
      await waitForGuestAgent(src.guestAgent, BOOT_TIMEOUT_MS);
      if (load === 'busy') await startBusyWorkload(src.guestAgent);
      const port = await freePort();
      const wallStart = performance.now();
      owned.push(this.spawnQemu([...buildQemuArgs(spec, dst, ctx.accelerator.accelerator), '-incoming', `tcp:127.0.0.1:${port}`], dst));
      const qmpSrc = await QmpClient.connect(src.qmp, { timeoutMs: 30_000 });
      clients.push(qmpSrc);
      const qmpDst = await QmpClient.connect(dst.qmp, { timeoutMs: 30_000 });
      clients.push(qmpDst);
      if (droverCaps) {
        await setCapabilities(qmpDst, { events: true, 'return-path': true, 'postcopy-ram': true });
        await setCapabilities(qmpSrc, { events: true, 'return-path': true, 'auto-converge': true, 'postcopy-ram': true });
      }
      // Otherwise QEMU's defaults: no capabilities or parameters changed.
      let resumedAt: number | undefined;
      let stoppedStamp: number | undefined;
      let resumedStamp: number | undefined;
      const stamp = (t: { seconds: number; microseconds: number }): number => t.seconds * 1000 + t.microseconds / 1000;
      qmpSrc.on('STOP', (_data, event) => (stoppedStamp ??= stamp(event.timestamp)));
      qmpDst.on('RESUME', (_data, event) => {
        resumedAt ??= performance.now();
        resumedStamp ??= stamp(event.timestamp);
      });
      await qmpSrc.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
      const bound = Date.now() + (load === 'busy' ? BUSY_BOUND_MS : DROVER_TIMEOUT_MS);
      for (;;) {
        let info = await qmpSrc.execute('query-migrate');
        // QEMU 7.2 flips the status to completed a moment before it stores total-time and downtime; until then both read 0.
        for (let i = 0; i < 40 && info.status === 'completed' && !info['total-time']; i++) {
          await sleep(50);
          info = await qmpSrc.execute('query-migrate');
        }
        if (info.status === 'completed') {
          if (!info['total-time']) throw new Error(`QEMU reports the migration completed but no total-time: ${JSON.stringify(info)}`);
          // The source reports completed as soon as it sent the last bytes; wait until the destination runs the guest.
          let status = (await qmpDst.execute('query-status')).status;
          for (let i = 0; i < 200 && status !== 'running'; i++) {
            await sleep(50);
            status = (await qmpDst.execute('query-status')).status;
          }
          if (status !== 'running') throw new Error(`destination QEMU is ${status} 10 s after the migration completed`);
          const ram = info.ram;
          return {
            totalMs: info['total-time'] ?? 0,
            downtimeMs: info.downtime ?? 0,
            wallMs: Math.round((resumedAt ?? performance.now()) - wallStart),
            // QEMU's own event timestamps: the source's STOP to the destination's RESUME.
            ...(stoppedStamp !== undefined && resumedStamp !== undefined ? { pausedMs: Math.round(resumedStamp - stoppedStamp) } : {}),
            detail: `passes ${ram?.['dirty-sync-count'] ?? '?'}, ${((ram?.transferred ?? 0) / 2 ** 20).toFixed(0)} MiB sent`,
          };
        }
        if (info.status === 'failed' || info.status === 'cancelled') throw new Error(`QEMU migration ${info.status}: ${info['error-desc'] ?? ''}`);
        if (Date.now() > bound) {
          const ram = info.ram;
          await qmpSrc.execute('migrate_cancel');
          let after: string | undefined = info.status;
          for (let i = 0; i < 100 && after !== 'cancelled' && after !== 'failed' && after !== 'completed'; i++) {
            await sleep(100);
            after = (await qmpSrc.execute('query-migrate')).status;
          }
          throw new DidNotConverge(
            `did not converge in ${BUSY_BOUND_MS / 1000} s (pass ${ram?.['dirty-sync-count'] ?? '?'}, ${((ram?.transferred ?? 0) / 2 ** 20).toFixed(0)} MiB sent, ${((ram?.['dirty-pages-rate'] ?? 0) * 4096 / 2 ** 20).toFixed(0)} MiB/s dirtied); migrate_cancel → ${after}`,
          );
        }
        await sleep(100);
      }
    } catch (err) {
      if (err instanceof DidNotConverge) throw err;
      throw new Error(`${message(err)} [source log: ${tailLog(src.qemuLog, 3)}] [destination log: ${tailLog(dst.qemuLog, 3)}]`, { cause: err });
    } finally {
      for (const client of clients) await client.close().catch(() => undefined);
      for (const { child, release } of owned) {
        await stopChild(child, 'SIGKILL');
        release();
      }
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  }

  close(): void {
    if (this.workDir) fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

function variant(name: string, label: string): VariantResult {
  return { name, label, status: 'ok', unit: 'ms', samples: [], failures: [] };
}

function finish(result: VariantResult): VariantResult {
  if (result.status === 'ok' && result.samples.length === 0) {
    result.status = 'failed';
    result.reason = result.reason ?? `no counted run succeeded; last: ${result.failures.at(-1) ?? 'none'}`;
  }
  return { ...result, ...summarize(result.samples) };
}

function ratioTarget(description: string, a: VariantResult, b: VariantResult, limit: number): TargetResult {
  if (a.median === undefined || b.median === undefined) {
    const missing = a.median === undefined ? a : b;
    return { description, met: null, detail: `no samples for ${missing.label} (${missing.status}${missing.reason ? `: ${missing.reason}` : ''})` };
  }
  const ratio = b.median === 0 ? (a.median === 0 ? 1 : Infinity) : a.median / b.median;
  return { description, met: ratio <= limit, detail: `${formatMs(a.median)} vs ${formatMs(b.median)}: ${ratio.toFixed(2)}×` };
}

/** One way of migrating under one load, with its three figures. */
interface Case {
  load: Load;
  name: 'drover' | 'qemu' | 'qemu-drover-caps' | 'libvirt';
  run: (index: number) => Promise<Measured>;
  total: VariantResult;
  downtime: VariantResult;
  wall: VariantResult;
  paused: VariantResult;
  /** Counted runs that ended in DidNotConverge. */
  notConverged: number;
}

function figures(c: Case): VariantResult[] {
  return [c.total, c.downtime, c.wall, c.paused];
}

function makeCase(load: Load, name: Case['name'], label: string, run: Case['run']): Case {
  const prefix = `${load === 'idle' ? 'Idle' : 'Busy'}: ${label}`;
  const id = `${load}-${name}`;
  return {
    load,
    name,
    run,
    total: variant(`${id}-total`, `${prefix}, total time`),
    downtime: variant(`${id}-downtime`, `${prefix}, downtime`),
    wall: variant(`${id}-wall`, `${prefix}, end to end (wall clock)`),
    paused: variant(`${id}-paused`, `${prefix}, guest paused (source pause to destination running)`),
    notConverged: 0,
  };
}

/** A busy case that never converged in any counted run has that as its measured outcome, not a failure. */
function markNotConverged(c: Case, runs: number, how: string): void {
  if (c.notConverged === 0 || c.total.samples.length > 0) return;
  for (const x of figures(c)) {
    x.status = 'no-figure';
    x.reason = `did not converge in ${BUSY_BOUND_MS / 1000} s in ${c.notConverged} of ${runs} runs (cancelled with ${how})`;
  }
}

function convergeTarget(description: string, c: Case, runs: number): TargetResult {
  const converged = c.total.samples.length;
  return {
    description,
    met: converged + c.notConverged === 0 ? null : c.notConverged === 0 && converged === runs,
    detail: `${converged} of ${runs} counted runs converged; ${c.notConverged} did not`,
  };
}

async function runCases(ctx: BenchmarkContext, cases: Case[], details: string[]): Promise<void> {
  const total = ctx.warmupRuns + ctx.runs;
  // Idle runs interleaved (Drover 1, QEMU 1, ..., libvirt 1, Drover 2, ...), then busy runs interleaved.
  for (const load of ['idle', 'busy'] as const) {
    for (let index = 0; index < total; index++) {
      const counted = index >= ctx.warmupRuns;
      const label = counted ? `run ${index - ctx.warmupRuns + 1}/${ctx.runs}` : `warm-up ${index + 1}/${ctx.warmupRuns}`;
      for (const c of cases.filter((x) => x.load === load)) {
        try {
          const m = await c.run(index);
          if (counted) {
            c.total.samples.push(m.totalMs);
            c.downtime.samples.push(m.downtimeMs);
            c.wall.samples.push(m.wallMs);
            if (m.pausedMs !== undefined) c.paused.samples.push(m.pausedMs);
            else c.paused.failures.push(`${label}: the pause was not measured`);
            details.push(`${load} ${c.name} ${label}: total ${m.totalMs} ms, downtime ${m.downtimeMs} ms, end to end ${m.wallMs} ms, paused ${m.pausedMs ?? '?'} ms; ${m.detail}`);
          }
          ctx.log(`migration ${load} ${c.name} ${label}: total ${formatMs(m.totalMs)}, downtime ${formatMs(m.downtimeMs)}, end to end ${formatMs(m.wallMs)}, paused ${formatMs(m.pausedMs)} (${m.detail})`);
        } catch (err) {
          const text = `${label}: ${message(err)}`;
          if (err instanceof DidNotConverge && counted) c.notConverged++;
          if (counted) for (const x of figures(c)) x.failures.push(text);
          ctx.log(`migration ${load} ${c.name} ${label}: ${message(err)}`);
        }
      }
    }
  }
}

/** The migration benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'migration',
  title: 'Live migration: total time and downtime, idle and busy guest',
  description:
    "The tiny guest (256 MiB, 1 vCPU) live-migrated with shared storage: Drover's host agent API between two agents, the same QEMU command line migrated by hand over QMP, and libvirt's `virsh migrate --live` between two libvirt daemons in their own network and mount namespaces. Total time and downtime as each tool reports them, and the end-to-end wall clock.",
  async run(ctx) {
    const details: string[] = [];
    const drover = new DroverPair();
    const qemu = new RawQemu();
    const libvirt = new LibvirtPair(ctx);
    const busyBound = `defaults, bounded at ${BUSY_BOUND_MS / 1000} s`;
    const cases = {
      idleDrover: makeCase('idle', 'drover', 'Drover', (i) => drover.migrate(i, 'idle')),
      idleQemu: makeCase('idle', 'qemu', 'hand-run QEMU', (i) => qemu.migrate(ctx, i, 'idle')),
      idleCaps: makeCase('idle', 'qemu-drover-caps', "hand-run QEMU with Drover's capabilities", (i) => qemu.migrate(ctx, i, 'idle', true)),
      idleLibvirt: makeCase('idle', 'libvirt', 'libvirt (virsh migrate --live)', (i) => libvirt.migrate(i, 'idle')),
      busyDrover: makeCase('busy', 'drover', 'Drover (auto-converge, then post-copy)', (i) => drover.migrate(i, 'busy')),
      busyQemu: makeCase('busy', 'qemu', `hand-run QEMU (${busyBound})`, (i) => qemu.migrate(ctx, i, 'busy')),
      busyLibvirt: makeCase('busy', 'libvirt', `libvirt (${busyBound})`, (i) => libvirt.migrate(i, 'busy')),
    };
    const all = Object.values(cases);
    const selected = process.env.BENCH_MIGRATION_CASES?.split(',').map((x) => x.trim()).filter(Boolean);
    const isSelected = (c: Case): boolean => !selected?.length || selected.includes(`${c.load}-${c.name}`);
    let setupError: string | undefined;
    let libvirtUnavailable: string | undefined;
    try {
      qemu.start();
      await drover.start(ctx);
    } catch (err) {
      setupError = message(err);
      ctx.log(`migration: setup failed: ${setupError}`);
    }
    try {
      if (!setupError && all.some((c) => c.name === 'libvirt' && isSelected(c))) await libvirt.start();
    } catch (err) {
      // libvirt is a comparison, not what is measured: without it the rest still runs.
      libvirtUnavailable = err instanceof VariantUnavailable ? message(err) : `the two libvirt daemons could not be set up: ${message(err)}`;
      ctx.log(`migration: libvirt unavailable: ${libvirtUnavailable}`);
    }
    const active = all.filter((c) => isSelected(c) && (c.name !== 'libvirt' || libvirtUnavailable === undefined));
    try {
      if (!setupError) await runCases(ctx, active, details);
    } finally {
      await drover.close().catch((err: unknown) => ctx.log(`migration: Drover cleanup failed: ${message(err)}`));
      await libvirt.close().catch((err: unknown) => ctx.log(`migration: libvirt cleanup failed: ${message(err)}`));
      qemu.close();
    }
    for (const c of all) {
      for (const x of figures(c)) {
        if (setupError) {
          x.status = 'failed';
          x.reason = `setup failed: ${setupError}`;
        } else if (!isSelected(c)) {
          x.status = 'unavailable';
          x.reason = 'not selected (BENCH_MIGRATION_CASES)';
        } else if (c.name === 'libvirt' && libvirtUnavailable !== undefined) {
          x.status = 'unavailable';
          x.reason = libvirtUnavailable;
        }
      }
    }
    markNotConverged(cases.busyQemu, ctx.runs, 'migrate_cancel');
    markNotConverged(cases.busyLibvirt, ctx.runs, 'virsh domjobabort');
    for (const c of all) for (const x of figures(c)) Object.assign(x, finish(x));
    const targets: TargetResult[] = [
      ratioTarget(`Idle: Drover's median downtime within ${DOWNTIME_TARGET}× of hand-run QEMU's`, cases.idleDrover.downtime, cases.idleQemu.downtime, DOWNTIME_TARGET),
      ratioTarget(
        `Idle, like for like (reported, not the target above): Drover's median guest pause within ${DOWNTIME_TARGET}× of hand-run QEMU's (source pause to destination running)`,
        cases.idleDrover.paused,
        cases.idleQemu.paused,
        DOWNTIME_TARGET,
      ),
      ratioTarget("Idle: Drover's median total time no worse than libvirt's (QEMU's total-time vs libvirt's job time elapsed)", cases.idleDrover.total, cases.idleLibvirt.total, 1),
      ratioTarget("Idle: Drover's median end-to-end time no worse than libvirt's (migrate request to guest running on the destination)", cases.idleDrover.wall, cases.idleLibvirt.wall, 1),
      convergeTarget('Busy: Drover finishes every counted run', cases.busyDrover, ctx.runs),
      convergeTarget(`Busy: hand-run QEMU with default settings converges within ${BUSY_BOUND_MS / 1000} s (reported, not a Drover goal)`, cases.busyQemu, ctx.runs),
      convergeTarget(`Busy: libvirt with default settings converges within ${BUSY_BOUND_MS / 1000} s (reported, not a Drover goal)`, cases.busyLibvirt, ctx.runs),
    ];
    return {
      runs: ctx.runs,
      warmupRuns: ctx.warmupRuns,
      variants: all.flatMap(figures),
      targets,
      procedure: `${ctx.runs} counted run(s) per variant after ${ctx.warmupRuns} warm-up run(s); idle runs interleaved (Drover, QEMU, QEMU with Drover's capabilities, libvirt), then busy runs interleaved (Drover, QEMU, libvirt). Every run boots a fresh guest (not timed) and migrates it once.`,
      ownLoad: 'two QEMUs (source and destination) run during each migration (plus two idle libvirt daemons); the busy guest keeps its vCPU fully loaded',
      notes: [
        `Guest: the tiny image, ${GUEST.memoryMiB} MiB, ${GUEST.cpus} vCPU, qemu64 CPU, TCG, on a qcow2 overlay in a directory both sides open (shared storage). Drover and hand-run QEMU migrate over TCP on 127.0.0.1; libvirt between two network namespaces on a bridge (veth), all on this machine.`,
        "Total time and downtime are each tool's own figures: QEMU's query-migrate `total-time` and `downtime` on the source for Drover and hand-run QEMU; libvirt's `virsh domjobinfo --completed` on the destination (\"Time elapsed\", \"Total downtime\") for libvirt. They are not measured the same way: QEMU's total-time starts at the `migrate` command (the destination QEMU already runs) and its downtime ends when the source has sent the last bytes; libvirt's time elapsed starts when its migration job begins (before it starts the destination QEMU) and its downtime runs from pausing the guest on the source until libvirt resumed it on the destination, so it includes libvirt's finish phase. The end-to-end wall clock is the one figure taken alike for all three.",
        "End to end: from asking for the migration, with no destination QEMU running yet, until the guest runs on the destination. Drover: from `POST /migrate` to the operation's finishedAt (after the destination confirmed the guest runs). Hand-run QEMU: from spawning the destination QEMU to its RESUME event. libvirt: the wall clock of `virsh migrate` (it returns after the destination resumed the guest).",
        'Drover: two `drover agent --shared-storage DIR` processes; VM created with pool "shared", started and guest-ready (not timed), then `POST /api/v1/vms/:name/migrate {storage: "shared"}` with Drover\'s defaults (auto-converge on, post-copy after 8 passes, QEMU\'s default bandwidth and 300 ms downtime limit); figures from `GET /api/v1/migrations/:id`. Its result also has a hand-over time (destination confirming the guest runs, listed per run below), which is not in QEMU\'s downtime figure; QEMU downtime + hand-over is the nearest to what libvirt calls downtime.',
        `Hand-run QEMU: buildQemuArgs() for the same spec started twice, the second with \`-incoming tcp:127.0.0.1:PORT\`; QMP \`migrate\` with no capability or parameter changed, polled with query-migrate; the busy case is cancelled with migrate_cancel after ${BUSY_BOUND_MS / 1000} s.`,
        "Guest paused: Drover's `pausedMs` runs from the source QEMU's STOP event to the destination agent's answer that the guest runs (after its `cont`), so it is an upper bound; it is QEMU's downtime plus the hand-over. Drover's QEMU downtime is longer than plain QEMU's mainly because of the return path (on because post-copy needs it): QEMU completes only once the destination has loaded the device state and said so, which is also what lets the source know the state arrived whole. The destination is started with -S and runs the guest only when the source agent's finish call says so, so that a migration that fails at the last moment never runs the guest twice. Hand-run QEMU: the source's STOP event to the destination's RESUME event (QEMU's timestamps; the destination starts the guest by itself). libvirt: its downtime.",
        "Hand-run QEMU with Drover's capabilities (idle only, to tell the agent's overhead from QEMU's): the same, but with the migration capabilities Drover sets (source: events, return-path, auto-converge, postcopy-ram; destination: events, return-path, postcopy-ram); parameters at QEMU's defaults, which are the values Drover sets.",
        `libvirt: two \`libvirtd --listen\` (libvirt ${ctx.libvirt.available ? ctx.libvirt.version : 'unavailable'}), each in its own network namespace with its own address on a bridge the benchmark creates (like a testbed host) and its own mount namespace with private /run/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and /etc/libvirt (bind mounts of temp dirs) and its own virtlogd; libvirtd.conf: listen_tcp = 1, auth_tcp = "none", its own host_uuid; qemu.conf: the host's (QEMU as root) plus migration_host = its own address. The domain is the boot benchmark's (bench/boot/domain-xml.ts: same kernel, initrd, disk overlay, ${GUEST.memoryMiB} MiB, qemu64, TCG), created with \`virsh create\` and guest-ready (not timed); then \`virsh -c qemu+tcp://SRC/system migrate --live --unsafe --verbose NAME qemu+tcp://DST/system\`. --unsafe only skips libvirt's check that the disk sits on a cluster filesystem or uses cache=none; no bandwidth, downtime, auto-converge or post-copy option is given, so these are libvirt's defaults. The busy case is aborted with \`virsh domjobabort\` after ${BUSY_BOUND_MS / 1000} s (\`virsh migrate --timeout\` would instead suspend the guest and finish offline).`,
        `Busy guest: \`${BUSY_SETUP}\`, then \`${BUSY_LOOP}\` (the workload of tests/system/migration.test.ts), 2 s before the migration starts.`,
        ...(libvirtUnavailable ? [`libvirt: unavailable: ${libvirtUnavailable}.`] : []),
        ...details,
        ...(qemu.lastArgs.length ? [`Hand-run QEMU arguments (last run, source): ${qemu.lastArgs.join(' ')}`] : []),
        ...(libvirt.lastXml ? [`libvirt domain XML (last run): ${libvirt.lastXml.replace(/\s*\n\s*/g, ' ').trim()}`] : []),
      ],
    };
  },
};
