/**
 * Scale benchmark: for each store engine (a SQLite file, then a private PostgreSQL server), a controller with 1,000
 * simulated hosts and 30,000 VMs in its store while every host renews its HA lease once a second. Measured: the
 * controller's CPU, p50/p99 of one GET /api/v1/vms page (limit 500) and of GET /api/v1/vms/:name, VM creates accepted
 * per second through the scheduler, and the time to find a host that stops renewing (scale/measure.ts).
 * `--hosts N --vms M` (and `--window S`) make a small run; `--engine sqlite|postgresql` runs one engine only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_HA_TIMINGS } from '../src/ha/timings.js';
import { postgresAvailable, startLocalPostgres, type LocalPostgres } from '../src/controller/store/postgres/local-server.js';
import { formatMs } from './lib/report.js';
import { percentile, summarize } from './lib/stats.js';
import type { Benchmark, ResultTable, TargetResult, VariantResult } from './lib/types.js';
import { HA_STEP_MS, detectionBudgets } from './ha/lease-scale.js';
import { launcherNodeFlags } from './lib/launcher.js';
import { CPU_WINDOWS, PAGE_LIMIT, READ_WARMUP_REQUESTS, runEngine, type EngineRun, type ScaleOptions } from './scale/measure.js';

const TARGETS = { getP99Ms: 20, pageP99Ms: 50, cpuPercent: 25 };
const ENGINES = ['sqlite', 'postgresql'] as const;
type Engine = (typeof ENGINES)[number];
const ENGINE_LABEL: Record<Engine, string> = { sqlite: 'SQLite', postgresql: 'PostgreSQL' };

const OPTIONS = {
  '--hosts': { default: 1_000, min: 2 },
  '--vms': { default: 30_000, min: 1 },
  '--window': { default: 30, min: 1 },
} as const;

function parseOptions(args: string[]): ScaleOptions & { engines: Engine[] } {
  const given = new Map<string, number>();
  let engines: Engine[] = [...ENGINES];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string; // i < length
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, args[++i]];
    if (name === '--engine') {
      if (!ENGINES.includes(inline as Engine)) throw new Error(`--engine takes ${ENGINES.join(' or ')}, got "${inline}"`);
      engines = [inline as Engine];
      continue;
    }
    if (!(name in OPTIONS)) throw new Error(`unknown option ${arg}; scale takes ${[...Object.keys(OPTIONS), '--engine'].join(', ')}`);
    const spec = OPTIONS[name as keyof typeof OPTIONS];
    const value = Number(inline);
    if (!Number.isInteger(value) || value < spec.min) throw new Error(`${name} needs a whole number of at least ${spec.min}, got "${inline}"`);
    given.set(name, value);
  }
  const value = (name: keyof typeof OPTIONS) => given.get(name) ?? OPTIONS[name].default;
  return { hosts: value('--hosts'), vms: value('--vms'), windowMs: value('--window') * 1000, pageSamples: 200, getSamples: 500, createMs: 10_000, engines };
}

function latencyVariant(name: string, label: string, samples: number[], failure: string | undefined, extra: Partial<VariantResult> = {}): VariantResult {
  const round = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 100) / 100);
  const rounded = samples.map((s) => Math.round(s * 100) / 100);
  const result: VariantResult = { name, label, status: rounded.length ? 'ok' : 'failed', unit: 'ms', samples: rounded, failures: failure ? [failure] : [], ...summarize(rounded), ...extra };
  const p90 = round(percentile(rounded, 0.9));
  const p99 = round(percentile(rounded, 0.99));
  if (p90 !== undefined) result.p90 = p90;
  if (p99 !== undefined) result.p99 = p99;
  if (!rounded.length) result.reason = failure ?? 'no samples';
  return result;
}

function createsPerSecond(run: EngineRun): number {
  return Math.round((run.creates.acceptedMs.length / run.creates.seconds) * 10) / 10;
}

function variantsOf(engine: Engine, run: EngineRun | undefined, failure: string | undefined): VariantResult[] {
  const label = ENGINE_LABEL[engine];
  return [
    latencyVariant(`${engine}-page`, `${label}: GET /api/v1/vms?limit=${PAGE_LIMIT} (one page, walking every page)`, run?.pageMs ?? [], failure),
    latencyVariant(`${engine}-get`, `${label}: GET /api/v1/vms/:name (random VMs)`, run?.getMs ?? [], failure),
    latencyVariant(`${engine}-create`, `${label}: POST /api/v1/vms accepted (202: placed, recorded, operation started), one at a time`, run?.creates.acceptedMs ?? [], failure, {
      concurrency: 1,
      ...(run ? { requestsPerSecond: createsPerSecond(run) } : {}),
    }),
  ];
}

function targetsOf(engine: Engine, run: EngineRun | undefined, failure: string | undefined): TargetResult[] {
  const label = ENGINE_LABEL[engine];
  const budgets = detectionBudgets();
  const descriptions = {
    get: `${label}: p99 of GET /api/v1/vms/:name at most ${TARGETS.getP99Ms} ms`,
    page: `${label}: p99 of one page of GET /api/v1/vms (limit ${PAGE_LIMIT}) at most ${TARGETS.pageP99Ms} ms`,
    cpu: `${label}: lease handling (every host renewing each second, HA stepping) under ${TARGETS.cpuPercent}% of one core`,
    suspect: `${label}: a host that stops renewing is suspect within ${formatMs(budgets.suspectMs)}`,
    failed: `${label}: a host that stops renewing is failed within ${formatMs(budgets.failedMs)}`,
  };
  if (!run) return Object.values(descriptions).map((description) => ({ description, met: null, detail: failure ?? 'not run' }));
  const p99 = (samples: number[]) => percentile(samples, 0.99);
  const getP99 = p99(run.getMs);
  const pageP99 = p99(run.pageMs);
  const hangText = (key: 'suspectMs' | 'failedMs') => run.hangs.map((h) => `${h.host}: ${h[key] === undefined ? 'never' : formatMs(h[key])}`).join(', ');
  const within = (key: 'suspectMs' | 'failedMs', budget: number) => run.hangs.length > 0 && run.hangs.every((h) => h[key] !== undefined && (h[key] as number) <= budget);
  return [
    { description: descriptions.get, met: getP99 === undefined ? null : getP99 <= TARGETS.getP99Ms, detail: `p99 ${formatMs(getP99)} over ${run.getMs.length} requests` },
    { description: descriptions.page, met: pageP99 === undefined ? null : pageP99 <= TARGETS.pageP99Ms, detail: `p99 ${formatMs(pageP99)} over ${run.pageMs.length} pages` },
    { description: descriptions.cpu, met: run.cpuPercent < TARGETS.cpuPercent, detail: `${run.cpuPercent}%, the median of ${run.cpuWindows.length} windows (${run.cpuWindows.join('%, ')}%); over all ${formatMs(run.windowMs)} user ${run.userPercent}%, system ${run.systemPercent}%, event loop busy ${run.loopPercent}%` },
    { description: descriptions.suspect, met: within('suspectMs', budgets.suspectMs), detail: hangText('suspectMs') },
    { description: descriptions.failed, met: within('failedMs', budgets.failedMs), detail: hangText('failedMs') },
  ];
}

function sideBySide(runs: Map<Engine, EngineRun>, errors: Map<Engine, string>): ResultTable {
  const cell = (engine: Engine, text: (run: EngineRun) => string) => {
    const run = runs.get(engine);
    return run ? text(run) : `- (${errors.get(engine) ?? 'not run'})`.slice(0, 120);
  };
  const ms = (n: number | undefined) => formatMs(n);
  const p = (samples: number[], f: number) => percentile(samples, f);
  const budgets = detectionBudgets();
  const hangCell = (key: 'suspectMs' | 'failedMs') => (run: EngineRun) => run.hangs.map((h) => (h[key] === undefined ? 'never' : ms(h[key]))).join(', ');
  const rows: Array<[string, (run: EngineRun) => string, string]> = [
    ['Hosts / VMs in the store', (r) => `${r.hosts} / ${r.vms}`, ''],
    ['Writing them (hosts in one transaction, VMs 5,000 a transaction; on PostgreSQL then VACUUM ANALYZE)', (r) => ms(r.seedMs), ''],
    ['Controller CPU while every host renews each second (% of one core; median of the windows)', (r) => `${r.cpuPercent}% (windows ${r.cpuWindows.join(', ')}; loop busy ${r.loopPercent}%)`, `< ${TARGETS.cpuPercent}%`],
    ['Renewals accepted in the window / sent; p99 latency', (r) => `${r.renewals.accepted} / ${r.renewals.sent}; ${r.renewals.latency.p99} ms`, ''],
    ['Hosts judged ok after the window; times the controller lost its own leader lease', (r) => `${r.livenessAfterWindow.ok ?? 0} of ${r.hosts}; ${r.leadershipLosses.total}`, 'all; 0'],
    [`GET /vms?limit=${PAGE_LIMIT}: p50 / p99`, (r) => `${ms(p(r.pageMs, 0.5))} / ${ms(p(r.pageMs, 0.99))}`, `p99 ≤ ${TARGETS.pageP99Ms} ms`],
    ['GET /vms/:name: p50 / p99', (r) => `${ms(p(r.getMs, 0.5))} / ${ms(p(r.getMs, 0.99))}`, `p99 ≤ ${TARGETS.getP99Ms} ms`],
    ['Creates accepted per second (one at a time); p50 of one', (r) => `${createsPerSecond(r)}/s; ${ms(p(r.creates.acceptedMs, 0.5))}`, ''],
    ['Stopped renewing → host.suspect (each hung host)', hangCell('suspectMs'), `≤ ${formatMs(budgets.suspectMs)}`],
    ['Stopped renewing → host.failed (each hung host)', hangCell('failedMs'), `≤ ${formatMs(budgets.failedMs)}`],
  ];
  return {
    title: 'SQLite and PostgreSQL side by side',
    description: 'The same controller, fleet and load on each engine, one after the other on this machine.',
    columns: ['Measure', ...ENGINES.map((e) => ENGINE_LABEL[e]), 'Target'],
    rows: rows.map(([name, text, target]) => [name, ...ENGINES.map((e) => cell(e, text)), target]),
  };
}

function notesOf(options: ScaleOptions, runs: Map<Engine, EngineRun>): string[] {
  const t = DEFAULT_HA_TIMINGS;
  const notes = [
    `Each engine in turn: a controller (startController; the SQLite file in a temporary data dir, or a new database on a private PostgreSQL 15 server, startLocalPostgres, fsync on) in its own process, with ${options.hosts} simulated hosts (sim-host-NNNN, each with an agent token, its agent API served by the simulated hosts' process, one shared pool) and ${options.vms} VMs (bench/lib/fleet.ts: the state mix of a busy installation, placed round-robin) written into its store; on PostgreSQL the two tables are then vacuumed (VACUUM ANALYZE), as autovacuum would have done long before an installation held 30,000 VMs, so that the change stamp's count(*) is an index-only scan. Host heartbeats (the controller polling agents) are not started. HA steps every ${HA_STEP_MS} ms. The HA benchmark's simulated hosts (bench/ha/lease-worker.ts, its own process) renew every host's lease once a second, spread over the second, and answer the controller's heartbeat-slot reads; their renewals list no VMs.`,
    `CPU: process.cpuUsage() of the controller process over ${CPU_WINDOWS} windows of ${formatMs(options.windowMs)} one after another, after 5 s of warm-up (the figure is their median: on this shared machine one window differs from the next by several points), with nothing but the renewals, HA's steps and its slot reads; this covers all the lease handling. The controller runs with the Node flags of \`bin/drover\` (${launcherNodeFlags().join(' ')}): a 64 MiB young generation lets each renewal, held about a second, die young instead of being promoted.`,
    `Reads, from the benchmark's process over one keep-alive connection, one request at a time, while every host renews, after ${READ_WARMUP_REQUESTS} unmeasured requests of each kind: ${options.pageSamples} pages of GET /api/v1/vms?limit=${PAGE_LIMIT}, walking the pages with \`after\` and starting over after the last (so shallow and deep pages alike), then ${options.getSamples} GET /api/v1/vms/:name of VMs picked at random. Latency from sending to the last byte of the answer.`,
    `Creates: POST /api/v1/vms (image tiny, 1 CPU, 256 MiB, no host named) one after another for ${formatMs(options.createMs)}. A 202 means the scheduler placed the VM (it reads the cluster view: every host and VM), the VM and its operation were recorded in one transaction and the operation started. The simulated hosts do not serve the agent's create, so every operation fails at its agent step afterwards and rolls back (the VM record is removed); the figure is the API's accept rate, not VMs defined on hosts per second.`,
    `Detection: as in the HA benchmark's lease-scale run, a host stops renewing (its heartbeat slot stops changing and reads sent through it hang); times from that moment to the controller's host.suspect and host.failed events. The first host is the one the controller reads the heartbeat slots through. Defaults: suspect after ${formatMs(t.suspectAfterMs)}, lease and storage heartbeat expiry ${formatMs(t.leaseExpiryMs)}; the budget adds one step (suspect) or a heartbeat interval and two steps (failed).`,
  ];
  for (const run of runs.values()) {
    const r = run.renewals;
    const after = run.renewalsAfterWindow;
    notes.push(
      `${ENGINE_LABEL[run.engine]}: renewals in the CPU window ${r.sent} sent, ${r.accepted} accepted, ${r.errors} unanswered, refused ${JSON.stringify(r.refused)}, ${r.skipped} skipped; latency p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms; liveness after it ${JSON.stringify(run.livenessAfterWindow)}.` +
        (after ? ` From then to the end (reads, creates, hangs): ${after.accepted} of ${after.sent} accepted, ${after.errors} unanswered, p99 ${after.latency.p99} ms, max ${after.latency.max} ms.` : '') +
        (run.leadershipLosses.total === 0
          ? ' The controller kept its own leader lease throughout.'
          : ` The controller lost its own leader lease ${run.leadershipLosses.total} time(s) (${run.leadershipLosses.inWindow} in the CPU window): its event loop held a renewal back past the lease, and until it led again it refused renewals (503, CONTROLLER_NOT_LEADER); HA was started again whenever it led again.`) +
        ` Creates answered ${JSON.stringify(run.creates.byStatus)}${run.creates.sampleErrors.length ? ` (${run.creates.sampleErrors.join('; ')})` : ''}. Hung hosts: ${run.hangs.map((h) => `${h.host} ended ${h.finalLiveness}, ${h.othersDisturbed.length} other host(s) disturbed`).join('; ')}.`,
    );
  }
  return notes;
}

/** The scale benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'scale',
  title: 'Scale: 1,000 hosts and 30,000 VMs on SQLite and PostgreSQL',
  description:
    'A controller with 1,000 simulated hosts renewing their leases every second and 30,000 VMs, on each store engine: its CPU, the latency of a GET /vms page and of GET /vms/:name, creates accepted per second, and the time to find a host that stops renewing.',
  options: [...Object.keys(OPTIONS), '--engine'],
  async run(ctx) {
    const options = parseOptions(ctx.args);
    const runs = new Map<Engine, EngineRun>();
    const errors = new Map<Engine, string>();
    const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-bench-scale-store-'));
    try {
      if (!options.engines.includes('sqlite')) errors.set('sqlite', 'not asked for (--engine)');
      else {
        try {
          runs.set('sqlite', await runEngine('sqlite', `sqlite:${path.join(dataDir, 'scale.db')}`, options, ctx.log));
        } catch (err) {
          errors.set('sqlite', errorText(err));
          ctx.log(`scale sqlite: ${errorText(err)}`);
        }
      }
      if (!options.engines.includes('postgresql')) errors.set('postgresql', 'not asked for (--engine)');
      else if (!postgresAvailable()) errors.set('postgresql', 'PostgreSQL 15 binaries not installed here');
      else {
        let server: LocalPostgres | undefined;
        try {
          server = await startLocalPostgres();
          runs.set('postgresql', await runEngine('postgresql', await server.createDatabase('scale'), options, ctx.log));
        } catch (err) {
          errors.set('postgresql', errorText(err));
          ctx.log(`scale postgresql: ${errorText(err)}`);
        } finally {
          await server?.stop();
        }
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    const variants = ENGINES.flatMap((e) => variantsOf(e, runs.get(e), errors.get(e)));
    const targets = ENGINES.flatMap((e) => targetsOf(e, runs.get(e), errors.get(e)));
    return {
      runs: 1,
      warmupRuns: 0,
      variants,
      targets,
      tables: [sideBySide(runs, errors)],
      notes: notesOf(options, runs),
      data: Object.fromEntries([...runs].map(([engine, run]) => [engine, { ...run, pageMs: undefined, getMs: undefined }])),
      procedure: `One run per engine, SQLite first, with ${options.hosts} hosts and ${options.vms} VMs: ${CPU_WINDOWS} CPU windows of ${formatMs(options.windowMs)}, then the reads, the creates and two hung hosts one after the other.`,
      ownLoad: 'The controller, the simulated hosts, the benchmark itself and (on PostgreSQL) the database server all run here and share the CPUs',
    };
  },
};
