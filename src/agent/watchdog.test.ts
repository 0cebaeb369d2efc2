import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDroverError } from '../shared/errors.js';
import {
  createWatchdog,
  DeviceWatchdog,
  formatWatchdogSpec,
  NoWatchdog,
  parseSimulatedWatchdogRecord,
  parseWatchdogSpec,
  readSimulatedWatchdogRecord,
  SimulatedWatchdog,
} from './watchdog.js';

function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-watchdog-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('--watchdog takes none, an absolute device path or simulated:FILE, and formats back to the same text', () => {
  assert.deepEqual(parseWatchdogSpec('none'), { kind: 'none' });
  assert.deepEqual(parseWatchdogSpec('/dev/watchdog0'), { kind: 'device', path: '/dev/watchdog0' });
  assert.deepEqual(parseWatchdogSpec('/dev//watchdog'), { kind: 'device', path: '/dev/watchdog' });
  assert.deepEqual(parseWatchdogSpec('simulated:/var/lib/drover/testbed/host1/watchdog'), { kind: 'simulated', feedFile: '/var/lib/drover/testbed/host1/watchdog' });
  for (const text of ['none', '/dev/watchdog1', 'simulated:/tmp/feed']) assert.equal(formatWatchdogSpec(parseWatchdogSpec(text)), text);
  for (const bad of ['', 'softdog', 'dev/watchdog', 'simulated:', 'simulated:relative/feed', 'simulate:/tmp/feed']) {
    assert.throws(() => parseWatchdogSpec(bad), (err) => isDroverError(err, 'INVALID_ARGUMENT'), bad);
  }
});

test('a device that is missing or not a character device is refused when the watchdog is made, before anything is opened', (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'watchdog7');
  assert.throws(() => createWatchdog({ kind: 'device', path: missing }), (err) => isDroverError(err, 'WATCHDOG_UNAVAILABLE') && /does not exist/.test(err.message));
  assert.equal(fs.existsSync(missing), false, 'no file is created in its place');
  const regular = path.join(dir, 'regular');
  fs.writeFileSync(regular, '');
  assert.throws(() => new DeviceWatchdog(regular), (err) => isDroverError(err, 'WATCHDOG_UNAVAILABLE') && /not a character device/.test(err.message));
});

// This machine has no watchdog device, so /dev/null stands in for one (a character device that takes
// any write) and a temp file for its sysfs timeout: what is tested is the timeout check and the writes.
test('a device is armed only when its own timeout is at most the one asked for; disarm closes it', async (t) => {
  const dir = tempDir(t);
  const timeoutFile = path.join(dir, 'timeout');
  const watchdog = new DeviceWatchdog('/dev/null', { timeoutFile });
  await assert.rejects(watchdog.arm(10), (err) => isDroverError(err, 'WATCHDOG_UNAVAILABLE') && /cannot read/.test(err.message));
  fs.writeFileSync(timeoutFile, '60\n');
  await assert.rejects(watchdog.arm(10), (err) => isDroverError(err, 'WATCHDOG_UNAVAILABLE') && /resets after 60 s, longer than the 10 s/.test(err.message));
  assert.equal(watchdog.armed, false);
  await assert.rejects(watchdog.arm(0), (err) => isDroverError(err, 'INVALID_ARGUMENT'));

  fs.writeFileSync(timeoutFile, '8\n');
  await watchdog.arm(10);
  assert.equal(watchdog.armed, true);
  assert.equal(watchdog.timeoutSeconds, 8, 'the device keeps its own timeout, which the feeder must beat');
  watchdog.feed();
  await watchdog.arm(10);
  assert.equal(watchdog.armed, true, 'arming again keeps it armed');
  watchdog.disarm();
  assert.equal(watchdog.armed, false);
  watchdog.disarm();
  watchdog.feed();
});

test('without a watchdog nothing is armed and arming is refused with a coded error', async () => {
  const watchdog = createWatchdog({ kind: 'none' });
  assert.ok(watchdog instanceof NoWatchdog);
  await assert.rejects(watchdog.arm(10), (err) => isDroverError(err, 'WATCHDOG_UNAVAILABLE'));
  assert.equal(watchdog.armed, false);
  watchdog.feed();
  watchdog.disarm();
});

test('the simulated watchdog writes an armed record, counts every feed, and writes a disarmed record on disarm', async (t) => {
  const feedFile = path.join(tempDir(t), 'watchdog');
  const watchdog = createWatchdog({ kind: 'simulated', feedFile });
  assert.ok(watchdog instanceof SimulatedWatchdog);
  watchdog.feed();
  watchdog.disarm();
  assert.equal(fs.existsSync(feedFile), false, 'feeding or disarming an unarmed watchdog writes nothing');

  const before = Date.now();
  await watchdog.arm(10);
  const armed = readSimulatedWatchdogRecord(feedFile);
  assert.ok(armed?.armed);
  assert.deepEqual({ ...armed, armedAt: '', fedAt: '' }, { version: 1, armed: true, timeoutSeconds: 10, armedAt: '', fedAt: '', feeds: 1, pid: process.pid });
  assert.ok(Date.parse(armed.armedAt) >= before - 1 && armed.fedAt === armed.armedAt);

  watchdog.feed();
  watchdog.feed();
  const fed = readSimulatedWatchdogRecord(feedFile);
  assert.ok(fed?.armed);
  assert.deepEqual([fed.feeds, fed.armedAt, fed.timeoutSeconds], [3, armed.armedAt, 10]);

  watchdog.disarm();
  assert.equal(watchdog.armed, false);
  const disarmed = readSimulatedWatchdogRecord(feedFile);
  assert.deepEqual(disarmed && { ...disarmed, disarmedAt: '' }, { version: 1, armed: false, disarmedAt: '', reason: 'disarmed by the agent' });
  assert.deepEqual(fs.readdirSync(path.dirname(feedFile)), ['watchdog'], 'no temp file is left behind');
});

test('a simulated watchdog whose file cannot be written is refused and stays unarmed', async (t) => {
  const watchdog = new SimulatedWatchdog(path.join(tempDir(t), 'missing-dir', 'watchdog'));
  await assert.rejects(watchdog.arm(10), (err) => isDroverError(err, 'WATCHDOG_UNAVAILABLE'));
  assert.equal(watchdog.armed, false);
  await assert.rejects(watchdog.arm(2.5), (err) => isDroverError(err, 'INVALID_ARGUMENT'));
});

test('only a whole record parses: anything else reads as no record', () => {
  const armed = { version: 1, armed: true, timeoutSeconds: 5, armedAt: 'a', fedAt: 'b', feeds: 1, pid: 10 };
  assert.deepEqual(parseSimulatedWatchdogRecord(JSON.stringify(armed)), armed);
  assert.deepEqual(parseSimulatedWatchdogRecord('{"version":1,"armed":false,"disarmedAt":"x","reason":"y"}'), { version: 1, armed: false, disarmedAt: 'x', reason: 'y' });
  for (const bad of ['', 'armed', 'null', '[]', JSON.stringify({ ...armed, version: 2 }), JSON.stringify({ ...armed, timeoutSeconds: 0 }), JSON.stringify({ ...armed, feeds: undefined }), '{"version":1,"armed":false}']) {
    assert.equal(parseSimulatedWatchdogRecord(bad), undefined, bad);
  }
});
