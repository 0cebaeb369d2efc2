/**
 * Leader failover benchmark: two `drover controller` processes on one private PostgreSQL store, with the default leader
 * lease (`drover controller`'s default) unless `--lease-ms` says otherwise. The leader is killed with SIGKILL; the time until
 * the other one acts as leader (its own /metrics says `drover_controller_leader 1`) is measured, and until its
 * GET /api/v1/cluster/controllers names itself the leader with a live lease. The killed one is started again (it stands
 * by) and the next run kills the new leader; 10 runs by default (`--runs`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { postgresAvailable, startLocalPostgres, type LocalPostgres } from '../src/controller/store/postgres/local-server.js';
import { DEFAULT_LEADERSHIP_TIMINGS } from '../src/controller/leadership/leadership.js';
import { onInterrupt } from './lib/cleanup.js';
import { stopChild } from './lib/process.js';
import { formatMs } from './lib/report.js';
import { percentile, summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';

/** The p95 of kill → the other controller acts as leader must be at most this with the default lease. */
const TARGET_P95_MS = 10_000;
const DEFAULT_RUNS = 10;
/** How often the survivor is asked whether it leads. */
const POLL_MS = 50;
/** Give up on a takeover after this long past the lease. */
const TAKEOVER_SLACK_MS = 30_000;

interface FailoverOptions {
  runs: number;
  leaseMs: number;
}

function parseOptions(args: string[]): FailoverOptions {
  const options: FailoverOptions = { runs: DEFAULT_RUNS, leaseMs: DEFAULT_LEADERSHIP_TIMINGS.leaseMs };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string; // i < length
    const [name, raw] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, args[++i]];
    const value = Number(raw);
    if (name === '--runs' && Number.isInteger(value) && value >= 1) options.runs = value;
    else if (name === '--lease-ms' && Number.isInteger(value) && value >= 1000) options.leaseMs = value;
    else throw new Error(`failover takes --runs N (at least 1) and --lease-ms MS (at least 1000); got ${arg} ${raw ?? ''}`);
  }
  return options;
}

/** One `drover controller` process this benchmark started. */
interface ControllerProcess {
  name: string;
  dataDir: string;
  child: ChildProcess;
  url: string;
  forget: () => void;
}

interface RunResult {
  killed: string;
  survivor: string;
  /** Kill → the survivor's /metrics says it leads. */
  actsMs?: number;
  /** Kill → its GET /cluster/controllers names itself the leader with a live lease. */
  listedMs?: number;
  /** The fencing token before and after. */
  tokens: [number, number];
}

interface LeaderWire {
  id: string;
  token: number;
  expired: boolean;
}

interface ControllerListWire {
  controllers: Array<{ self: boolean; id?: string }>;
  leader: LeaderWire | null;
}

/** Starts `drover controller` on `store` and resolves once it prints its URL. */
function startControllerProcess(ctx: BenchmarkContext, name: string, dataDir: string, store: string, leaseMs: number): Promise<ControllerProcess> {
  const args = ['--import', 'tsx', path.join(ctx.repoRoot, 'src/cli/main.ts'), 'controller', '--store', store, '--port', '0', '--lease-ms', String(leaseMs), '--data-dir', dataDir, '--name', name];
  const child = spawn(process.execPath, args, { cwd: ctx.repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DROVER_LOG_LEVEL: 'error' } });
  const forget = onInterrupt(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`${name} did not start within 60 s: ${err.slice(-500)}`)), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      forget();
      reject(error);
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString('utf8')).slice(-4000);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /Drover controller listening on (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve({ name, dataDir, child, url: match[1] as string, forget });
      }
    });
    child.once('exit', (code, signal) => fail(new Error(`${name} exited (${signal ?? `code ${code}`}) before listening: ${err.slice(-500)}`)));
  });
}

async function api(url: string, token: string, route: string): Promise<Response> {
  return fetch(`${url}${route}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2_000) });
}

/** Whether the controller at `url` says, in its own metrics, that it leads. */
async function actsAsLeader(url: string, token: string): Promise<boolean> {
  const res = await api(url, token, '/metrics');
  if (!res.ok) return false;
  return /^drover_controller_leader 1$/m.test(await res.text());
}

async function controllerList(url: string, token: string): Promise<ControllerListWire | undefined> {
  const res = await api(url, token, '/api/v1/cluster/controllers');
  return res.ok ? ((await res.json()) as ControllerListWire) : undefined;
}

/** Whether the list `url` answers names itself the leader with a live lease. */
async function listedAsLeader(url: string, token: string): Promise<{ listed: boolean; token?: number }> {
  const list = await controllerList(url, token);
  const self = list?.controllers.find((c) => c.self)?.id;
  const leader = list?.leader;
  return { listed: leader !== null && leader !== undefined && !leader.expired && leader.id === self, ...(leader ? { token: leader.token } : {}) };
}

/** Waits until one of `controllers` acts as leader and returns it. */
async function currentLeader(controllers: ControllerProcess[], token: string, timeoutMs: number): Promise<ControllerProcess> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const c of controllers) if (await actsAsLeader(c.url, token).catch(() => false)) return c;
    await sleep(200);
  }
  throw new Error(`no controller acted as leader within ${timeoutMs / 1000} s`);
}

async function oneRun(ctx: BenchmarkContext, pair: ControllerProcess[], token: string, store: string, options: FailoverOptions, index: number): Promise<RunResult> {
  const leader = await currentLeader(pair, token, options.leaseMs * 3);
  const survivor = pair.find((c) => c !== leader) as ControllerProcess; // a pair: the other one
  const before = (await listedAsLeader(leader.url, token)).token ?? 0;
  // A random moment in the renewal period, so that the lease's age at the kill varies as it would.
  await sleep(Math.random() * Math.round(options.leaseMs / 5));
  const killedAt = performance.now();
  leader.child.kill('SIGKILL');
  const result: RunResult = { killed: leader.name, survivor: survivor.name, tokens: [before, 0] };
  const deadline = killedAt + options.leaseMs + TAKEOVER_SLACK_MS;
  while (performance.now() < deadline && (result.actsMs === undefined || result.listedMs === undefined)) {
    const [acts, listed] = await Promise.all([
      result.actsMs === undefined ? actsAsLeader(survivor.url, token).catch(() => false) : Promise.resolve(true),
      result.listedMs === undefined ? listedAsLeader(survivor.url, token).catch(() => ({ listed: false })) : Promise.resolve({ listed: true }),
    ]);
    const at = performance.now() - killedAt;
    if (acts) result.actsMs ??= Math.round(at);
    if (listed.listed) {
      result.listedMs ??= Math.round(at);
      if ('token' in listed && listed.token !== undefined) result.tokens[1] = listed.token;
    }
    await sleep(POLL_MS);
  }
  ctx.log(`failover run ${index}: killed ${leader.name}; ${survivor.name} acts as leader after ${formatMs(result.actsMs)}, listed as leader after ${formatMs(result.listedMs)}; fencing token ${result.tokens[0]} → ${result.tokens[1]}`);
  // Start the killed one again on its data dir (same controller id); it stands by.
  await stopChild(leader.child, 'SIGKILL');
  leader.forget();
  const restarted = await startControllerProcess(ctx, leader.name, leader.dataDir, store, options.leaseMs);
  pair[pair.indexOf(leader)] = restarted;
  return result;
}

function variant(name: string, label: string, samples: number[], failures: string[]): VariantResult {
  const result: VariantResult = { name, label, status: samples.length ? 'ok' : 'failed', unit: 'ms', samples, failures, ...summarize(samples) };
  const p95 = percentile(samples, 0.95);
  if (p95 !== undefined) result.p95 = p95;
  if (!samples.length) result.reason = failures.at(-1) ?? 'no samples';
  return result;
}

/** The failover benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'failover',
  title: 'Controller failover: time for a standby controller to take over from a killed leader',
  description: 'Two `drover controller` processes on one PostgreSQL store; the leader is killed with SIGKILL and the time until the other acts as leader is measured, 10 runs, with the default leader lease.',
  options: ['--runs', '--lease-ms'],
  async run(ctx) {
    const options = parseOptions(ctx.args);
    // As `drover controller --lease-ms` sets it.
    const renewMs = Math.min(2_000, Math.round(options.leaseMs / 4));
    const failures: string[] = [];
    const results: RunResult[] = [];
    if (!postgresAvailable()) {
      failures.push('PostgreSQL 15 binaries not installed here');
    } else {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-bench-failover-'));
      let server: LocalPostgres | undefined;
      const pair: ControllerProcess[] = [];
      try {
        server = await startLocalPostgres();
        const store = await server.createDatabase('failover');
        const dirs = ['a', 'b'].map((n) => path.join(root, n));
        // The first one writes the admin token and leads; the second, on the same store, gets none and stands by.
        pair.push(await startControllerProcess(ctx, 'controller-a', dirs[0] as string, store, options.leaseMs));
        pair.push(await startControllerProcess(ctx, 'controller-b', dirs[1] as string, store, options.leaseMs));
        const token = fs.readFileSync(path.join(dirs[0] as string, 'admin.token'), 'utf8').trim();
        for (let i = 1; i <= options.runs; i++) {
          try {
            results.push(await oneRun(ctx, pair, token, store, options, i));
          } catch (err) {
            const text = err instanceof Error ? err.message : String(err);
            failures.push(`run ${i}: ${text}`);
            ctx.log(`failover run ${i} failed: ${text}`);
          }
        }
      } catch (err) {
        failures.push(`setup: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        for (const c of pair) {
          await stopChild(c.child, 'SIGTERM', 10_000);
          c.forget();
        }
        await server?.stop();
        fs.rmSync(root, { recursive: true, force: true });
      }
    }
    const acts = results.flatMap((r) => (r.actsMs === undefined ? [] : [r.actsMs]));
    const listed = results.flatMap((r) => (r.listedMs === undefined ? [] : [r.listedMs]));
    const missing = results.filter((r) => r.actsMs === undefined).map((r) => `${r.survivor} never took over from ${r.killed}`);
    const variants = [
      variant('acts-as-leader', 'kill -9 of the leader → the other controller acts as leader (its /metrics: drover_controller_leader 1)', acts, [...failures, ...missing]),
      variant('listed-as-leader', 'kill -9 of the leader → GET /cluster/controllers on the other names it leader, lease live', listed, failures),
    ];
    const p95 = percentile(acts, 0.95);
    const isDefault = options.leaseMs === DEFAULT_LEADERSHIP_TIMINGS.leaseMs;
    const targets: TargetResult[] = [
      {
        description: `p95 of kill → the other controller acts as leader at most ${formatMs(TARGET_P95_MS)}, with the default lease (${formatMs(DEFAULT_LEADERSHIP_TIMINGS.leaseMs)})`,
        met: p95 === undefined || !isDefault ? null : p95 <= TARGET_P95_MS,
        detail: !isDefault ? `not evaluated: run with --lease-ms ${options.leaseMs}` : `p95 ${formatMs(p95)} over ${acts.length} runs (median ${formatMs(variants[0]?.median)}, max ${formatMs(variants[0]?.max)})`,
      },
      { description: 'Every takeover raises the fencing token', met: results.length ? results.every((r) => r.tokens[1] > r.tokens[0]) : null, detail: results.map((r) => `${r.tokens[0]}→${r.tokens[1]}`).join(', ') || 'no runs' },
    ];
    return {
      runs: options.runs,
      warmupRuns: 0,
      variants,
      targets,
      notes: [
        `Leader lease ${formatMs(options.leaseMs)}, renewed every ${formatMs(renewMs)} (\`drover controller --lease-ms ${options.leaseMs}\`; the default is ${formatMs(DEFAULT_LEADERSHIP_TIMINGS.leaseMs)}). A standby can take the lease only once it has lapsed, and tries the moment it would, so a takeover comes between lease − renew (the leader renewed just before it died) and the lease itself after the kill: here ${formatMs(options.leaseMs - renewMs)} to ${formatMs(options.leaseMs)}, plus the store round trips and this benchmark's polling.`,
        `Two \`drover controller\` processes (node --import tsx src/cli/main.ts controller --store URL --port 0 --lease-ms ${options.leaseMs} --data-dir DIR) on a new database of a private PostgreSQL 15 server (startLocalPostgres). The leader is found from each one's /metrics, then killed with SIGKILL at a random moment within a renewal period; the survivor's /metrics and GET /api/v1/cluster/controllers are read every ${POLL_MS} ms (each figure late by up to that plus a request). The killed controller is then started again on its data dir (same controller id) and stands by; the next run kills whichever leads, so the two alternate.`,
        ...results.map((r, i) => `Run ${i + 1}: ${r.killed} killed; ${r.survivor} acts as leader after ${formatMs(r.actsMs)}, listed after ${formatMs(r.listedMs)}; fencing token ${r.tokens[0]} → ${r.tokens[1]}.`),
      ],
      procedure: `${options.runs} runs, each: find the leader, kill it with SIGKILL, time the takeover, start the killed one again.`,
      ownLoad: 'Two controllers, PostgreSQL and the benchmark, all mostly idle',
    };
  },
};
