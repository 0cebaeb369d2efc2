/**
 * `npm run soak -- NAME [--trials N]`: repeats a soak's faults N times (default 3, a few for CI) and writes
 * bench/results/soak-NAME.json and .md (BENCH_RESULTS_DIR overrides the directory). Unlike the benchmarks, a soak
 * exits non-zero when one of its goals did not hold (say, a VM lost or run twice), so CI can run it.
 */
import os from 'node:os';
import path from 'node:path';
import { probeAccelerator } from '../src/drivers/qemu/accel.js';
import { loadTinyImage } from '../src/images/tiny/build.js';
import { cacheDir, repoRoot, tinyImageDir } from '../src/shared/paths.js';
import { installInterruptCleanup } from './lib/cleanup.js';
import { collectMachineFacts } from './lib/machine.js';
import { writeResult } from './lib/report.js';
import type { BenchmarkResult, Soak } from './lib/types.js';

/** The soaks; each module exports `soak`. Add one with one line here. */
const SOAKS: Array<{ name: string; load: () => Promise<{ soak: Soak }> }> = [{ name: 'ha', load: () => import('./soak/ha.js') }];

const DEFAULT_TRIALS = 3;

const log = (message: string): void => {
  process.stderr.write(`[soak] ${message}\n`);
};

function parseArgs(argv: string[]): { name: string; trials: number } {
  const usage = `usage: npm run soak -- NAME [--trials N]; soaks: ${SOAKS.map((s) => s.name).join(', ')}`;
  let name: string | undefined;
  let trials = DEFAULT_TRIALS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string; // i < length
    if (arg === '--trials') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error(`--trials needs a whole number of 1 or more; ${usage}`);
      trials = value;
    } else if (!arg.startsWith('-') && name === undefined) {
      name = arg;
    } else {
      throw new Error(`unexpected argument ${arg}; ${usage}`);
    }
  }
  if (!name) throw new Error(usage);
  if (!SOAKS.some((s) => s.name === name)) throw new Error(`no soak named ${name}; ${usage}`);
  return { name, trials };
}

async function main(): Promise<number> {
  installInterruptCleanup();
  const { name, trials } = parseArgs(process.argv.slice(2));
  const resultsDir = path.resolve(process.env.BENCH_RESULTS_DIR ?? path.join(repoRoot, 'bench', 'results'));
  const tiny = await loadTinyImage(tinyImageDir());
  if (!tiny) throw new Error(`no tiny guest image in ${tinyImageDir()}; run \`bash scripts/setup\` (npm run soak does) first`);
  const accelerator = await probeAccelerator(tiny.kernel, path.join(cacheDir(), 'accelerator.json'));
  const machine = await collectMachineFacts(accelerator, { available: false, reason: 'not used by the soaks' });
  const { soak } = await (SOAKS.find((s) => s.name === name) as (typeof SOAKS)[number]).load(); // parseArgs checked the name
  const started = Date.now();
  const loadAtStart = os.loadavg();
  log(`${soak.name}: ${soak.title}, ${trials} trial(s) of each fault`);
  const header = { name: `soak-${soak.name}`, title: soak.title, description: soak.description, date: new Date(started).toISOString(), machine };
  let result: BenchmarkResult;
  let passed = false;
  try {
    const outcome = await soak.run({ repoRoot, trials, log });
    passed = outcome.passed;
    const { passed: _passed, ...rest } = outcome;
    result = { ...header, ...rest, durationMs: Date.now() - started, loadAverage: { start: loadAtStart, end: os.loadavg() } };
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`${soak.name} crashed: ${error}`);
    result = { ...header, runs: trials, warmupRuns: 0, variants: [], targets: [], notes: [], durationMs: Date.now() - started, loadAverage: { start: loadAtStart, end: os.loadavg() }, error };
  }
  writeResult(resultsDir, result);
  for (const t of result.targets) log(`${soak.name} goal ${t.met === null ? 'not evaluated' : t.met ? 'met' : 'NOT met'}: ${t.description} (${t.detail})`);
  log(`results in ${path.relative(process.cwd(), resultsDir) || '.'}/${result.name}.md`);
  return passed ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (err) {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
