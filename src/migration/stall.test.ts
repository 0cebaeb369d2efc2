import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StallWatch } from './stall.js';

test('a transfer that keeps moving, however slowly, never stalls; one that stops for the limit does', () => {
  let now = 0;
  const watch = new StallWatch(20_000, () => now);
  for (let bytes = 0; bytes < 10; bytes++) {
    now += 15_000;
    watch.observe(bytes * 100, 'memory');
  }
  now += 19_999;
  watch.observe(900, 'memory');
  now += 1;
  assert.throws(() => watch.observe(900, 'memory'), (err: Error & { code?: string }) => err.code === 'MIGRATION_STALLED' && /no memory reached the destination for 20 s/.test(err.message + String((err as { detail?: string }).detail)));
});
