import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectSetting, parseDurationMs } from './commands/ha.js';

test('ha settings set: durations in ms, s, m and h; keys of timings, guest monitoring and the relocation limit', () => {
  assert.deepEqual([parseDurationMs('1500'), parseDurationMs('1500ms'), parseDurationMs('6s'), parseDurationMs('0.5s'), parseDurationMs('2m'), parseDurationMs('1h')], [1500, 1500, 6000, 500, 120_000, 3_600_000]);
  assert.throws(() => parseDurationMs('6 seconds'), /not a duration/);
  let change = collectSetting('leaseExpiryMs=8s');
  change = collectSetting('maxResets=5', change);
  change = collectSetting('noAnswerResetMs=30s', change);
  change = collectSetting('relocationLimit=1', change);
  assert.deepEqual(change, { timings: { leaseExpiryMs: 8000 }, guestMonitoring: { maxResets: 5, noAnswerResetMs: 30_000 }, relocationLimit: 1 });
  assert.throws(() => collectSetting('leaseExpiry=8s'), /unknown setting leaseExpiry; known: leaseIntervalMs/);
  assert.throws(() => collectSetting('leaseExpiryMs'), /not KEY=VALUE/);
  assert.throws(() => collectSetting('relocationLimit=-1'), /whole number/);
});
