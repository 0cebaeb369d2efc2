/**
 * Where the CLI's startup goes: the time to import each compiled command module alone in a fresh Node.js process,
 * over bare Node.js startup. main.js imports every command group up front, so each of these is paid by every command.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { runCommand } from '../lib/process.js';
import { median } from '../lib/stats.js';

/** Rounds of fresh processes; each round runs bare Node.js and every module once, so load drift hits all alike. */
const ROUNDS = 5;

/** A command module and the median extra time importing it costs over `node -e ''`. */
export interface ImportCost {
  module: string;
  extraMs: number;
}

async function timeNode(args: string[]): Promise<number> {
  const started = performance.now();
  const result = await runCommand(process.execPath, args, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`node ${args.join(' ')} exited ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`);
  return performance.now() - started;
}

/** The import cost of every module in dist/cli/commands, most expensive first (dist/ must be built). */
export async function commandImportCosts(repoRoot: string): Promise<ImportCost[]> {
  const dir = path.join(repoRoot, 'dist', 'cli', 'commands');
  const modules = fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
  const runs = [['-e', ''], ...modules.map((m) => ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(path.join(dir, m)).href)});`])];
  const samples = runs.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, args] of runs.entries()) samples[index]?.push(await timeNode(args));
  }
  const [baseline = Number.NaN, ...medians] = samples.map((s) => median(s) ?? Number.NaN);
  return modules.map((m, index) => ({ module: `commands/${m}`, extraMs: (medians[index] ?? Number.NaN) - baseline })).sort((a, b) => b.extraMs - a.extraMs);
}
