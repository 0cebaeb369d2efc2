import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { POOL_MARKER, sharedPool } from './pools.js';

test('one directory is one pool for every host; another directory is another pool; an unusable one is none', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-pools-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const nas = path.join(root, 'nas');
  const other = path.join(root, 'other');
  fs.mkdirSync(nas);
  fs.mkdirSync(other);
  const first = sharedPool(nas);
  const second = sharedPool(nas);
  assert.equal(first?.kind, 'shared');
  assert.match(first?.name ?? '', /^shared:[0-9a-f-]{8}$/);
  assert.deepEqual(second, first, 'a second host reading the same marker reports the same pool');
  assert.notEqual(sharedPool(other)?.name, first?.name, 'a different directory is a different pool');
  assert.deepEqual(fs.readdirSync(nas), [POOL_MARKER], 'the probe file is removed');
  assert.equal(sharedPool(path.join(root, 'missing')), undefined);
  fs.writeFileSync(path.join(other, POOL_MARKER), 'not json');
  assert.equal(sharedPool(other), undefined);
});
