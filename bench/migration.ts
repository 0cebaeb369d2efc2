/**
 * Live migration benchmark: the same 256 MiB tiny guest moved between two QEMUs on this machine, idle and busy,
 * by Drover (two host agents over loopback, shared storage), by hand-run QEMU (the same command line twice, QMP
 * `migrate`), and by libvirt when a second libvirt daemon is available. QEMU's own `total-time` and `downtime`
 * from query-migrate are reported for every variant, so the figures compare like for like.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildQemuArgs, runtimePaths, type RuntimePaths } from '../src/drivers/qemu/cmdline.js';
import { isOurQemu, qemuBinary, readPidFile, signalProcess, tailLog } from '../src/drivers/qemu/process.js';
import { GuestAgentClient } from '../src/guest-agent/client.js';
import { setCapabilities } from '../src/migration/qmp.js';
import { QmpClient } from '../src/qmp/client.js';
import { AgentProcess } from './boot/agent-process.js';
import { BOOT_TIMEOUT_MS, GUEST, createOverlay, makeWorkDir, waitForGuestAgent } from './boot/guest.js';
import { droverEquivalentSpec } from './boot/qemu.js';
import { onInterrupt } from './lib/cleanup.js';
import { stopChild } from './lib/process.js';
import { formatMs } from './lib/report.js';
import { summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';

/** Raw QEMU with default settings gets this long to converge on the busy guest before it is cancelled. */
const RAW_BUSY_BOUND_MS = 60_000;
/** How long Drover's migration may take before the run counts as failed. */
const DROVER_TIMEOUT_MS = 180_000;
/** Drover's downtime may be at most this multiple of hand-run QEMU's (idle guest). */
const DOWNTIME_TARGET = 2;
/** The busy workload from tests/system/migration.test.ts: 48 MiB of random bytes rewritten into the same pages in a loop. */
const BUSY_SETUP = 'dd if=/dev/urandom of=/dev/shm/random bs=1M count=48 2>/dev/null';
const BUSY_LOOP = "sh -c 'while :; do dd if=/dev/shm/random of=/dev/shm/x bs=1M conv=notrunc 2>/dev/null; done' </dev/null >/dev/null 2>&1 &";
const FINAL = ['completed', 'failed', 'cancelled', 'unresolved'];

type Load = 'idle' | 'busy';

/** One migration's figures, in QEMU's own terms. */
interface Measured {
  totalMs: number;
  downtimeMs: number;
  detail: string;
}

/** A run that ended without a figure on purpose (raw QEMU did not converge within the bound and was cancelled). */
class DidNotConverge extends Error {}

interface MigrationView {
  id: string;
  state: string;
  result?: { totalTimeMs: number; downtimeMs: number; setupTimeMs: number; ramTransferredBytes: number; passes: number; postcopy: boolean; maxCpuThrottlePercent: number; handoverMs?: number };
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

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
      const started = await a.request<MigrationView>('POST', `/api/v1/vms/${name}/migrate`, { destination: { agentUrl: b.baseUrl, token: b.apiToken }, storage: 'shared' });
      const deadline = Date.now() + DROVER_TIMEOUT_MS;
      let view = started;
      while (!FINAL.includes(view.state)) {
        if (Date.now() > deadline) throw new Error(`migration still ${view.state} after ${DROVER_TIMEOUT_MS / 1000} s`);
        await sleep(100);
        view = await a.request<MigrationView>('GET', `/api/v1/migrations/${started.id}`);
      }
      if (view.state !== 'completed' || !view.result) throw new Error(`migration ${view.state}: ${JSON.stringify(view.error)}`);
      const r = view.result;
      // Seen on this machine: a completed migration whose result has total time 0 (the agent read query-migrate in the moment
      // QEMU says completed but has not stored total-time and downtime yet); not a sample.
      if (r.totalTimeMs <= 0) throw new Error(`migration completed but its result has no QEMU total time: ${JSON.stringify(r)}`);
      return {
        totalMs: r.totalTimeMs,
        downtimeMs: r.downtimeMs,
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
    const spec = droverEquivalentSpec(ctx, id, `mig-${load}-${run}`, disk);
    const owned: Array<{ child: ChildProcess; release: () => void }> = [];
    const clients: QmpClient[] = [];
    try {
      await createOverlay(ctx.tiny.disk, disk);
      const args = buildQemuArgs(spec, src, ctx.accelerator.accelerator);
      this.lastArgs = args;
      owned.push(this.spawnQemu(args, src));
      await waitForGuestAgent(src.guestAgent, BOOT_TIMEOUT_MS);
      if (load === 'busy') {
        const ga = await GuestAgentClient.connect(src.guestAgent, { timeoutMs: 30_000 });
        try {
          for (const script of [BUSY_SETUP, BUSY_LOOP]) {
            const res = await ga.exec('/bin/sh', ['-c', script], { timeoutMs: 120_000 });
            if (res.exitCode !== 0) throw new Error(`guest command failed (${res.exitCode}): ${script}: ${res.stderr}`);
          }
        } finally {
          ga.close();
        }
        await sleep(2_000);
      }
      const port = await freePort();
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
      await qmpSrc.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
      const bound = Date.now() + (load === 'busy' ? RAW_BUSY_BOUND_MS : DROVER_TIMEOUT_MS);
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
            `did not converge in ${RAW_BUSY_BOUND_MS / 1000} s (pass ${ram?.['dirty-sync-count'] ?? '?'}, ${((ram?.transferred ?? 0) / 2 ** 20).toFixed(0)} MiB sent, ${((ram?.['dirty-pages-rate'] ?? 0) * 4096 / 2 ** 20).toFixed(0)} MiB/s dirtied); migrate_cancel → ${after}`,
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

/** Why libvirt's `virsh migrate --live` is not measured here. */
function libvirtReason(ctx: BenchmarkContext): string {
  if (!ctx.libvirt.available) return ctx.libvirt.reason;
  return (
    '`virsh migrate --live` needs a second libvirt daemon as destination; this machine runs one privileged libvirtd, and a second one would ' +
    'share its /run/libvirt/qemu and /var/lib/libvirt/qemu state dirs and its host UUID (libvirt refuses to migrate a domain to a host with ' +
    "the source's UUID); an isolated second daemon (own config, socket and state dirs, own host_uuid) was not set up and verified within this benchmark's time box"
  );
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

/** The migration benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'migration',
  title: 'Live migration: total time and downtime, idle and busy guest',
  description:
    "The tiny guest (256 MiB, 1 vCPU) live-migrated on this machine over loopback with shared storage: Drover's host agent API between two agents, the same QEMU command line migrated by hand over QMP, and libvirt when it can run a second daemon. Figures are QEMU's own total-time and downtime.",
  async run(ctx) {
    const v = {
      idleDroverTotal: variant('idle-drover-total', 'Idle: Drover total time'),
      idleDroverDown: variant('idle-drover-downtime', 'Idle: Drover downtime'),
      idleQemuTotal: variant('idle-qemu-total', 'Idle: hand-run QEMU total time'),
      idleQemuDown: variant('idle-qemu-downtime', 'Idle: hand-run QEMU downtime'),
      idleCapsTotal: variant('idle-qemu-caps-total', "Idle: hand-run QEMU with Drover's capabilities, total time"),
      idleCapsDown: variant('idle-qemu-caps-downtime', "Idle: hand-run QEMU with Drover's capabilities, downtime"),
      idleLibvirtTotal: variant('idle-libvirt-total', 'Idle: libvirt (virsh migrate --live) total time'),
      idleLibvirtDown: variant('idle-libvirt-downtime', 'Idle: libvirt (virsh migrate --live) downtime'),
      busyDroverTotal: variant('busy-drover-total', 'Busy: Drover total time (auto-converge, then post-copy)'),
      busyDroverDown: variant('busy-drover-downtime', 'Busy: Drover downtime'),
      busyQemuTotal: variant('busy-qemu-total', `Busy: hand-run QEMU total time (defaults, bounded at ${RAW_BUSY_BOUND_MS / 1000} s)`),
      busyQemuDown: variant('busy-qemu-downtime', 'Busy: hand-run QEMU downtime'),
    };
    for (const lv of [v.idleLibvirtTotal, v.idleLibvirtDown]) {
      lv.status = 'unavailable';
      lv.reason = libvirtReason(ctx);
    }
    const details: string[] = [];
    const drover = new DroverPair();
    const qemu = new RawQemu();
    let setupError: string | undefined;
    try {
      qemu.start();
      await drover.start(ctx);
    } catch (err) {
      setupError = message(err);
      ctx.log(`migration: setup failed: ${setupError}`);
    }
    const total = ctx.warmupRuns + ctx.runs;
    const cases: Array<{ load: Load; name: string; run: (i: number) => Promise<Measured>; totalV: VariantResult; downV: VariantResult }> = [
      { load: 'idle', name: 'drover', run: (i) => drover.migrate(i, 'idle'), totalV: v.idleDroverTotal, downV: v.idleDroverDown },
      { load: 'idle', name: 'qemu', run: (i) => qemu.migrate(ctx, i, 'idle'), totalV: v.idleQemuTotal, downV: v.idleQemuDown },
      { load: 'idle', name: 'qemu-drover-caps', run: (i) => qemu.migrate(ctx, i, 'idle', true), totalV: v.idleCapsTotal, downV: v.idleCapsDown },
      { load: 'busy', name: 'drover', run: (i) => drover.migrate(i, 'busy'), totalV: v.busyDroverTotal, downV: v.busyDroverDown },
      { load: 'busy', name: 'qemu', run: (i) => qemu.migrate(ctx, i, 'busy'), totalV: v.busyQemuTotal, downV: v.busyQemuDown },
    ];
    let notConverged = 0;
    try {
      if (!setupError) {
        // Idle runs interleaved (Drover 1, QEMU 1, Drover 2, ...), then busy runs interleaved.
        for (const load of ['idle', 'busy'] as const) {
          for (let index = 0; index < total; index++) {
            const counted = index >= ctx.warmupRuns;
            const label = counted ? `run ${index - ctx.warmupRuns + 1}/${ctx.runs}` : `warm-up ${index + 1}/${ctx.warmupRuns}`;
            for (const c of cases.filter((x) => x.load === load)) {
              try {
                const m = await c.run(index);
                if (counted) {
                  c.totalV.samples.push(m.totalMs);
                  c.downV.samples.push(m.downtimeMs);
                  details.push(`${load} ${c.name} ${label}: total ${m.totalMs} ms, downtime ${m.downtimeMs} ms; ${m.detail}`);
                }
                ctx.log(`migration ${load} ${c.name} ${label}: total ${formatMs(m.totalMs)}, downtime ${formatMs(m.downtimeMs)} (${m.detail})`);
              } catch (err) {
                const text = `${label}: ${message(err)}`;
                if (err instanceof DidNotConverge && counted) notConverged++;
                if (counted) for (const x of [c.totalV, c.downV]) x.failures.push(text);
                ctx.log(`migration ${load} ${c.name} ${label}: ${message(err)}`);
              }
            }
          }
        }
      }
    } finally {
      await drover.close().catch((err: unknown) => ctx.log(`migration: Drover cleanup failed: ${message(err)}`));
      qemu.close();
    }
    if (setupError) {
      for (const x of Object.values(v)) {
        if (x.status !== 'ok') continue;
        x.status = 'failed';
        x.reason = `setup failed: ${setupError}`;
      }
    }
    if (notConverged > 0 && v.busyQemuTotal.samples.length === 0) {
      for (const x of [v.busyQemuTotal, v.busyQemuDown]) {
        x.status = 'no-figure';
        x.reason = `did not converge in ${RAW_BUSY_BOUND_MS / 1000} s in ${notConverged} of ${ctx.runs} runs (cancelled with migrate_cancel)`;
      }
    }
    const r = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, finish(x)])) as typeof v;
    const targets: TargetResult[] = [
      ratioTarget(`Idle: Drover's median downtime within ${DOWNTIME_TARGET}× of hand-run QEMU's`, r.idleDroverDown, r.idleQemuDown, DOWNTIME_TARGET),
      ratioTarget("Idle: Drover's median total time no worse than libvirt's", r.idleDroverTotal, r.idleLibvirtTotal, 1),
    ];
    const busyConverge: TargetResult = {
      description: `Busy: hand-run QEMU with default settings converges within ${RAW_BUSY_BOUND_MS / 1000} s (reported, not a Drover goal)`,
      met: r.busyQemuTotal.samples.length + notConverged === 0 ? null : notConverged === 0,
      detail: `${r.busyQemuTotal.samples.length} of ${ctx.runs} counted runs converged; ${notConverged} did not`,
    };
    targets.push(busyConverge);
    return {
      runs: ctx.runs,
      warmupRuns: ctx.warmupRuns,
      variants: Object.values(r),
      targets,
      procedure: `${ctx.runs} counted run(s) per variant after ${ctx.warmupRuns} warm-up run(s); idle runs interleaved (Drover, QEMU, QEMU with Drover's capabilities), then busy runs interleaved. Every run boots a fresh guest (not timed) and migrates it once.`,
      ownLoad: 'two QEMUs (source and destination) run during each migration; the busy guest keeps its vCPU fully loaded',
      notes: [
        `Guest: the tiny image, ${GUEST.memoryMiB} MiB, ${GUEST.cpus} vCPU, on a qcow2 overlay in a directory both QEMUs open (shared storage); source and destination on this machine, migration over TCP on 127.0.0.1.`,
        "Figures are QEMU's query-migrate `total-time` and `downtime` on the source, for every variant. Drover's result also has a hand-over time (destination confirming the guest runs), listed per run below; it is not in the downtime figure.",
        'Drover: two `drover agent --shared-storage DIR` processes; VM created with pool "shared", started and guest-ready (not timed), then `POST /api/v1/vms/:name/migrate {storage: "shared"}` with Drover\'s defaults (auto-converge on, post-copy after 8 passes, QEMU\'s default bandwidth and 300 ms downtime limit); figures from `GET /api/v1/migrations/:id`.',
        `Hand-run QEMU: buildQemuArgs() for the same spec started twice, the second with \`-incoming tcp:127.0.0.1:PORT\`; QMP \`migrate\` with no capability or parameter changed, polled with query-migrate; the busy case is cancelled with migrate_cancel after ${RAW_BUSY_BOUND_MS / 1000} s.`,
        "Hand-run QEMU with Drover's capabilities (idle only, to tell the agent's overhead from QEMU's): the same, but with the migration capabilities Drover sets (source: events, return-path, auto-converge, postcopy-ram; destination: events, return-path, postcopy-ram); parameters at QEMU's defaults, which are the values Drover sets.",
        `Busy guest: \`${BUSY_SETUP}\`, then \`${BUSY_LOOP}\` (the workload of tests/system/migration.test.ts), 2 s before the migration starts.`,
        `libvirt: unavailable: ${libvirtReason(ctx)}.`,
        ...details,
        ...(qemu.lastArgs.length ? [`Hand-run QEMU arguments (last run, source): ${qemu.lastArgs.join(' ')}`] : []),
      ],
    };
  },
};
