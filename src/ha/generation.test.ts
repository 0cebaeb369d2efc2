import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkStartGeneration, newestAfterStart } from './generation.js';

test('a start or resume older than the newest generation is refused with a coded reason; equal or newer is allowed', () => {
  assert.deepEqual(checkStartGeneration('db', 3, undefined), { allowed: true });
  assert.deepEqual(checkStartGeneration('db', 3, 3), { allowed: true }, 'the same start sent twice starts one instance');
  assert.deepEqual(checkStartGeneration('db', 4, 3), { allowed: true });
  assert.deepEqual(checkStartGeneration('db', 2, 3), {
    allowed: false,
    code: 'HA_STALE_GENERATION',
    reason: 'VM db: generation 2 is older than generation 3, which HA started elsewhere after a failover; this instance must not run',
  });
  assert.equal(checkStartGeneration('db', 0, undefined).allowed, false, 'generations start at 1');
  assert.equal(checkStartGeneration('db', 1.5, 1).allowed, false);
});

test('the newest generation only ever rises', () => {
  assert.equal(newestAfterStart(undefined, 2), 2);
  assert.equal(newestAfterStart(5, 2), 5);
  assert.equal(newestAfterStart(5, 6), 6);
});
