/**
 * CLI benchmark: what a `drover` command costs on top of the HTTP request it makes. Against a real controller with
 * 1,000 VMs in its store, `drover vm list/show -o json` are timed against curl asking the same thing, and
 * `drover --version` and bare Node.js show how much of that is process startup. Each run is a fresh process,
 * timed from spawn to exit; runs are interleaved command by command.
 */
import { performance } from 'node:perf_hooks';
import { seededRandom } from './api/random.js';
import { ensureCliBuilt } from './cli/build.js';
import { OVERHEAD_PAIRS, timedCommands, type TimedCommand } from './cli/commands.js';
import { commandImportCosts } from './cli/startup.js';
import { runCommand } from './lib/process.js';
import { formatMs } from './lib/report.js';
import { startSeededController } from './lib/seeded-controller.js';
import { percentile, summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, VariantResult } from './lib/types.js';

/** At least this many counted runs per command (BENCH_RUNS counts when it is higher). */
const MIN_RUNS = 20;
const COMMAND_TIMEOUT_MS = 60_000;

interface CommandRun {
  command: TimedCommand;
  result: VariantResult;
  active: boolean;
}

/** Runs the command once; resolves with its wall time, or throws with what went wrong. */
async function timeOnce(command: TimedCommand, vm: string, repoRoot: string): Promise<number> {
  const started = performance.now();
  const result = await runCommand(command.file, command.args(vm), { cwd: repoRoot, env: command.env, timeoutMs: COMMAND_TIMEOUT_MS });
  const ms = performance.now() - started;
  if (result.code !== 0) throw new Error(`exited ${result.code}: ${(result.stderr.trim() || result.stdout.trim()).split('\n').slice(0, 2).join(' | ').slice(0, 300)}`);
  const wrong = command.check(result.stdout, vm);
  if (wrong) throw new Error(wrong);
  return ms;
}

/** One run of each command first: one that cannot work here (curl missing, `vm list` not built) is unavailable. */
async function probe(runs: CommandRun[], vm: string, ctx: BenchmarkContext): Promise<void> {
  for (const run of runs) {
    try {
      await timeOnce(run.command, vm, ctx.repoRoot);
      run.active = true;
    } catch (err) {
      const missing = (err as Error).message.includes('ENOENT');
      run.result.status = 'unavailable';
      run.result.reason = missing ? `${run.command.file} is not installed` : (err as Error).message;
      ctx.log(`cli ${run.command.name}: unavailable: ${run.result.reason}`);
    }
  }
}

async function runInterleaved(runs: CommandRun[], vmNames: readonly string[], counted: number, warmup: number, ctx: BenchmarkContext): Promise<void> {
  const random = seededRandom(7);
  for (let round = 0; round < warmup + counted; round++) {
    const vm = vmNames[Math.floor(random() * vmNames.length)] ?? '';
    for (const run of runs.filter((r) => r.active)) {
      try {
        const ms = await timeOnce(run.command, vm, ctx.repoRoot);
        if (round >= warmup) run.result.samples.push(Math.round(ms * 100) / 100);
      } catch (err) {
        run.result.failures.push(`round ${round + 1}: ${(err as Error).message}`);
      }
    }
  }
}

function finish(result: VariantResult): VariantResult {
  if (result.status === 'ok' && result.samples.length === 0) {
    result.status = 'failed';
    result.reason = `every run failed; last: ${result.failures.at(-1) ?? 'none'}`;
  }
  return { ...result, ...summarize(result.samples), p90: percentile(result.samples, 0.9) };
}

/** "drover vm list -o json: 412.3 ms vs curl 25.1 ms, overhead 387.2 ms (16.4×)", or why it cannot be said. */
function overheadNote(drover: VariantResult | undefined, curl: VariantResult | undefined): string {
  if (!drover || !curl) return 'Overhead: not measured (a command of the pair is not defined).';
  if (drover.median === undefined || curl.median === undefined) {
    const absent = drover.median === undefined ? drover : curl;
    return `Overhead of ${drover.label} over ${curl.label}: not measured (${absent.label}: ${absent.status}${absent.reason ? `: ${absent.reason}` : ''}).`;
  }
  const overhead = drover.median - curl.median;
  return `Overhead of ${drover.label} over ${curl.label}: ${formatMs(overhead)} (medians ${formatMs(drover.median)} vs ${formatMs(curl.median)}, ${(drover.median / curl.median).toFixed(1)}×).`;
}

/** The CLI benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'cli',
  title: 'CLI round trip: drover vs curl',
  description:
    'Wall time of `drover vm list -o json` and `drover vm show NAME -o json` against curl fetching the same API routes from a controller with 1,000 VMs, with `drover --version` and bare Node.js for the startup share.',
  async run(ctx) {
    const counted = Math.max(MIN_RUNS, ctx.runs);
    const warmup = Math.max(1, ctx.warmupRuns);
    const buildNote = await ensureCliBuilt(ctx.repoRoot, ctx.log);
    const seeded = await startSeededController('cli');
    let runs: CommandRun[] = [];
    try {
      const commands = timedCommands(ctx.repoRoot, { url: seeded.url, token: seeded.token, vmCount: seeded.vmNames.length });
      runs = commands.map((command) => ({ command, active: false, result: { name: command.name, label: command.label, status: 'ok', unit: 'ms', samples: [], failures: [] } }));
      await probe(runs, seeded.vmNames[0] ?? '', ctx);
      await runInterleaved(runs, seeded.vmNames, counted, warmup, ctx);
    } finally {
      await seeded.close();
    }
    const variants = runs.map((run) => finish(run.result));
    ctx.log('cli: timing the import of each command module');
    const imports = await commandImportCosts(ctx.repoRoot).catch((err: unknown) => (err as Error).message);
    for (const v of variants) ctx.log(`cli ${v.name}: median ${formatMs(v.median)}, p90 ${formatMs(v.p90)}`);
    const byName = (name: string) => variants.find((v) => v.name === name);
    return {
      runs: counted,
      warmupRuns: warmup,
      variants,
      targets: [],
      notes: [
        ...OVERHEAD_PAIRS.map(([drover, curl]) => overheadNote(byName(drover), byName(curl))),
        `Each run is a new process, timed from spawn to exit. ./bin/drover is a sh launcher that execs \`node --enable-source-maps dist/cli/main.js\`; curl runs with -sS --fail. Both ask the controller running in the benchmark's own process over 127.0.0.1, each on a new connection.`,
        `The VM for show is drawn per round with a seeded random generator; drover and curl ask for the same VM in a round.`,
        typeof imports === 'string'
          ? `Startup share per command module: not measured (${imports}).`
          : `Startup share: importing each command module alone in a fresh Node.js process costs, over \`node -e ''\` (medians of 5 interleaved rounds): ${imports.map((c) => `${c.module} ${formatMs(c.extraMs)}`).join(', ')}. main.js imports them all, whichever command runs.`,
        `Build: ${buildNote}`,
      ],
      procedure: `${counted} counted runs per command after ${warmup} warm-up round(s) and one probe run each, commands interleaved run by run.`,
      ownLoad: 'The command being timed, with the controller answering it, accounts for about 1',
    };
  },
};
