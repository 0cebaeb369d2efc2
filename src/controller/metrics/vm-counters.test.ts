import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmStats } from '../../vms/stats.js';
import { VmCounterReadings } from './vm-counters.js';

const stats = (name: string, over: Partial<VmStats> = {}): VmStats => ({
  name,
  cpuSeconds: 10,
  memoryRssBytes: 100,
  diskReadBytes: 1000,
  diskWriteBytes: 2000,
  netRxBytes: 3000,
  netTxBytes: 4000,
  ...over,
});
const on = (host: string, ...list: VmStats[]): Map<string, VmStats[]> => new Map([[host, list]]);

test('the first reading of a VM is exported as the host reports it', () => {
  const readings = new VmCounterReadings();
  assert.deepEqual(readings.update(on('h1', stats('a'))), [
    { hostId: 'h1', name: 'a', values: { cpuSeconds: 10, diskReadBytes: 1000, diskWriteBytes: 2000, netRxBytes: 3000, netTxBytes: 4000 } },
  ]);
});

test('a round where the guest agent or the monitor did not answer (figures at 0) keeps the last readings', () => {
  const readings = new VmCounterReadings();
  readings.update(on('h1', stats('a')));
  const missed = readings.update(on('h1', stats('a', { cpuSeconds: 11, diskReadBytes: 0, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 })))[0];
  assert.deepEqual(missed?.values, { cpuSeconds: 11, diskReadBytes: 1000, diskWriteBytes: 2000, netRxBytes: 3000, netTxBytes: 4000 });
  const back = readings.update(on('h1', stats('a', { cpuSeconds: 12, netRxBytes: 3500 })))[0];
  assert.deepEqual(back?.values, { cpuSeconds: 12, diskReadBytes: 1000, diskWriteBytes: 2000, netRxBytes: 3500, netTxBytes: 4000 });
});

test('a restarted QEMU (CPU time going down) resets every counter to what the new process reports', () => {
  const readings = new VmCounterReadings();
  readings.update(on('h1', stats('a')));
  const restarted = readings.update(on('h1', stats('a', { cpuSeconds: 1, diskReadBytes: 50, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 })))[0];
  assert.deepEqual(restarted?.values, { cpuSeconds: 1, diskReadBytes: 50, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 });
});

test('a new recorded pid is a restart even when the new process has already used more CPU', () => {
  const readings = new VmCounterReadings();
  readings.update(on('h1', stats('a')), () => 100);
  const samePid = readings.update(on('h1', stats('a', { cpuSeconds: 20, diskReadBytes: 10 })), () => 100)[0];
  assert.equal(samePid?.values.diskReadBytes, 1000);
  const newPid = readings.update(on('h1', stats('a', { cpuSeconds: 30, diskReadBytes: 10 })), () => 200)[0];
  assert.equal(newPid?.values.diskReadBytes, 10);
});

test('VMs are kept per host, and a VM no longer reported starts afresh when it comes back', () => {
  const readings = new VmCounterReadings();
  readings.update(new Map([['h1', [stats('a')]], ['h2', [stats('a', { diskReadBytes: 5 })]]]));
  const both = readings.update(new Map([['h1', [stats('a', { diskReadBytes: 0 })]], ['h2', [stats('a', { diskReadBytes: 6 })]]]));
  assert.deepEqual(both.map((r) => [r.hostId, r.values.diskReadBytes]), [['h1', 1000], ['h2', 6]]);
  readings.update(on('h2'));
  assert.equal(readings.update(on('h1', stats('a', { diskReadBytes: 7 })))[0]?.values.diskReadBytes, 7);
});
