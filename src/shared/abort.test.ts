import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onAbort } from './abort.js';

test('onAbort runs at once for a signal that has already aborted', () => {
  const controller = new AbortController();
  controller.abort();
  let calls = 0;
  onAbort(controller.signal, () => calls++);
  assert.equal(calls, 1);
});

test('onAbort runs once on a later abort, and not after it stopped listening', () => {
  const first = new AbortController();
  let calls = 0;
  onAbort(first.signal, () => calls++);
  first.abort();
  first.abort();
  assert.equal(calls, 1);
  const second = new AbortController();
  const stop = onAbort(second.signal, () => calls++);
  stop();
  second.abort();
  assert.equal(calls, 1);
});
