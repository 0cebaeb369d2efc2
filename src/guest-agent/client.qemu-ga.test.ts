/**
 * GuestAgentClient against the real qemu-ga binary, run on this host in unix-listen mode, and against a
 * real QEMU whose agent port has no agent behind it. The host qemu-ga runs with every RPC blocked except
 * a harmless allowlist (no shutdown, fsfreeze, file or user commands can reach the host). Skipped when
 * qemu-ga or qemu-system-x86_64 is missing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDroverError } from '../shared/errors.js';
import { GuestAgentClient, GuestAgentCommandError } from './client.js';

const QEMU_GA = ['qemu-ga', '/usr/sbin/qemu-ga', '/usr/bin/qemu-ga'].find((bin) => spawnSync(bin, ['--version']).status === 0);
const QEMU = 'qemu-system-x86_64';
const haveQemu = spawnSync(QEMU, ['--version']).status === 0;
const ALLOWED = new Set([
  'guest-sync-delimited', 'guest-sync', 'guest-ping', 'guest-info', 'guest-exec', 'guest-exec-status',
  'guest-network-get-interfaces', 'guest-get-osinfo', 'guest-fsfreeze-status',
]);

/** The qemu-ga binary and every RPC it knows except ALLOWED; undefined if the list cannot be read (suite skipped). */
function findAgent(): { bin: string; blocked: string } | undefined {
  if (!QEMU_GA) return undefined;
  const rpcs = spawnSync(QEMU_GA, ['-b', 'help'], { encoding: 'utf8' }).stdout.split(/\s+/).filter((r) => r.startsWith('guest-'));
  if (!rpcs.includes('guest-shutdown')) return undefined;
  return { bin: QEMU_GA, blocked: rpcs.filter((rpc) => !ALLOWED.has(rpc)).join(',') };
}
const AGENT = findAgent();

async function stop(child: ChildProcess | undefined, exited: Promise<unknown> | undefined): Promise<void> {
  // Kill exactly the process this suite started.
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}

describe('GuestAgentClient against the real qemu-ga', { skip: AGENT ? false : 'qemu-ga is not installed' }, () => {
  let dir: string;
  let agent: ChildProcess | undefined;
  let exited: Promise<unknown> | undefined;
  let socketPath: string;
  let client: GuestAgentClient;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-qga-'));
    socketPath = path.join(dir, 'qga.sock');
    if (!AGENT) return;
    agent = spawn(
      AGENT.bin,
      ['-m', 'unix-listen', '-p', socketPath, '-t', dir, '-f', path.join(dir, 'qga.pid'), '-b', AGENT.blocked],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    exited = new Promise((resolve) => agent?.once('exit', resolve));
    // A client that died mid-command leaves half a JSON object in the agent's parser.
    const dead = await new Promise<net.Socket>((resolve, reject) => {
      const attempt = (left: number): void => {
        const socket = net.createConnection(socketPath, () => resolve(socket));
        socket.once('error', (err) => (left > 0 ? setTimeout(() => attempt(left - 1), 50) : reject(err)));
      };
      attempt(100);
    });
    dead.end('{"execute": "guest-ping", "argum');
    await new Promise((resolve) => dead.once('close', resolve));
    client = await GuestAgentClient.connect(socketPath, { timeoutMs: 5000 });
  });

  after(async () => {
    client?.close();
    await stop(agent, exited);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('answers ping and reports its version and enabled commands', async () => {
    await client.ping(2000);
    const info = await client.info();
    assert.match(info.version, /^\d+\.\d+/);
    assert.equal(info.commands.find((c) => c.name === 'guest-exec')?.enabled, true);
    assert.equal(info.commands.find((c) => c.name === 'guest-shutdown')?.enabled, false);
  });

  it('runs programs and returns decoded output, exit codes and signals', async () => {
    assert.deepEqual(await client.exec('/bin/echo', ['héllo', '✓']), { exitCode: 0, stdout: 'héllo ✓\n', stderr: '' });
    assert.equal((await client.exec('/bin/cat', [], { input: 'from stdin\n' })).stdout, 'from stdin\n');
    const failed = await client.exec('/bin/sh', ['-c', 'echo oops >&2; exit 3']);
    assert.deepEqual(failed, { exitCode: 3, stdout: '', stderr: 'oops\n' });
    const killed = await client.exec('/bin/sh', ['-c', 'kill -9 $$']);
    assert.equal(killed.signal, 9);
    assert.equal(killed.exitCode, 137);
    assert.equal((await client.exec('/usr/bin/env', [], { env: ['DROVER_TEST=1'] })).stdout, 'DROVER_TEST=1\n');
    await assert.rejects(client.exec('/no/such/program'), (err: unknown) => err instanceof GuestAgentCommandError);
  });

  it('reports network interfaces and OS information', async () => {
    const lo = (await client.networkInterfaces()).find((n) => n.name === 'lo');
    assert.ok(lo?.addresses.some((a) => a.family === 'ipv4' && a.address === '127.0.0.1' && a.prefix === 8));
    const osInfo = await client.osInfo();
    assert.equal(osInfo?.kernelRelease, os.release());
    assert.equal(await client.fsfreezeStatus(), 'thawed');
  });

  it('maps a disabled command to GUEST_EXEC_FAILED with the agent class', async () => {
    await assert.rejects(client.executeRaw('guest-get-time'), (err: unknown) => {
      assert.ok(err instanceof GuestAgentCommandError);
      assert.equal(err.agentClass, 'CommandNotFound');
      return true;
    });
    await client.ping(2000);
  });
});

describe('GuestAgentClient against QEMU with no agent in the guest', { skip: haveQemu ? false : `${QEMU} is not installed` }, () => {
  let dir: string;
  let qemu: ChildProcess | undefined;
  let exited: Promise<unknown> | undefined;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-qga-qemu-'));
    // -S: the guest never runs, so nothing reads the port while QEMU accepts the socket.
    qemu = spawn(QEMU, [
      '-M', 'pc', '-S', '-nodefaults', '-display', 'none', '-accel', 'tcg', '-m', '64',
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=qga0,path=${path.join(dir, 'qga.sock')},server=on,wait=off`,
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    ], { stdio: ['ignore', 'ignore', 'ignore'] });
    exited = new Promise((resolve) => qemu?.once('exit', resolve));
  });

  after(async () => {
    await stop(qemu, exited);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reports GUEST_AGENT_UNAVAILABLE within the timeout', async () => {
    const socketPath = path.join(dir, 'qga.sock');
    const started = Date.now();
    await assert.rejects(GuestAgentClient.connect(socketPath, { timeoutMs: 1500 }), (err: unknown) =>
      isDroverError(err, 'GUEST_AGENT_UNAVAILABLE'),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 3000, `gave up after ${elapsed} ms`);
    const readyStarted = Date.now();
    await assert.rejects(GuestAgentClient.waitReady(socketPath, 1200), (err: unknown) => isDroverError(err, 'GUEST_AGENT_UNAVAILABLE'));
    assert.ok(Date.now() - readyStarted < 2500);
  });
});
