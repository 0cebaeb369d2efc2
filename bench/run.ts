/**
 * `npm run bench [-- NAME... [--option VALUE...]]`: runs the registered benchmarks (or only those named) and writes
 * bench/results/<name>.json and .md plus summary.md. Options go to the benchmarks that declare them.
 * Environment: BENCH_RUNS (counted runs per variant, default 5), BENCH_WARMUP (uncounted runs first, default 1),
 * BENCH_ONLY (comma-separated benchmark names, when none is named), BENCH_RESULTS_DIR (default bench/results).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeAccelerator } from '../src/drivers/qemu/accel.js';
import { loadTinyImage } from '../src/images/tiny/build.js';
import { cacheDir, repoRoot, tinyImageDir } from '../src/shared/paths.js';
import { installInterruptCleanup } from './lib/cleanup.js';
import { setupLibvirt } from './lib/libvirt.js';
import { collectMachineFacts } from './lib/machine.js';
import { formatMs, writeResult, writeSummary } from './lib/report.js';
import type { Benchmark, BenchmarkContext, BenchmarkResult, MachineFacts } from './lib/types.js';

/** The benchmarks, in the order they run; each module exports `benchmark`. Add one with one line here. */
const BENCHMARKS: Array<{ name: string; load: () => Promise<{ benchmark: Benchmark }> }> = [
  { name: 'boot', load: () => import('./boot.js') },
  { name: 'api', load: () => import('./api.js') },
  { name: 'cli', load: () => import('./cli.js') },
  { name: 'scheduler', load: () => import('./scheduler.js') },
  { name: 'web', load: () => import('./web.js') },
  { name: 'migration', load: () => import('./migration.js') },
  { name: 'ha', load: () => import('./ha.js') },
  { name: 'containers', load: () => import('./containers.js') },
  { name: 'scale', load: () => import('./scale.js') },
  { name: 'failover', load: () => import('./failover.js') },
];

const log = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

/** The command line: benchmark names first, then options (`--name value` or `--name=value`), kept as given. */
function parseCommandLine(argv: string[]): { names: string[]; options: string[] } {
  const firstOption = argv.findIndex((arg) => arg.startsWith('-'));
  const names = firstOption === -1 ? argv : argv.slice(0, firstOption);
  return { names, options: firstOption === -1 ? [] : argv.slice(firstOption) };
}

function selectBenchmarks(named: string[]): typeof BENCHMARKS {
  const only = named.length ? named : process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!only?.length) return BENCHMARKS;
  const unknown = only.filter((name) => !BENCHMARKS.some((b) => b.name === name));
  if (unknown.length) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  return BENCHMARKS.filter((b) => only.includes(b.name));
}

/** Refuses an option that no selected benchmark declares, before any setup runs. */
async function checkOptions(selected: typeof BENCHMARKS, options: string[]): Promise<void> {
  const given = options.filter((arg) => arg.startsWith('--')).map((arg) => arg.split('=')[0] as string); // split() has a first element
  if (!given.length) return;
  const accepted = new Set<string>();
  for (const entry of selected) for (const option of (await entry.load()).benchmark.options ?? []) accepted.add(option);
  const unknown = given.filter((option) => !accepted.has(option));
  if (unknown.length) {
    throw new Error(`option(s) ${unknown.join(', ')} are taken by no selected benchmark${accepted.size ? ` (they take: ${[...accepted].join(', ')})` : ''}`);
  }
}

async function runOne(entry: (typeof BENCHMARKS)[number], ctx: BenchmarkContext, machine: MachineFacts): Promise<BenchmarkResult> {
  const started = Date.now();
  const date = new Date(started).toISOString();
  const loadAtStart = os.loadavg();
  const { benchmark } = await entry.load();
  const header = { name: benchmark.name, title: benchmark.title, description: benchmark.description, date, machine };
  log(`${benchmark.name}: ${benchmark.title}`);
  try {
    const outcome = await benchmark.run(ctx);
    return { ...header, ...outcome, durationMs: Date.now() - started, loadAverage: { start: loadAtStart, end: os.loadavg() } };
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`${benchmark.name} crashed: ${error}`);
    const loadAverage = { start: loadAtStart, end: os.loadavg() };
    return { ...header, runs: ctx.runs, warmupRuns: ctx.warmupRuns, variants: [], targets: [], notes: [], durationMs: Date.now() - started, loadAverage, error };
  }
}

/** Results of registered benchmarks that did not run this time, so summary.md stays complete. */
function previousResults(dir: string, ran: Set<string>): BenchmarkResult[] {
  const found: BenchmarkResult[] = [];
  for (const { name } of BENCHMARKS) {
    if (ran.has(name)) continue;
    try {
      found.push(JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8')) as BenchmarkResult);
    } catch {
      // Never run here yet.
    }
  }
  return found;
}

async function main(): Promise<number> {
  installInterruptCleanup();
  const runs = intFromEnv('BENCH_RUNS', 5, 1);
  const warmupRuns = intFromEnv('BENCH_WARMUP', 1, 0);
  const commandLine = parseCommandLine(process.argv.slice(2));
  const selected = selectBenchmarks(commandLine.names);
  await checkOptions(selected, commandLine.options);
  const resultsDir = path.resolve(process.env.BENCH_RESULTS_DIR ?? path.join(repoRoot, 'bench', 'results'));

  const tiny = await loadTinyImage(tinyImageDir());
  if (!tiny) throw new Error(`no tiny guest image in ${tinyImageDir()}; run \`bash scripts/setup\` (npm run bench does) first`);
  // The same probe and cache file the host agent uses, so every variant runs under the agent's accelerator.
  const accelerator = await probeAccelerator(tiny.kernel, path.join(cacheDir(), 'accelerator.json'));
  log(`accelerator: ${accelerator.accelerator} (${accelerator.reason})`);
  log('setting up libvirt (scripts/setup-libvirt)');
  const libvirt = await setupLibvirt(repoRoot);
  log(libvirt.available ? `libvirt ${libvirt.version}` : `libvirt unavailable: ${libvirt.reason}`);
  const machine = await collectMachineFacts(accelerator, libvirt);
  const ctx: BenchmarkContext = { repoRoot, runs, warmupRuns, tiny, accelerator, libvirt, args: commandLine.options, log };

  const results: BenchmarkResult[] = [];
  for (const entry of selected) {
    const result = await runOne(entry, ctx, machine);
    writeResult(resultsDir, result);
    results.push(result);
  }
  writeSummary(resultsDir, [...results, ...previousResults(resultsDir, new Set(results.map((r) => r.name)))]);

  for (const result of results) {
    for (const v of result.variants) log(`${result.name} / ${v.label}: median ${formatMs(v.median)} (${v.status}${v.reason ? `: ${v.reason}` : ''})`);
    for (const t of result.targets) log(`${result.name} target ${t.met === null ? 'not evaluated' : t.met ? 'met' : 'NOT met'}: ${t.description} (${t.detail})`);
  }
  log(`results in ${path.relative(process.cwd(), resultsDir) || '.'}/ (summary.md)`);
  // Targets are reported, not enforced; a crashed benchmark or a variant whose runs all failed is an error.
  const broken = results.some((r) => r.error !== undefined || r.variants.some((v) => v.status === 'failed'));
  return broken ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
