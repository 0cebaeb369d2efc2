/** Makes sure ./bin/drover runs the current sources: rebuilds dist/ when a source file is newer than it. */
import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../lib/process.js';

/** The newest modification time (ms) of the files under `dir` that tsconfig.build.json compiles. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (file.includes(`${path.sep}web${path.sep}`)) continue;
    newest = Math.max(newest, fs.statSync(file).mtimeMs);
  }
  return newest;
}

function builtAt(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Rebuilds dist/ with `tsc -p tsconfig.build.json` when dist/cli/main.js is missing or older than a source file
 * (`npm run bench` has just built it in scripts/setup; BENCH_ONLY runs skip that). Returns a note for the results.
 */
export async function ensureCliBuilt(repoRoot: string, log: (message: string) => void): Promise<string> {
  const main = path.join(repoRoot, 'dist', 'cli', 'main.js');
  if (builtAt(main) >= newestSource(path.join(repoRoot, 'src'))) return 'dist/ was up to date with src/.';
  log('cli: dist/ is older than src/; building (tsc -p tsconfig.build.json)');
  const tsc = path.join(repoRoot, 'node_modules', '.bin', 'tsc');
  const result = await runCommand(tsc, ['-p', 'tsconfig.build.json'], { cwd: repoRoot, timeoutMs: 600_000 });
  if (result.code === 0) return 'dist/ was older than src/ and was rebuilt first.';
  // tsc still writes what it can; the probe run of each variant then shows whether the CLI works.
  const first = result.stdout.split('\n').find((line) => line.includes('error')) ?? `exit code ${result.code}`;
  return `dist/ was older than src/; the rebuild reported type errors (first: ${first.trim()}), and the CLI ran as emitted.`;
}
