import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmStats } from '../../vms/stats.js';
import { MetricsHistory } from './history.js';

const stats = (name: string, over: Partial<VmStats> = {}): VmStats => ({
  name,
  cpuSeconds: 0,
  memoryRssBytes: 100 * 2 ** 20,
  diskReadBytes: 0,
  diskWriteBytes: 0,
  netRxBytes: 0,
  netTxBytes: 0,
  ...over,
});

/** A fake heartbeat source and clock: `beat` replaces the host's figures as HostService does. */
function setup(options: { retentionMs?: number; maxSamples?: number } = {}) {
  const source = new Map<string, VmStats[]>();
  let now = 1_000_000;
  const history = new MetricsHistory(() => source, { ...options, now: () => now });
  return {
    history,
    beat: (at: number, figures: VmStats[], host = 'h1') => {
      now = at;
      source.set(host, figures);
      history.sample();
    },
    tick: (at: number) => {
      now = at;
      history.sample();
    },
  };
}

test('rates come from counter differences over the time between heartbeats; the first sample has none', () => {
  const { history, beat } = setup();
  beat(1_000_000, [stats('a', { cpuSeconds: 10, diskReadBytes: 1000, diskWriteBytes: 0, netRxBytes: 500, netTxBytes: 100 })]);
  beat(1_002_000, [stats('a', { cpuSeconds: 11, diskReadBytes: 5000, diskWriteBytes: 2048, netRxBytes: 2500, netTxBytes: 100, memoryRssBytes: 200 })]);
  const series = history.read('a');
  assert.deepEqual(series.time, [1_000_000, 1_002_000]);
  assert.deepEqual(series.cpuPercent, [null, 50]);
  assert.deepEqual(series.memoryBytes, [100 * 2 ** 20, 200]);
  assert.deepEqual(series.diskReadBytesPerSecond, [null, 2000]);
  assert.deepEqual(series.diskWriteBytesPerSecond, [null, 1024]);
  assert.deepEqual(series.networkReceiveBytesPerSecond, [null, 1000]);
  assert.deepEqual(series.networkTransmitBytesPerSecond, [null, 0]);
});

test('the same heartbeat is recorded once however often the source is checked', () => {
  const { history, beat, tick } = setup();
  beat(1_000_000, [stats('a', { cpuSeconds: 1 })]);
  tick(1_000_100);
  tick(1_000_900);
  beat(1_002_000, [stats('a', { cpuSeconds: 2 })]);
  assert.equal(history.read('a').time.length, 2);
});

test('a QEMU restart (CPU time going down) gives no rate for that interval instead of a negative one', () => {
  const { history, beat } = setup();
  beat(1_000_000, [stats('a', { cpuSeconds: 100, diskReadBytes: 10_000 })]);
  beat(1_002_000, [stats('a', { cpuSeconds: 1, diskReadBytes: 500 })]);
  beat(1_004_000, [stats('a', { cpuSeconds: 2, diskReadBytes: 2500 })]);
  const series = history.read('a');
  assert.deepEqual(series.cpuPercent, [null, null, 50]);
  assert.deepEqual(series.diskReadBytesPerSecond, [null, null, 1000]);
});

test('a round where the guest agent did not answer (network counters at 0) is a gap, not a spike after it', () => {
  const { history, beat } = setup();
  beat(1_000_000, [stats('a', { cpuSeconds: 1, netRxBytes: 10_000 })]);
  beat(1_002_000, [stats('a', { cpuSeconds: 2, netRxBytes: 0 })]);
  beat(1_004_000, [stats('a', { cpuSeconds: 3, netRxBytes: 14_000 })]);
  assert.deepEqual(history.read('a').networkReceiveBytesPerSecond, [null, null, 1000]);
});

test('samples older than the retention are dropped, and a VM not seen for that long is forgotten', () => {
  const { history, beat } = setup({ retentionMs: 10_000 });
  beat(1_000_000, [stats('a'), stats('b')]);
  beat(1_005_000, [stats('a')]);
  beat(1_012_000, [stats('a')]);
  assert.deepEqual(history.read('a').time, [1_005_000, 1_012_000]);
  assert.deepEqual(history.read('b').time, []);
});

test('since returns only newer samples; the ring keeps at most maxSamples', () => {
  const { history, beat } = setup({ maxSamples: 100 });
  for (let i = 0; i < 250; i++) beat(1_000_000 + i * 1000, [stats('a', { cpuSeconds: i })]);
  const all = history.read('a');
  assert.equal(all.time.length, 100);
  assert.equal(all.time[0], 1_000_000 + 150 * 1000);
  assert.ok(all.cpuPercent.every((v) => v === 100));
  assert.deepEqual(history.read('a', 1_000_000 + 247 * 1000).time, [1_248_000, 1_249_000]);
});

test('VMs on different hosts are kept apart by name', () => {
  const { history, beat } = setup();
  beat(1_000_000, [stats('a', { cpuSeconds: 1 })], 'h1');
  beat(1_000_500, [stats('b', { cpuSeconds: 1 })], 'h2');
  assert.equal(history.read('a').time.length, 1);
  assert.equal(history.read('b').time.length, 1);
});
