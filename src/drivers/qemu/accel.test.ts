import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeAccelerator } from './accel.js';
import { loadTinyImage } from '../../images/tiny/build.js';
import { tinyImageDir } from '../../shared/paths.js';

test('the accelerator probe really boots a kernel under KVM, falls back to TCG, and caches its answer', async (t) => {
  const tiny = await loadTinyImage(tinyImageDir());
  if (!tiny) return t.skip('tiny image not built (run scripts/setup)');
  const saved = process.env.DROVER_ACCEL;
  delete process.env.DROVER_ACCEL;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-accel-'));
  try {
    const cache = path.join(dir, 'accelerator.json');
    const first = await probeAccelerator(tiny.kernel, cache);
    assert.match(first.accelerator, /^(kvm|tcg)$/);
    assert.ok(first.reason.length > 0);
    if (first.accelerator === 'tcg') assert.match(first.reason, /using TCG/);
    const second = await probeAccelerator(tiny.kernel, cache);
    assert.deepEqual(second, first, 'the second call answers from the cache');
    // A cache written under other conditions (another kernel, QEMU or boot) is not trusted.
    fs.writeFileSync(cache, JSON.stringify({ ...first, key: 'stale', reason: 'stale' }));
    const third = await probeAccelerator(tiny.kernel, cache);
    assert.notEqual(third.reason, 'stale');
  } finally {
    if (saved !== undefined) process.env.DROVER_ACCEL = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('DROVER_ACCEL forces the accelerator without probing', async () => {
  const saved = process.env.DROVER_ACCEL;
  process.env.DROVER_ACCEL = 'tcg';
  try {
    const probe = await probeAccelerator('/nonexistent', '/nonexistent/cache.json');
    assert.equal(probe.accelerator, 'tcg');
    assert.match(probe.reason, /DROVER_ACCEL/);
  } finally {
    if (saved === undefined) delete process.env.DROVER_ACCEL;
    else process.env.DROVER_ACCEL = saved;
  }
});
