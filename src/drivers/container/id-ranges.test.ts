import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IdRanges, subordinateRange } from './id-ranges.js';

test('id blocks: the lowest free one, the same one again for the same container, given back on release, refused when all are taken', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-ids-'));
  try {
    const subuid = path.join(dir, 'subuid');
    fs.writeFileSync(subuid, 'alice:100000:65536\nroot:1000000000:196608\n');
    const ranges = new IdRanges(path.join(dir, 'ranges.json'), subuid, subuid);
    assert.deepEqual(subordinateRange(subuid), { start: 1_000_000_000, count: 196_608 });
    assert.equal(ranges.allocate('a'), 1_000_000_000);
    assert.equal(ranges.allocate('b'), 1_000_065_536);
    assert.equal(ranges.allocate('a'), 1_000_000_000);
    assert.equal(ranges.allocate('c'), 1_000_131_072);
    assert.throws(() => ranges.allocate('d'), (err: { code?: string }) => err.code === 'CONTAINER_ID_RANGES_EXHAUSTED');
    ranges.release('b');
    assert.equal(ranges.allocate('d'), 1_000_065_536);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('no range for root, or different uid and gid ranges: a clear DEPENDENCY_MISSING', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-ids-'));
  try {
    const empty = path.join(dir, 'subuid');
    fs.writeFileSync(empty, 'alice:100000:65536\n');
    assert.throws(() => new IdRanges(path.join(dir, 'r.json'), empty, empty).allocate('a'), /subuid/);
    const other = path.join(dir, 'subgid');
    fs.writeFileSync(other, 'root:2000000000:65536\n');
    fs.writeFileSync(empty, 'root:1000000000:65536\n');
    assert.throws(() => new IdRanges(path.join(dir, 'r.json'), empty, other).range(), (err: { code?: string }) => err.code === 'DEPENDENCY_MISSING');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
