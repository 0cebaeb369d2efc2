import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { DroverError, isDroverError } from '../shared/errors.js';
import { QmpClient, QmpCommandError } from './client.js';
import { FakeQmpMonitor, NO_REPLY } from './fake-monitor.js';
import type { QmpEventMessage } from './events.js';
import { sleep } from './transport.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startMonitor(opts: Parameters<typeof FakeQmpMonitor.start>[0] = {}): Promise<FakeQmpMonitor> {
  const monitor = await FakeQmpMonitor.start(opts);
  cleanups.push(() => monitor.close());
  return monitor;
}

async function connect(monitor: FakeQmpMonitor, opts: Parameters<typeof QmpClient.connect>[1] = {}): Promise<QmpClient> {
  const client = await QmpClient.connect(monitor.socketPath, { timeoutMs: 2000, ...opts });
  cleanups.push(() => client.close());
  return client;
}

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-qmp-test-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function assertCode(code: DroverError['code']): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isDroverError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  };
}

describe('QmpClient against the fake monitor', () => {
  it('reads the greeting and negotiates capabilities before anything else', async () => {
    const monitor = await startMonitor({ version: { qemu: { major: 7, minor: 2, micro: 9 }, package: 'test' } });
    const client = await connect(monitor);
    assert.deepEqual(client.greeting.version.qemu, { major: 7, minor: 2, micro: 9 });
    assert.deepEqual(client.greeting.capabilities, ['oob']);
    assert.equal(monitor.received[0]?.execute, 'qmp_capabilities');
    assert.equal(client.connected, true);
  });

  it('runs typed commands and sends their arguments', async () => {
    const monitor = await startMonitor();
    monitor.reply('query-kvm', { enabled: false, present: true }).reply('set_link', {});
    const client = await connect(monitor);
    const status = await client.execute('query-status');
    assert.equal(status.status, 'running');
    assert.equal((await client.execute('query-kvm')).present, true);
    await client.execute('set_link', { name: 'net0', up: false });
    assert.deepEqual(monitor.received.at(-1)?.arguments, { name: 'net0', up: false });
    monitor.reply('x-custom', [1, 2]);
    assert.deepEqual(await client.executeRaw('x-custom', { a: 1 }), [1, 2]);
  });

  it('matches concurrent commands to their answers by id when answered out of order', async () => {
    const monitor = await startMonitor();
    const answered: string[] = [];
    monitor.handle('query-name', async () => {
      await sleep(80);
      answered.push('query-name');
      return { name: 'vm-a' };
    });
    monitor.handle('query-balloon', async () => {
      await sleep(5);
      answered.push('query-balloon');
      return { actual: 1024 };
    });
    const client = await connect(monitor);
    const [name, balloon, status] = await Promise.all([
      client.execute('query-name'),
      client.execute('query-balloon'),
      client.execute('query-status'),
    ]);
    assert.deepEqual(answered, ['query-balloon', 'query-name']);
    assert.equal(name.name, 'vm-a');
    assert.equal(balloon.actual, 1024);
    assert.equal(status.running, true);
  });

  it('turns a QMP error into QMP_ERROR and keeps the error class', async () => {
    const monitor = await startMonitor();
    monitor.fail('device_del', 'DeviceNotFound', "Device 'nic9' not found");
    const client = await connect(monitor);
    await assert.rejects(client.execute('device_del', { id: 'nic9' }), (err: unknown) => {
      assert.ok(err instanceof QmpCommandError);
      assert.equal(err.code, 'QMP_ERROR');
      assert.equal(err.qmpClass, 'DeviceNotFound');
      assert.equal(err.detail, "device_del: Device 'nic9' not found");
      return true;
    });
    await assert.rejects(client.executeRaw('no-such-command'), (err: unknown) => {
      assert.ok(err instanceof QmpCommandError);
      assert.equal(err.qmpClass, 'CommandNotFound');
      return true;
    });
  });

  it('times out a command with QMP_TIMEOUT, ignores the late answer and stays usable', async () => {
    const monitor = await startMonitor();
    monitor.handle('query-migrate', async () => {
      await sleep(150);
      return { status: 'completed' };
    });
    const client = await connect(monitor);
    const started = Date.now();
    await assert.rejects(client.execute('query-migrate', {}, { timeoutMs: 50 }), assertCode('QMP_TIMEOUT'));
    assert.ok(Date.now() - started < 140, 'rejected before the answer came');
    await sleep(150);
    assert.equal((await client.execute('query-status')).status, 'running');
  });

  it('rejects pending commands with QMP_DISCONNECTED and notifies once when QEMU goes away', async () => {
    const monitor = await startMonitor();
    monitor.handle('migrate', () => NO_REPLY);
    const client = await connect(monitor);
    const notified: DroverError[] = [];
    client.onDisconnect((err) => notified.push(err));
    const arrived = monitor.waitForCommand('migrate');
    const pending = assert.rejects(client.execute('migrate', { uri: 'unix:/nowhere' }), assertCode('QMP_DISCONNECTED'));
    const event = assert.rejects(client.waitForEvent('MIGRATION'), assertCode('QMP_DISCONNECTED'));
    await arrived;
    monitor.dropConnection();
    await pending;
    await event;
    assert.equal(notified.length, 1);
    assert.equal(notified[0]?.code, 'QMP_DISCONNECTED');
    assert.equal(client.connected, false);
    await assert.rejects(client.execute('query-status'), assertCode('QMP_DISCONNECTED'));
    const late = await new Promise<DroverError>((resolve) => client.onDisconnect(resolve));
    assert.equal(late.code, 'QMP_DISCONNECTED');
  });

  it('does not report its own close() as a lost connection', async () => {
    const monitor = await startMonitor();
    monitor.handle('query-name', () => NO_REPLY);
    const client = await connect(monitor);
    let notified = 0;
    client.onDisconnect(() => notified++);
    const pending = assert.rejects(client.execute('query-name'), assertCode('QMP_DISCONNECTED'));
    await client.close();
    await pending;
    await sleep(20);
    assert.equal(notified, 0);
  });

  it('delivers typed events to on() handlers until off()', async () => {
    const monitor = await startMonitor();
    const client = await connect(monitor);
    const shutdowns: { guest: boolean; reason: string }[] = [];
    const stops: unknown[] = [];
    const all: QmpEventMessage[] = [];
    const handler = (data: { guest: boolean; reason: string }): void => void shutdowns.push(data);
    client.on('SHUTDOWN', handler);
    client.on('STOP', (data) => stops.push(data));
    client.onAnyEvent((message) => all.push(message));
    monitor.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    monitor.emit('STOP');
    monitor.emit('X_VENDOR_EVENT', { n: 1 });
    await client.waitForEvent('RESUME', { timeoutMs: 20 }).catch(() => undefined);
    client.off('SHUTDOWN', handler);
    monitor.emit('SHUTDOWN', { guest: false, reason: 'host-signal' });
    await sleep(30);
    assert.deepEqual(shutdowns, [{ guest: true, reason: 'guest-shutdown' }]);
    assert.deepEqual(stops, [{}]);
    assert.deepEqual(all.map((m) => m.event), ['SHUTDOWN', 'STOP', 'X_VENDOR_EVENT', 'SHUTDOWN']);
    assert.ok((all[0]?.timestamp.seconds ?? 0) > 0);
  });

  it('waitForEvent resolves on the first event that passes the predicate, or times out with TIMEOUT', async () => {
    const monitor = await startMonitor();
    const client = await connect(monitor);
    const done = client.waitForEvent('MIGRATION', { timeoutMs: 1000, predicate: (d) => d.status === 'completed' });
    monitor.emit('MIGRATION', { status: 'active' });
    monitor.emit('MIGRATION_PASS', { pass: 2 });
    monitor.emit('MIGRATION', { status: 'completed' });
    assert.deepEqual(await done, { status: 'completed' });
    await assert.rejects(client.waitForEvent('POWERDOWN', { timeoutMs: 30 }), assertCode('TIMEOUT'));
  });

  it('reassembles messages cut into small chunks, including multi-byte characters', async () => {
    const monitor = await startMonitor({ chunkSize: 3 });
    monitor.fail('qom-get', 'GenericError', 'Gerät “net0” ✓ missing');
    const client = await connect(monitor);
    assert.equal((await client.execute('query-version')).qemu.major, 7);
    await assert.rejects(client.execute('qom-get', { path: '/machine', property: 'x' }), (err: unknown) => {
      assert.ok(err instanceof QmpCommandError);
      assert.equal(err.description, 'Gerät “net0” ✓ missing');
      return true;
    });
  });

  it('splits several messages arriving in one chunk and waits for the end of a partial one', async () => {
    const monitor = await startMonitor();
    const client = await connect(monitor);
    const events: string[] = [];
    client.onAnyEvent((m) => events.push(m.event));
    const stamp = '"timestamp": {"seconds": 1, "microseconds": 2}';
    monitor.sendRaw(`{${stamp}, "event": "STOP"}\r\n{${stamp}, "event": "RESUME"}\r\n{${stamp}, "eve`);
    await sleep(30);
    assert.deepEqual(events, ['STOP', 'RESUME']);
    monitor.sendRaw('nt": "POWERDOWN"}\r\n');
    await sleep(30);
    assert.deepEqual(events, ['STOP', 'RESUME', 'POWERDOWN']);
  });

  it('retries until the socket appears (ENOENT)', async () => {
    const dir = await tempDir();
    const socketPath = path.join(dir, 'late.sock');
    const connecting = QmpClient.connect(socketPath, { timeoutMs: 3000 });
    await sleep(300);
    await startMonitor({ socketPath });
    const client = await connecting;
    cleanups.push(() => client.close());
    assert.equal((await client.execute('query-status')).status, 'running');
  });

  it('retries while a stale socket file refuses connections (ECONNREFUSED)', async () => {
    const dir = await tempDir();
    const socketPath = path.join(dir, 'stale.sock');
    // A listener killed with SIGKILL leaves its socket file behind, like a crashed QEMU.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    await fs.access(socketPath);
    const connecting = QmpClient.connect(socketPath, { timeoutMs: 3000 });
    await sleep(200);
    await startMonitor({ socketPath });
    const client = await connecting;
    cleanups.push(() => client.close());
    assert.equal(client.connected, true);
  });

  it('gives up with QMP_TIMEOUT when no socket appears or no greeting comes', async () => {
    const dir = await tempDir();
    const started = Date.now();
    await assert.rejects(QmpClient.connect(path.join(dir, 'never.sock'), { timeoutMs: 200 }), assertCode('QMP_TIMEOUT'));
    assert.ok(Date.now() - started < 1000);
    const silent = await startMonitor({ greetingDelayMs: 10_000 });
    await assert.rejects(QmpClient.connect(silent.socketPath, { timeoutMs: 200 }), assertCode('QMP_TIMEOUT'));
  });
});
