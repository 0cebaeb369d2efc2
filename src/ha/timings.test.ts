import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { assertHaConfig, DEFAULT_HA_CONFIG, DEFAULT_HA_TIMINGS, haConfigProblems } from './timings.js';

test('the defaults are consistent and restart within seconds: fence path from 6 s, watchdog path at 15 s', () => {
  assert.deepEqual(haConfigProblems(DEFAULT_HA_CONFIG), []);
  const t = DEFAULT_HA_TIMINGS;
  assert.equal(t.leaseExpiryMs + t.selfFenceMs + t.safetyMarginMs, 15_000, 'the issue\'s target: running elsewhere within 20 s by lease expiry');
  assert.ok(t.leaseExpiryMs < 15_000, 'declared failed sooner than vSphere HA (15 s)');
});

test('an inconsistent configuration is refused with every problem named', () => {
  const config = { ...DEFAULT_HA_CONFIG, relocationLimit: -1, timings: { ...DEFAULT_HA_TIMINGS, suspectAfterMs: 20_000, selfFenceMs: 0 } };
  assert.deepEqual(haConfigProblems(config), [
    'suspectAfterMs must be below leaseExpiryMs',
    'selfFenceMs must be above 0: an agent needs time to kill its guests',
    'relocationLimit must be a whole number, 0 or more',
  ]);
  assert.throws(() => assertHaConfig(config), (err) => isDroverError(err, 'INVALID_ARGUMENT') && /suspectAfterMs must be below leaseExpiryMs/.test(err.message));
});
