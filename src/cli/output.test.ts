import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatTable, renderProgress } from './output.js';

describe('formatTable', () => {
  const rows = [
    { name: 'web', state: 'running', cpus: 2 },
    { name: 'database-primary', state: 'stopped', cpus: undefined },
  ];
  const columns = { name: (r: (typeof rows)[number]) => r.name, state: (r: (typeof rows)[number]) => r.state, cpus: (r: (typeof rows)[number]) => r.cpus };

  it('aligns columns to the widest cell, with upper-case headers and "-" for missing values', () => {
    assert.equal(
      formatTable(rows, columns),
      ['NAME              STATE    CPUS', 'web               running  2', 'database-primary  stopped  -', ''].join('\n'),
    );
  });

  it('prints only the header line for no rows', () => {
    assert.equal(formatTable([], columns), 'NAME  STATE  CPUS\n');
  });

  it('keeps headers with spaces as they are, just upper-cased', () => {
    assert.equal(formatTable([{ n: 1 }], { 'on disk': (r) => r.n }), 'ON DISK\n1\n');
  });
});

describe('renderProgress', () => {
  it('draws the bar, the percentage and the message', () => {
    assert.equal(renderProgress(0.5, 'copying disk', 10), '[#####.....]  50%  copying disk');
    assert.equal(renderProgress(0, '', 4), '[....]   0%');
    assert.equal(renderProgress(1, 'done', 4), '[####] 100%  done');
  });

  it('clamps out-of-range and non-finite progress', () => {
    assert.equal(renderProgress(1.7, '', 4), '[####] 100%');
    assert.equal(renderProgress(-1, '', 4), '[....]   0%');
    assert.equal(renderProgress(Number.NaN, '', 4), '[....]   0%');
  });
});

describe('formatBytes', () => {
  it('uses binary units', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(10 * 1024 ** 3), '10 GiB');
  });
});
