/**
 * HA soak: each host fault, N times, on a three-host testbed (bench/ha/cluster.ts) with two HA VMs (the tiny guest,
 * shared pool, default keep-running isolation), counting VMs lost and VMs run twice. The faults, each done to the host
 * that runs the most of the VMs:
 *
 * - power-off with a fence device: the VMs restart elsewhere; then the host is powered on;
 * - network down, then up, once HA found the host isolated: keep-running VMs stay where they are;
 * - freeze (SIGSTOP of the agent and QEMUs) for longer than the lease, then thaw; if the host's watchdog or fence
 *   device powered it off meanwhile, power-on instead;
 * - power-off without a fence device (a testbed with `--fence none`): the VMs restart once the watchdog wait is over.
 *
 * While a trial runs, the QEMU processes of every VM on the testbed are counted every 250 ms: two that are not
 * stopped at once is a VM run twice. After the trial every VM must run exactly once, answering, within the deadline;
 * one that does not is lost (and is put back, so the next trial starts whole).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_HA_TIMINGS } from '../../src/ha/timings.js';
import { hostFaults } from '../../src/testbed/state.js';
import { formatMs } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import type { Soak, SoakContext, TargetResult, VariantResult } from '../lib/types.js';
import { HaCluster, errorText } from '../ha/cluster.js';

/** The HA VMs every trial watches. */
const VMS = ['soak-a', 'soak-b'];
/** After the fault is over, every VM must run once and answer within this; otherwise it counts as lost. */
const RECOVERY_DEADLINE_MS = 120_000;
const SAMPLE_MS = 250;
/** A freeze lasts this much longer than the lease. */
const FREEZE_BEYOND_LEASE_MS = 1_000;
/** How long a network-down host is left isolated once HA found it so. */
const ISOLATED_HOLD_MS = 2_000;

type FaultId = 'power-off-fence' | 'network-down-up' | 'freeze-thaw' | 'power-off-watchdog';

interface FaultCase {
  id: FaultId;
  label: string;
  /** Which testbed it runs on: with simulated fence devices, or without. */
  fence: 'simulated' | 'none';
}

const FAULTS: FaultCase[] = [
  { id: 'power-off-fence', label: 'Power-off, fence device', fence: 'simulated' },
  { id: 'network-down-up', label: 'Network down, then up (keep-running isolation)', fence: 'simulated' },
  { id: 'freeze-thaw', label: `Freeze for the lease expiry + ${formatMs(FREEZE_BEYOND_LEASE_MS)}, then thaw (or power-on)`, fence: 'simulated' },
  { id: 'power-off-watchdog', label: 'Power-off, no fence device (watchdog)', fence: 'none' },
];

/** One trial's outcome. */
interface Trial {
  fault: FaultId;
  host: string;
  /** From the fault until every VM ran once and answered again, with every host ok; undefined when that never came. */
  recoveredMs?: number;
  lost: string[];
  twice: string[];
  /** VMs with a new QEMU after the trial (restarted by HA), and where each ended. */
  restarted: string[];
  /** What happened to a frozen host: thawed, or powered off by its watchdog or fence device first. */
  outcome?: string;
  detail: string[];
}

interface VmPlace {
  host: string | null;
  pid: number | null;
}

/** Where each VM runs according to the controller. */
async function places(cluster: HaCluster): Promise<Map<string, VmPlace>> {
  const out = new Map<string, VmPlace>();
  for (const vm of VMS) {
    const view = await cluster.vm(vm);
    out.set(vm, { host: view.host, pid: view.pid });
  }
  return out;
}

/**
 * Waits until every VM runs with its guest answering, HA has it protected, exactly one QEMU runs it (on the host its
 * record names) and every host is ok. Returns the VMs that did not get there, with why.
 */
async function settle(cluster: HaCluster, timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problems = new Map<string, string>();
    const status = await cluster.haStatus();
    const census = cluster.census();
    for (const vm of VMS) {
      const view = await cluster.vm(vm);
      const phase = status.vms.find((v) => v.name === vm)?.phase;
      const live = (census.get(vm) ?? []).filter((q) => !q.stopped);
      if (view.state !== 'running' || !view.guestReady || phase !== 'protected' || live.length !== 1 || live[0]?.host !== view.host) {
        problems.set(vm, `${view.state} on ${view.host ?? '-'}, guest ${view.guestReady ? 'ready' : 'not ready'}, HA ${phase ?? '-'}, QEMUs ${live.map((q) => `${q.host}:${q.pid}`).join(' ') || 'none'}`);
      }
    }
    const notOk = status.hosts.filter((h) => /^host\d+$/.test(h.name) && h.liveness !== 'ok');
    if (problems.size === 0 && notOk.length === 0) return problems;
    if (Date.now() > deadline) {
      if (problems.size === 0) problems.set('(hosts)', notOk.map((h) => `${h.name} ${h.liveness}`).join(', '));
      return problems;
    }
    await sleep(250);
  }
}

/** Counts each VM's running QEMUs every SAMPLE_MS until stopped; `twice` collects the VMs seen running twice, with where. */
function watchTwice(cluster: HaCluster): { stop: () => Promise<Map<string, string>> } {
  const twice = new Map<string, string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [vm, instances] of cluster.census()) {
        const live = instances.filter((q) => !q.stopped);
        if (live.length > 1 && !twice.has(vm)) twice.set(vm, live.map((q) => `${q.host}:${q.pid}`).join(' and '));
      }
      await sleep(SAMPLE_MS);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return twice;
    },
  };
}

/** The testbed host that runs the most VMs (by the controller's records); ties go round by `round`. */
function pickHost(placed: Map<string, VmPlace>, hosts: string[], round: number): string {
  const counts = hosts.map((host) => ({ host, vms: [...placed.values()].filter((p) => p.host === host).length }));
  const most = Math.max(...counts.map((c) => c.vms));
  const candidates = counts.filter((c) => c.vms === most).map((c) => c.host);
  return candidates[round % candidates.length] as string; // candidates is never empty: the maximum is one of them
}

/** Waits until HA judges `host` to be `liveness`, up to `timeoutMs`; returns whether it did. */
async function waitLiveness(cluster: HaCluster, host: string, liveness: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await cluster.haStatus()).hosts.find((h) => h.name === host)?.liveness === liveness) return true;
    await sleep(250);
  }
  return false;
}

/** Does the fault to `host` and undoes it; resolves once the fault is over (the host powered on, thawed or reconnected). */
async function applyAndRepair(cluster: HaCluster, fault: FaultId, host: string, before: Map<string, VmPlace>, trial: Trial): Promise<void> {
  switch (fault) {
    case 'power-off-fence':
    case 'power-off-watchdog': {
      await cluster.fault(host, 'power-off');
      // Power-on only once the VMs it ran answer elsewhere (or the deadline passes): a host back early would hide a slow failover.
      const moved = VMS.filter((vm) => before.get(vm)?.host === host);
      const deadline = Date.now() + RECOVERY_DEADLINE_MS;
      while (Date.now() < deadline) {
        const views = await Promise.all(moved.map((vm) => cluster.vm(vm)));
        if (views.every((v) => v.host !== host && v.state === 'running' && v.guestReady)) break;
        await sleep(250);
      }
      await cluster.fault(host, 'power-on');
      return;
    }
    case 'network-down-up': {
      await cluster.fault(host, 'network-down');
      const isolated = await waitLiveness(cluster, host, 'isolated', DEFAULT_HA_TIMINGS.leaseExpiryMs + 10_000);
      trial.outcome = isolated ? 'found isolated' : 'never found isolated';
      await sleep(ISOLATED_HOLD_MS);
      await cluster.fault(host, 'network-up');
      return;
    }
    case 'freeze-thaw': {
      await cluster.fault(host, 'freeze');
      await sleep(DEFAULT_HA_TIMINGS.leaseExpiryMs + FREEZE_BEYOND_LEASE_MS);
      const now = cluster.hosts().find((h) => h.name === host);
      const faults = now ? hostFaults(now) : undefined;
      if (faults?.frozen) {
        await cluster.fault(host, 'thaw');
        trial.outcome = 'thawed';
      } else if (faults?.poweredOff) {
        trial.outcome = `powered off by its ${now?.poweredOffBy ?? 'hardware'} before the thaw`;
        // Let the failover finish before the host returns, as after a real reset.
        const deadline = Date.now() + RECOVERY_DEADLINE_MS;
        while (Date.now() < deadline && (await Promise.all(VMS.map((vm) => cluster.vm(vm)))).some((v) => v.host === host || v.state !== 'running')) await sleep(250);
        await cluster.fault(host, 'power-on');
      } else {
        trial.outcome = 'neither frozen nor off after the freeze';
      }
      return;
    }
  }
}

/** One trial of `fault`; see the file comment. Leaves every VM running once (recreating a lost one) for the next. */
async function runTrial(cluster: HaCluster, fault: FaultId, round: number): Promise<Trial> {
  const trial: Trial = { fault, host: '', lost: [], twice: [], restarted: [], detail: [] };
  const unsettled = await settle(cluster, RECOVERY_DEADLINE_MS);
  if (unsettled.size > 0) throw new Error(`the cluster was not settled before the trial: ${[...unsettled].map(([vm, why]) => `${vm}: ${why}`).join('; ')}`);
  const before = await places(cluster);
  trial.host = pickHost(before, cluster.hosts().map((h) => h.name), round);
  const watcher = watchTwice(cluster);
  const t0 = Date.now();
  try {
    await applyAndRepair(cluster, fault, trial.host, before, trial);
  } catch (err) {
    trial.detail.push(`fault: ${errorText(err)}`);
  }
  const problems = await settle(cluster, RECOVERY_DEADLINE_MS);
  const twice = await watcher.stop();
  if (problems.size === 0) trial.recoveredMs = Date.now() - t0;
  const after = await places(cluster);
  for (const vm of VMS) {
    const was = before.get(vm);
    const now = after.get(vm);
    if (was && now && now.pid !== was.pid) trial.restarted.push(`${vm} ${was.host} → ${now.host}`);
  }
  trial.twice = [...twice].map(([vm, where]) => `${vm} (${where})`);
  trial.lost = [...problems].filter(([vm]) => VMS.includes(vm)).map(([vm, why]) => `${vm} (${why})`);
  if (problems.has('(hosts)')) trial.detail.push(`hosts not ok: ${problems.get('(hosts)')}`);
  return trial;
}

/** Puts a cluster back together after a trial that lost something: every host on and reachable, every VM running once. */
async function repair(cluster: HaCluster, log: (message: string) => void): Promise<void> {
  for (const host of cluster.hosts()) {
    const faults = hostFaults(host);
    if (faults.frozen) await cluster.fault(host.name, 'thaw').catch((err: unknown) => log(`thaw ${host.name}: ${errorText(err)}`));
    if (faults.networkDown) await cluster.fault(host.name, 'network-up').catch((err: unknown) => log(`network-up ${host.name}: ${errorText(err)}`));
    if (faults.poweredOff) await cluster.fault(host.name, 'power-on').catch((err: unknown) => log(`power-on ${host.name}: ${errorText(err)}`));
  }
  const problems = await settle(cluster, 60_000);
  for (const vm of VMS.filter((v) => problems.has(v))) {
    log(`soak ha: ${vm} recreated on host1 after the trial (${problems.get(vm)})`);
    await cluster.deleteVm(vm);
    await cluster.createHaVm(vm, 'host1');
  }
}

function trialLine(t: Trial): string {
  const parts = [
    `${t.fault} on ${t.host}`,
    t.recoveredMs === undefined ? 'not recovered' : `recovered in ${formatMs(t.recoveredMs)}`,
    ...(t.outcome ? [t.outcome] : []),
    `restarted: ${t.restarted.join(', ') || 'none'}`,
    ...(t.lost.length ? [`LOST: ${t.lost.join(', ')}`] : []),
    ...(t.twice.length ? [`RUN TWICE: ${t.twice.join(', ')}`] : []),
    ...t.detail,
  ];
  return parts.join('; ');
}

/** Runs every fault case of one testbed `trials` times, interleaved, on a fresh controller and testbed. */
async function runTestbed(ctx: SoakContext, fence: 'simulated' | 'none', trials: Trial[], failures: Map<FaultId, string[]>): Promise<void> {
  const cases = FAULTS.filter((f) => f.fence === fence);
  let cluster: HaCluster | undefined;
  try {
    cluster = await HaCluster.start(ctx.repoRoot, fence === 'none' ? 'soak-wd' : 'soak-fence', fence, ctx.log);
    // Both on host1: the first fault takes both at once, so restarts of two VMs compete from the start.
    for (const vm of VMS) await cluster.createHaVm(vm, 'host1');
    for (let round = 0; round < ctx.trials; round++) {
      for (const c of cases) {
        const label = `${c.id} ${round + 1}/${ctx.trials}`;
        try {
          const trial = await runTrial(cluster, c.id, round);
          trials.push(trial);
          ctx.log(`soak ha ${label}: ${trialLine(trial)}`);
          if (trial.lost.length || trial.recoveredMs === undefined) await repair(cluster, ctx.log);
        } catch (err) {
          failures.set(c.id, [...(failures.get(c.id) ?? []), `${label}: ${errorText(err)}`]);
          ctx.log(`soak ha ${label} failed: ${errorText(err)}`);
          await repair(cluster, ctx.log).catch((repairErr: unknown) => ctx.log(`soak ha: repair failed: ${errorText(repairErr)}`));
        }
      }
    }
  } catch (err) {
    for (const c of cases) failures.set(c.id, [...(failures.get(c.id) ?? []), `testbed: ${errorText(err)}`]);
    ctx.log(`soak ha (fence ${fence}): ${errorText(err)}`);
  } finally {
    if (cluster) {
      const running = cluster;
      for (const vm of VMS) await running.deleteVm(vm).catch((err: unknown) => ctx.log(`soak ha: deleting ${vm}: ${errorText(err)}`));
      await running.close().catch((err: unknown) => ctx.log(`soak ha: clean-up: ${errorText(err)}`));
    }
  }
}

/** The HA soak; see the file comment. */
export const soak: Soak = {
  name: 'ha',
  title: 'HA soak: host faults repeated, VMs lost and VMs run twice',
  description:
    'Each host fault (power-off with a fence device, power-off without one, network down and up, freeze longer than the lease and thaw) repeated on a three-host testbed with two HA VMs; after every trial each VM must run exactly once, and at no moment may two QEMUs run one VM.',
  async run(ctx) {
    const trials: Trial[] = [];
    const failures = new Map<FaultId, string[]>();
    await runTestbed(ctx, 'simulated', trials, failures);
    await runTestbed(ctx, 'none', trials, failures);
    const variants: VariantResult[] = FAULTS.map((f) => {
      const own = trials.filter((t) => t.fault === f.id);
      const samples = own.flatMap((t) => (t.recoveredMs === undefined ? [] : [t.recoveredMs]));
      const failed = [...(failures.get(f.id) ?? []), ...own.filter((t) => t.recoveredMs === undefined).map(trialLine)];
      const result: VariantResult = { name: f.id, label: `${f.label}: fault → every VM runs once and answers, every host ok`, status: samples.length ? 'ok' : 'failed', unit: 'ms', samples, failures: failed, ...summarize(samples) };
      if (!samples.length) result.reason = `no trial recovered; last: ${failed.at(-1) ?? 'none'}`;
      return result;
    });
    const lost = trials.flatMap((t) => t.lost.map((vm) => `${t.fault} on ${t.host}: ${vm}`));
    const twice = trials.flatMap((t) => t.twice.map((vm) => `${t.fault} on ${t.host}: ${vm}`));
    const perFault = (pick: (t: Trial) => string[]) => FAULTS.map((f) => `${f.id} ${trials.filter((t) => t.fault === f.id).reduce((n, t) => n + pick(t).length, 0)}`).join(', ');
    const failedTrials = [...failures.values()].flat();
    const targets: TargetResult[] = [
      { description: 'VMs lost: 0 (every VM runs once and answers within 120 s of the fault being over)', met: trials.length ? lost.length === 0 : null, detail: `${lost.length} over ${trials.length} trials (${perFault((t) => t.lost)})${lost.length ? `: ${lost.join('; ')}` : ''}` },
      { description: 'VMs run twice: 0 (never two running QEMUs of one VM, polled every 250 ms)', met: trials.length ? twice.length === 0 : null, detail: `${twice.length} over ${trials.length} trials (${perFault((t) => t.twice)})${twice.length ? `: ${twice.join('; ')}` : ''}` },
      { description: `Every trial ran to the end (${ctx.trials} per fault)`, met: failedTrials.length === 0 && trials.length === ctx.trials * FAULTS.length, detail: failedTrials.length ? failedTrials.join('; ') : `${trials.length} trials` },
    ];
    return {
      runs: ctx.trials,
      warmupRuns: 0,
      variants,
      targets,
      passed: targets.every((t) => t.met === true),
      procedure: `${ctx.trials} trial(s) of each fault: the three faults of the testbed with fence devices in turn (power-off, network, freeze), ${ctx.trials} rounds, then the power-off of the testbed without fence devices ${ctx.trials} times.`,
      ownLoad: 'Two guests (TCG), three agents, the simulated hardware daemon and the controller',
      notes: [
        `Testbed: \`drover up --listen 0.0.0.0\` (its own host in maintenance) and \`drover testbed up --hosts 3 --storage shared\` with simulated watchdogs, with \`--fence simulated\` for the first three faults and \`--fence none\` for the watchdog power-off; default HA timings (lease expiry ${formatMs(DEFAULT_HA_TIMINGS.leaseExpiryMs)}, self-fence ${formatMs(DEFAULT_HA_TIMINGS.selfFenceMs)}, margin ${formatMs(DEFAULT_HA_TIMINGS.safetyMarginMs)}).`,
        `VMs: ${VMS.join(' and ')}, \`drover vm create NAME --image tiny --pool shared --ha --host host1 --start --wait\` (priority 3, keep-running isolation), both on host1 at first. Each trial faults the host that runs the most of them.`,
        'Power-off: `testbed fault HOST power-off`; the host is powered on once the VMs it ran answer elsewhere (or 120 s passed). Network: `network-down` until HA finds the host isolated, 2 s more, then `network-up`; keep-running VMs must stay. Freeze: `freeze` for the lease expiry + 1 s, then `thaw`; when the host\'s simulated watchdog or fence device powered it off meanwhile, `power-on` once its VMs run elsewhere.',
        'A VM is lost when, within 120 s of the fault being over, it does not run with its guest answering, HA protecting it, and exactly one QEMU running it on the host its record names. A VM runs twice when two of its QEMU processes that are not stopped (SIGSTOP, a frozen host) exist at once, counted every 250 ms from each host\'s pid files and /proc.',
        ...trials.map(trialLine),
      ],
    };
  },
};
