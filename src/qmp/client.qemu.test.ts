/**
 * QmpClient against a real QEMU (`-machine none`, TCG): no guest, so it boots in milliseconds.
 * Skipped when qemu-system-x86_64 is not installed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DroverError, isDroverError } from '../shared/errors.js';
import { QmpClient, QmpCommandError } from './client.js';

const QEMU = 'qemu-system-x86_64';
const haveQemu = spawnSync(QEMU, ['--version']).status === 0;

describe('QmpClient against real QEMU', { skip: haveQemu ? false : `${QEMU} is not installed` }, () => {
  let dir: string;
  let qemu: ChildProcess;
  let exited: Promise<number | null>;
  let client: QmpClient;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-qmp-qemu-'));
    const socketPath = path.join(dir, 'qmp.sock');
    qemu = spawn(
      QEMU,
      ['-machine', 'none', '-nodefaults', '-display', 'none', '-accel', 'tcg', '-qmp', `unix:${socketPath},server=on,wait=off`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    exited = new Promise((resolve) => qemu.once('exit', (code) => resolve(code)));
    client = await QmpClient.connect(socketPath, { timeoutMs: 10_000 });
  });

  after(async () => {
    await client?.close();
    // Kill exactly the QEMU this suite started, if `quit` did not already end it.
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
      qemu.kill('SIGKILL');
      await exited;
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reports the same version as its greeting, and its run state', async () => {
    const version = await client.execute('query-version');
    assert.deepEqual(version.qemu, client.greeting.version.qemu);
    assert.ok(version.qemu.major >= 7);
    const status = await client.execute('query-status');
    assert.equal(status.status, 'running');
    assert.equal((await client.execute('query-kvm')).enabled, false);
  });

  it('answers concurrent commands, each with its own reply', async () => {
    const [status, kvm, chardevs, name] = await Promise.all([
      client.execute('query-status'),
      client.execute('query-kvm'),
      client.execute('query-chardev'),
      client.execute('query-name'),
    ]);
    assert.equal(typeof status.running, 'boolean');
    assert.equal(typeof kvm.present, 'boolean');
    assert.ok(chardevs.some((c) => c.label === 'compat_monitor0'));
    assert.deepEqual(name, {});
  });

  it('maps a refused command to QMP_ERROR with the QMP class', async () => {
    await assert.rejects(client.execute('device_del', { id: 'no-such-device' }), (err: unknown) => {
      assert.ok(err instanceof QmpCommandError);
      assert.equal(err.code, 'QMP_ERROR');
      assert.equal(err.qmpClass, 'DeviceNotFound');
      return true;
    });
  });

  it('emits STOP and RESUME around stop and cont', async () => {
    const stopped = client.waitForEvent('STOP', { timeoutMs: 5000 });
    await client.execute('stop');
    await stopped;
    assert.equal((await client.execute('query-status')).status, 'paused');
    const resumed = client.waitForEvent('RESUME', { timeoutMs: 5000 });
    await client.execute('cont');
    await resumed;
    assert.equal((await client.execute('query-status')).running, true);
  });

  it('reports SHUTDOWN and then the disconnect after quit', async () => {
    const shutdown = client.waitForEvent('SHUTDOWN', { timeoutMs: 5000 });
    const lost = new Promise<DroverError>((resolve) => client.onDisconnect(resolve));
    await client.execute('quit');
    assert.deepEqual(await shutdown, { guest: false, reason: 'host-qmp-quit' });
    assert.equal((await lost).code, 'QMP_DISCONNECTED');
    assert.equal(await exited, 0);
    await assert.rejects(client.execute('query-status'), (err: unknown) => isDroverError(err, 'QMP_DISCONNECTED'));
  });
});
