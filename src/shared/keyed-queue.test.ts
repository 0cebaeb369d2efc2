import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { KeyedQueue } from './keyed-queue.js';

test('work for one key runs in order, one at a time, even when an earlier one fails; other keys do not wait', async () => {
  const queue = new KeyedQueue<number>();
  const log: string[] = [];
  const step = (name: string, ms: number, fail = false) => async () => {
    log.push(`${name}:start`);
    await delay(ms);
    log.push(`${name}:end`);
    if (fail) throw new Error(name);
    return name;
  };
  const first = queue.run(5, step('delete', 40, true));
  const second = queue.run(5, step('put', 1));
  const other = queue.run(6, step('other', 1));
  await assert.rejects(first, /delete/);
  assert.equal(await second, 'put');
  assert.equal(await other, 'other');
  assert.deepEqual(log.filter((l) => !l.startsWith('other')), ['delete:start', 'delete:end', 'put:start', 'put:end']);
  assert.ok(log.indexOf('other:end') < log.indexOf('delete:end'), 'another key ran meanwhile');
});
