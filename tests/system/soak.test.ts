/**
 * A few trials of the HA soak in CI (`npm run soak -- ha --trials 1`): each host fault once on a
 * 3-host testbed; no VM lost, none run twice. The full soak (`--trials 50`) is `npm run soak`'s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/shared/exec.js';
import { repoRoot } from '../../src/shared/paths.js';

test('HA soak, one trial of each fault: no VM lost, none run twice', { timeout: 900_000 }, async () => {
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-soak-'));
  try {
    const soak = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/soak.ts'), 'ha', '--trials', '1'], {
      cwd: repoRoot,
      env: { ...process.env, BENCH_RESULTS_DIR: results },
      allowFailure: true,
      timeoutMs: 880_000,
    });
    assert.equal(soak.code, 0, `${soak.stdout}\n${soak.stderr.slice(-4000)}`);
    const report = fs.readFileSync(path.join(results, 'soak-ha.md'), 'utf8');
    assert.match(report, /VMs lost/i);
    console.log(report.split('\n').filter((line) => /^\|/.test(line)).join('\n'));
  } finally {
    fs.rmSync(results, { recursive: true, force: true });
  }
});
