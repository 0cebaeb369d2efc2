import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventWire } from '../controller/events/schema.js';
import { formatEvent } from './commands/events.js';
import { ago, cpuModelSummary } from './commands/host.js';
import { ApiError } from './client.js';
import { closeError, exitCodeOf } from './commands/vm-console.js';

describe('exitCodeOf', () => {
  it("passes the guest command's exit code through, and signals as 128 + n", () => {
    assert.equal(exitCodeOf({ exitCode: 0 }), 0);
    assert.equal(exitCodeOf({ exitCode: 3 }), 3);
    assert.equal(exitCodeOf({ exitCode: 0, signal: 9 }), 137);
    assert.equal(exitCodeOf({ exitCode: -1 }), 1);
    assert.equal(exitCodeOf({ exitCode: 300 }), 1);
  });
});

describe('ago', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  it('says roughly how long ago', () => {
    assert.equal(ago(null, now), 'never');
    assert.equal(ago('2024-05-01T11:59:55Z', now), '5s ago');
    assert.equal(ago('2024-05-01T11:50:00Z', now), '10m ago');
    assert.equal(ago('2024-05-01T09:00:00Z', now), '3h ago');
    assert.equal(ago('2024-04-28T12:00:00Z', now), '3d ago');
  });
});

describe('formatEvent', () => {
  it('shows time, action, object, result, actor and a short detail', () => {
    const event: EventWire = {
      id: 1,
      time: '2024-05-01T12:00:00.000Z',
      actor: 'admin',
      object: { type: 'vm', id: 'v1', name: 'web' },
      action: 'vm.start',
      hostId: null,
      result: 'success',
      requestId: null,
      detail: { host: 'local' },
    };
    const line = formatEvent(event);
    assert.match(line, /^2024-05-01T12:00:00.000Z {2}vm\.start\s+vm\/web\s+success\s+by admin {2}\{"host":"local"\}$/);
    assert.doesNotMatch(formatEvent({ ...event, detail: { long: 'x'.repeat(300) } }), /xxxx/);
  });
});

describe('closeError', () => {
  it('finds the coded error behind a 4xxx close by its message', () => {
    const err = closeError(4404, 'No such VM. Run `drover vm list` to see them. (nope)');
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'VM_NOT_FOUND');
    assert.equal(err.status, 404);
    assert.equal(err.detail, 'nope');
    assert.equal((closeError(4409, 'The VM is not running. Start it first. (web)') as ApiError).code, 'VM_NOT_RUNNING');
  });

  it('keeps an unknown reason as the message, and names other close codes', () => {
    const err = closeError(4500, 'something odd') as ApiError;
    assert.equal(err.code, 'INTERNAL');
    assert.equal(err.message, 'something odd');
    assert.match(closeError(1011, 'console unavailable').message, /closed with code 1011: console unavailable/);
  });
});

describe('cpuModelSummary', () => {
  it('lists a few models in full and summarizes a TCG host\'s long list', () => {
    assert.equal(cpuModelSummary(['qemu64', 'kvm64']), 'qemu64, kvm64');
    assert.equal(cpuModelSummary(['*']), 'any');
    assert.equal(cpuModelSummary([]), 'not reported');
    const long = ['486', '486-v1', 'Broadwell', 'Broadwell-v1', 'EPYC', 'Haswell', 'Nehalem', 'Nehalem-v1', 'qemu64', 'max'];
    assert.equal(cpuModelSummary(long), '10 models: 486, Broadwell, EPYC, Haswell, Nehalem, qemu64, ... (-o json lists all)');
  });
});
