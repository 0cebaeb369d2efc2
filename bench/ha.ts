/**
 * HA benchmark. Recovery time (RTO) on a real three-host testbed: an HA VM's host is powered off, and the time until
 * the VM runs on another host and until its guest agent answers there is measured, with a fence device (simulated
 * power switch) and without one (the host's simulated watchdog, lease expiry), at least 10 trials each (ha/rto.ts).
 * Then lease renewals at scale: 1,000 simulated hosts renewing every second against a controller in its own process,
 * the controller's CPU, and how fast a host that hangs is found suspect and failed (ha/lease-scale.ts).
 */
import { DEFAULT_HA_TIMINGS } from '../src/ha/timings.js';
import { formatMs } from './lib/report.js';
import { median, percentile, summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';
import { HaCluster, errorText } from './ha/cluster.js';
import { CPU_WINDOW_MS, HA_STEP_MS, LEASE_HOSTS, detectionBudgets, runLeaseScale, type LeaseScaleResult } from './ha/lease-scale.js';
import { POLL_MS, recoverHosts, rtoTrial, type RtoTrial } from './ha/rto.js';

/** The issue asks for at least this many trials per case; BENCH_RUNS counts when higher. */
const MIN_TRIALS = 10;
/** A case that fails this many trials in a row is given up on. */
const MAX_FAILURES_IN_A_ROW = 3;
/** The VMs the RTO trials fail over: ha-rto-1, ha-rto-2, ..., one per trial. */
const VM_PREFIX = 'ha-rto';
/** Each trial's VM starts on the next of these, so every host fails in turn (the one the controller reads the heartbeat slots through among them). */
const TRIAL_HOSTS = ['host1', 'host2', 'host3'];
/** The controller may spend at most this share of one core on 1,000 hosts' renewals. */
const CPU_TARGET_PERCENT = 25;

/** Published figures of the systems the issue compares against; not measured here. */
const ANCHORS = [
  'vSphere HA: a host is declared failed after 15 s without heartbeats, and its VMs restart after that',
  'Proxmox VE ha-manager: about 2 minutes (lock timeout, then the watchdog)',
  'oVirt: 60 s or more',
  'KubeVirt / Harvester: 5 to 10 minutes',
];

interface RtoCase {
  id: 'rto-fence' | 'rto-lease';
  /** How the VM's restart is made safe, as the start of a sentence. */
  label: string;
  fence: 'simulated' | 'none';
  /** p95 of power-off → running elsewhere must be at most this. */
  targetMs: number;
}

const RTO_CASES: RtoCase[] = [
  { id: 'rto-fence', label: 'With a fence device', fence: 'simulated', targetMs: 10_000 },
  { id: 'rto-lease', label: 'By lease expiry (no fence device; the host\'s watchdog)', fence: 'none', targetMs: 20_000 },
];
const CASE_IDS = [...RTO_CASES.map((c) => c.id), 'lease-scale'] as const;

interface RtoOutcome {
  case: RtoCase;
  trials: RtoTrial[];
  failures: string[];
  setupError?: string;
}

/** At least MIN_TRIALS (BENCH_RUNS when higher); BENCH_HA_TRIALS sets it outright, for a quick check of the benchmark itself. */
function trialCount(runs: number): number {
  const raw = process.env.BENCH_HA_TRIALS;
  if (raw === undefined || raw === '') return Math.max(runs, MIN_TRIALS);
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`BENCH_HA_TRIALS must be an integer >= 1, got "${raw}"`);
  return value;
}

function selectedCases(): Set<string> {
  const wanted = process.env.BENCH_HA_CASES?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!wanted?.length) return new Set(CASE_IDS);
  const unknown = wanted.filter((w) => !(CASE_IDS as readonly string[]).includes(w));
  if (unknown.length) throw new Error(`BENCH_HA_CASES names unknown case(s): ${unknown.join(', ')}; known: ${CASE_IDS.join(', ')}`);
  return new Set(wanted);
}

function trialText(t: RtoTrial): string {
  const s = t.steps;
  const step = (name: string, ms: number | undefined) => (ms === undefined ? `${name} -` : `${name} ${formatMs(ms)}`);
  return `${t.from}${t.slotReader ? ' (the slot reader)' : ''} → ${t.to}: running ${formatMs(t.runningMs)}, guest ready ${formatMs(t.readyMs)} (HA: ${[step('suspect', s.suspect), step('failed', s.failed), step('fenced', s.fenced), step('restart', s.restart), step('guest-ready event', s.guestReady)].join(', ')}; ground ${t.ground ?? '?'}); QEMUs of the VM: ${t.qemusAfterRestart} after the restart, ${t.qemusAfterPowerOn} after power-on, at most ${t.mostQemusAtOnce} at once`;
}

async function runRtoCase(ctx: BenchmarkContext, c: RtoCase, trials: number): Promise<RtoOutcome> {
  const outcome: RtoOutcome = { case: c, trials: [], failures: [] };
  let cluster: HaCluster | undefined;
  try {
    cluster = await HaCluster.start(ctx.repoRoot, c.id, c.fence, ctx.log);
    let failuresInARow = 0;
    const total = ctx.warmupRuns + trials;
    for (let index = 0; index < total && failuresInARow < MAX_FAILURES_IN_A_ROW; index++) {
      const counted = index >= ctx.warmupRuns;
      const label = counted ? `trial ${index - ctx.warmupRuns + 1}/${trials}` : `warm-up ${index + 1}/${ctx.warmupRuns}`;
      const vm = `${VM_PREFIX}-${index + 1}`;
      try {
        await cluster.createHaVm(vm, TRIAL_HOSTS[index % TRIAL_HOSTS.length] as string); // index modulo length
        const trial = await rtoTrial(cluster, vm);
        if (counted) outcome.trials.push(trial);
        failuresInARow = 0;
        ctx.log(`ha ${c.id} ${label}: ${trialText(trial)}`);
      } catch (err) {
        failuresInARow++;
        if (counted) outcome.failures.push(`${label}: ${errorText(err)}`);
        ctx.log(`ha ${c.id} ${label} failed: ${errorText(err)}`);
        await recoverHosts(cluster, ctx.log).catch((recoverErr: unknown) => ctx.log(`ha ${c.id}: recovery failed: ${errorText(recoverErr)}`));
      } finally {
        await cluster.deleteVm(vm).catch((err: unknown) => ctx.log(`ha ${c.id}: deleting ${vm}: ${errorText(err)}`));
      }
    }
    if (failuresInARow >= MAX_FAILURES_IN_A_ROW) outcome.failures.push(`stopped after ${MAX_FAILURES_IN_A_ROW} failed trials in a row`);
  } catch (err) {
    outcome.setupError = errorText(err);
    ctx.log(`ha ${c.id}: ${outcome.setupError}`);
  } finally {
    await cluster?.close().catch((err: unknown) => ctx.log(`ha ${c.id}: clean-up: ${errorText(err)}`));
  }
  return outcome;
}

function variant(name: string, label: string, samples: number[], failures: string[], unavailable?: string): VariantResult {
  const result: VariantResult = { name, label, status: 'ok', unit: 'ms', samples, failures, ...summarize(samples) };
  const p95 = percentile(samples, 0.95);
  if (p95 !== undefined) result.p95 = p95;
  if (unavailable !== undefined) {
    result.status = 'unavailable';
    result.reason = unavailable;
  } else if (samples.length === 0) {
    result.status = 'failed';
    result.reason = `no trial succeeded; last: ${failures.at(-1) ?? 'none'}`;
  }
  return result;
}

function rtoVariants(c: RtoCase, outcome: RtoOutcome | undefined): VariantResult[] {
  const unavailable = outcome === undefined ? 'not selected (BENCH_HA_CASES)' : undefined;
  const failures = outcome ? [...(outcome.setupError ? [`setup: ${outcome.setupError}`] : []), ...outcome.failures] : [];
  const trials = outcome?.trials ?? [];
  return [
    variant(`${c.id}-running`, `${c.label}: power-off → running on another host`, trials.map((t) => t.runningMs), failures, unavailable),
    variant(`${c.id}-ready`, `${c.label}: power-off → guest agent answers on another host`, trials.map((t) => t.readyMs), failures, unavailable),
  ];
}

function rtoTargets(c: RtoCase, running: VariantResult, outcome: RtoOutcome | undefined): TargetResult[] {
  const description = `${c.label}: p95 of power-off → running on another host at most ${formatMs(c.targetMs)}`;
  const p95Target: TargetResult =
    running.p95 === undefined
      ? { description, met: null, detail: `no samples (${running.status}${running.reason ? `: ${running.reason}` : ''})` }
      : { description, met: running.p95 <= c.targetMs, detail: `p95 ${formatMs(running.p95)} over ${running.samples.length} trials (median ${formatMs(running.median)}, max ${formatMs(running.max)})` };
  const trials = outcome?.trials ?? [];
  const twice = trials.filter((t) => t.qemusAfterRestart !== 1 || t.qemusAfterPowerOn !== 1 || t.mostQemusAtOnce > 1);
  const onceDescription = `${c.label}: the VM runs exactly once (one QEMU on the testbed) after every restart and after the failed host is back`;
  const once: TargetResult =
    trials.length === 0
      ? { description: onceDescription, met: null, detail: 'no trials' }
      : { description: onceDescription, met: twice.length === 0, detail: twice.length === 0 ? `${trials.length} of ${trials.length} trials` : `${twice.length} trial(s) broke it: ${twice.map(trialText).join(' / ')}` };
  return [p95Target, once];
}

function stepMedians(c: RtoCase, trials: RtoTrial[]): string {
  const names = ['suspect', 'failed', 'fenced', 'restart', 'guestReady'] as const;
  const parts = names.flatMap((name) => {
    const values = trials.flatMap((t) => (t.steps[name] === undefined ? [] : [t.steps[name] as number]));
    return values.length ? [`${name === 'guestReady' ? 'guest-ready event' : `host ${name}`.replace('host restart', 'vm.ha-restart')} ${formatMs(median(values))} (${values.length})`] : [];
  });
  const grounds = [...new Set(trials.map((t) => t.ground ?? '?'))].join(', ');
  const failedOf = (reader: boolean) => trials.flatMap((t) => (t.slotReader === reader && t.steps.failed !== undefined ? [t.steps.failed] : []));
  const readerText = `host failed when it was the host the slots are read through ${formatMs(median(failedOf(true)))} (${failedOf(true).length}), otherwise ${formatMs(median(failedOf(false)))} (${failedOf(false).length})`;
  return `${c.label}, medians from the power-off of the controller's event times: ${parts.join('; ')}; ${readerText}; restart ground: ${grounds}.`;
}

function leaseVariants(lease: LeaseScaleResult | undefined, error: string | undefined, selected: boolean): VariantResult[] {
  const unavailable = !selected ? 'not selected (BENCH_HA_CASES)' : undefined;
  const failures = error ? [`lease-scale: ${error}`] : [];
  const hangs = lease?.hangs ?? [];
  return [
    variant('lease-hang-suspect', `${LEASE_HOSTS} hosts renewing, one hangs: hang → host.suspect`, hangs.flatMap((h) => (h.suspectMs === undefined ? [] : [h.suspectMs])), failures, unavailable),
    variant('lease-hang-failed', `${LEASE_HOSTS} hosts renewing, one hangs: hang → host.failed`, hangs.flatMap((h) => (h.failedMs === undefined ? [] : [h.failedMs])), failures, unavailable),
  ];
}

function leaseTargets(lease: LeaseScaleResult | undefined, error: string | undefined): TargetResult[] {
  const budgets = detectionBudgets();
  const missing = error ? `the run failed: ${error}` : 'not run';
  const cpuDescription = `${LEASE_HOSTS} simulated hosts renewing every second cost the controller under ${CPU_TARGET_PERCENT}% of one core`;
  const verdictDescription = `Every one of the ${LEASE_HOSTS} hosts is judged ok while they renew`;
  const suspectDescription = `A hung host is suspect within ${formatMs(budgets.suspectMs)} of the hang (suspect after ${formatMs(DEFAULT_HA_TIMINGS.suspectAfterMs)}, plus one ${HA_STEP_MS} ms step)`;
  const failedDescription = `A hung host is failed within ${formatMs(budgets.failedMs)} of the hang (lease and storage heartbeat expire after ${formatMs(DEFAULT_HA_TIMINGS.leaseExpiryMs)}, plus a heartbeat interval and two steps)`;
  const othersDescription = 'While a host hangs, every other host stays ok';
  if (!lease) return [cpuDescription, verdictDescription, suspectDescription, failedDescription, othersDescription].map((description) => ({ description, met: null, detail: missing }));
  const hangs = lease.hangs;
  const within = (key: 'suspectMs' | 'failedMs', budget: number) => hangs.length > 0 && hangs.every((h) => h[key] !== undefined && (h[key] as number) <= budget);
  const hangText = (key: 'suspectMs' | 'failedMs') => hangs.map((h) => `${h.host}: ${h[key] === undefined ? 'never' : formatMs(h[key])}`).join(', ');
  const disturbed = hangs.flatMap((h) => h.othersDisturbed);
  return [
    {
      description: cpuDescription,
      met: lease.cpuPercent < CPU_TARGET_PERCENT,
      detail: `${lease.cpuPercent}% (user ${lease.userPercent}%, system ${lease.systemPercent}%) over ${formatMs(lease.windowMs)}; event loop busy ${lease.loopPercent}%`,
    },
    { description: verdictDescription, met: (lease.livenessAfterWindow.ok ?? 0) === LEASE_HOSTS && lease.windowHostEvents.length === 0, detail: `${JSON.stringify(lease.livenessAfterWindow)} after the window; ${lease.windowHostEvents.length} host liveness change(s) during it` },
    { description: suspectDescription, met: within('suspectMs', budgets.suspectMs), detail: hangText('suspectMs') },
    { description: failedDescription, met: within('failedMs', budgets.failedMs), detail: hangText('failedMs') },
    { description: othersDescription, met: disturbed.length === 0, detail: disturbed.length === 0 ? `no other host left ok during ${hangs.length} hang(s)` : disturbed.slice(0, 10).join('; ') },
  ];
}

function leaseNotes(lease: LeaseScaleResult | undefined): string[] {
  if (!lease) return [];
  const r = lease.renewals;
  const inFlight = r.sent - r.accepted - r.errors - Object.values(r.refused).reduce((a, b) => a + b, 0);
  const d = lease.renewalsDuringHangs;
  return [
    `Lease renewals at scale: a controller (startController, SQLite store on a temporary data dir) in its own process, with ${LEASE_HOSTS} simulated hosts written into its store (sim-host-NNNN, each with an agent token and one shared pool; no VMs) and HA stepping every ${HA_STEP_MS} ms as \`drover up\` starts it; host heartbeats (the controller polling agents) are not started. Another process (bench/ha/lease-worker.ts) renews every host's lease once a second, spread evenly over the second (POST /api/v1/ha/lease with its lease credential, node:http keep-alive agent, at most 64 sockets), and answers the controller's heartbeat-slot reads (GET <host>/api/v1/ha/slots, every slot changing once a second) as the agents' API would.`,
    `CPU: process.cpuUsage() of the controller process over the ${formatMs(CPU_WINDOW_MS)} window after 5 s of warm-up: ${lease.cpuPercent}% of one core (user ${lease.userPercent}%, system ${lease.systemPercent}%); its event loop was busy ${lease.loopPercent}% of the window. It covers the renewals, HA's steps over ${LEASE_HOSTS} hosts (2 a second) and the slot reads (${r.slotReads} in the window).`,
    `Renewals in the window: ${r.sent} sent, ${r.accepted} accepted, ${r.errors} without an answer, refused ${JSON.stringify(r.refused)}, ${r.skipped} skipped (previous one still in flight), ${inFlight} still in flight at its end; latency of the accepted ones p50 ${r.latency.p50} ms, p90 ${r.latency.p90} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms.${r.sampleErrors.length ? ` Errors: ${r.sampleErrors.join('; ')}.` : ''}`,
    `Hung hosts, one after the other (${lease.hangs.map((h) => h.host).join(', ')}; the first is the host the controller reads the heartbeat slots through, as it picks the first host of the pool with a fresh lease): it stops renewing, its slot stops changing, and slot reads sent to it are held unanswered (the controller gives up on them after 2 s). Times from the hang to the controller's host.suspect and host.failed events; its last renewal was sent up to 1 s before the hang (${lease.hangs.map((h) => `${h.host} ${h.lastRenewalBeforeHangMs ?? '?'} ms`).join(', ')}), so its lease is that much older. Final verdicts: ${lease.hangs.map((h) => `${h.host} ${h.finalLiveness}`).join(', ')}.`,
    `Without a shared pool whose heartbeat slots the controller can read, a host whose lease expired stays suspect: the controller cannot tell a failed host from an isolated one (src/ha/liveness.ts); that case is not measured here. The renewals list no VMs; a fleet whose hosts report VMs makes each renewal and each step larger.`,
    ...(d ? [`Renewals during the hangs (with the status and event polling of the benchmark): ${d.accepted} accepted of ${d.sent}, ${d.errors} without an answer; latency p50 ${d.latency.p50} ms, p99 ${d.latency.p99} ms, max ${d.latency.max} ms; ${d.slotReadsHeld} slot reads held by a hung host.`] : []),
  ];
}

/** The HA benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'ha',
  title: 'High availability: recovery time after a host failure, and lease renewals at scale',
  description:
    'Time from powering off the host of an HA VM until the VM runs on another host, and until its guest agent answers there, on a three-host testbed with a fence device and by lease expiry (watchdog); and the controller\'s CPU with 1,000 hosts renewing their leases every second, with how fast a hung host is found.',
  async run(ctx) {
    const selected = selectedCases();
    const trials = trialCount(ctx.runs);
    const outcomes = new Map<string, RtoOutcome>();
    for (const c of RTO_CASES) if (selected.has(c.id)) outcomes.set(c.id, await runRtoCase(ctx, c, trials));
    let lease: LeaseScaleResult | undefined;
    let leaseError: string | undefined;
    if (selected.has('lease-scale')) {
      try {
        lease = await runLeaseScale(ctx.log);
      } catch (err) {
        leaseError = errorText(err);
        ctx.log(`ha lease-scale: ${leaseError}`);
      }
    }
    const variants: VariantResult[] = [];
    const targets: TargetResult[] = [];
    const notes: string[] = [];
    for (const c of RTO_CASES) {
      const outcome = outcomes.get(c.id);
      const [running, ready] = rtoVariants(c, outcome) as [VariantResult, VariantResult];
      variants.push(running, ready);
      targets.push(...rtoTargets(c, running, outcome));
      if (outcome?.trials.length) notes.push(stepMedians(c, outcome.trials));
    }
    variants.push(...leaseVariants(lease, leaseError, selected.has('lease-scale')));
    targets.push(...leaseTargets(lease, leaseError));
    const fenceP95 = variants.find((v) => v.name === 'rto-fence-running')?.p95;
    const leaseP95 = variants.find((v) => v.name === 'rto-lease-running')?.p95;
    if (outcomes.size > 0) {
      notes.unshift(
        `Testbed: \`drover up --listen 0.0.0.0\` on a temporary data dir (its own local host put in maintenance: it does not reach the shared storage) and \`drover testbed up --hosts 3 --storage shared\` (network namespaces, one agent each, simulated watchdogs), with \`--fence simulated\` (a simulated power switch registered as each host's fence device) or \`--fence none\`; a fresh controller and testbed per case. HA timings: the defaults (lease renewal ${formatMs(DEFAULT_HA_TIMINGS.leaseIntervalMs)}, suspect after ${formatMs(DEFAULT_HA_TIMINGS.suspectAfterMs)}, lease and storage heartbeat expiry ${formatMs(DEFAULT_HA_TIMINGS.leaseExpiryMs)}, self-fence ${formatMs(DEFAULT_HA_TIMINGS.selfFenceMs)}, margin ${formatMs(DEFAULT_HA_TIMINGS.safetyMarginMs)}), HA step every ${HA_STEP_MS} ms.`,
        `Each trial creates a fresh HA VM on ${TRIAL_HOSTS.join(', ')} in turn (\`drover vm create ${VM_PREFIX}-N --image tiny --pool shared --ha --host HOST --start --wait\`: 256 MiB, 1 vCPU, TCG), so every host fails in turn, the one the controller reads the heartbeat slots through among them. It waits until the VM runs with its guest answering, HA has it protected and every host is ok, then powers off the VM's host with the testbed's own fault code (\`testbed fault HOST power-off\`: SIGKILL of its agent and QEMUs), run in the benchmark's process so the moment is exact; GET /api/v1/vms/NAME every ${POLL_MS} ms gives the moment the record shows it running on another host, and the moment its guest agent answers there (a new QEMU pid with guestReady), so each figure is late by up to ${POLL_MS} ms plus a request. Then the QEMU processes of the VM on all hosts are counted (pid files and /proc), the host is powered on (\`drover testbed fault HOST power-on\`, which waits until its agent answers), and counted again once every host is ok; then the VM is deleted.`,
        `Drover beside the published figures of other systems (not measured here): Drover with a fence device, p95 ${formatMs(fenceP95)} to running elsewhere; by lease expiry, p95 ${formatMs(leaseP95)}. ${ANCHORS.join('; ')}.`,
        `p95 is the nearest-rank 95th percentile: with ${trials} trials, sample ${Math.ceil(0.95 * trials)} of ${trials} in order${Math.ceil(0.95 * trials) === trials ? ', the largest' : ''}.`,
      );
    }
    for (const c of RTO_CASES) for (const t of outcomes.get(c.id)?.trials ?? []) notes.push(`${c.label}: ${trialText(t)}.`);
    notes.push(...leaseNotes(lease));
    return {
      runs: trials,
      warmupRuns: ctx.warmupRuns,
      variants,
      targets,
      notes,
      procedure: `${trials} counted trial(s) per RTO case after ${ctx.warmupRuns} warm-up trial(s), the fence case first, then the lease-expiry case (each on its own testbed); then the lease-scale run (a ${formatMs(CPU_WINDOW_MS)} CPU window, then three hung hosts one after the other).`,
      ownLoad: 'One guest (TCG, about one CPU while it boots), three agents, the simulated hardware daemon and the controller run during the RTO trials; two Node processes during the lease-scale run',
    };
  },
};
