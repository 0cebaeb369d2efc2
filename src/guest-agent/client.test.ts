import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { type DroverError, isDroverError } from '../shared/errors.js';
import { sleep } from '../qmp/transport.js';
import { GuestAgentClient, GuestAgentCommandError } from './client.js';
import { FakeGuestAgent, type FakeGuestAgentOptions } from './fake-guest-agent.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startAgent(opts: FakeGuestAgentOptions = {}): Promise<FakeGuestAgent> {
  const agent = await FakeGuestAgent.start(opts);
  cleanups.push(() => agent.close());
  return agent;
}

async function connect(agent: FakeGuestAgent, timeoutMs = 2000): Promise<GuestAgentClient> {
  const client = await GuestAgentClient.connect(agent.socketPath, { timeoutMs });
  cleanups.push(() => client.close());
  return client;
}

function assertCode(code: DroverError['code']): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isDroverError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  };
}

function echo(args: string[]): { stdout: string } {
  return { stdout: `${args.join(' ')}\n` };
}

describe('GuestAgentClient against the fake guest agent', () => {
  it('syncs past stale bytes, including a stale delimited reply, before its first command', async () => {
    const stale = Buffer.concat([
      Buffer.from('{"return": {"version": "STALE"}}\n{"error": {"class": "GenericError", "desc": "old"}}\n'),
      Buffer.from([0xff]),
      Buffer.from('{"return": 4242}\n{"return": {"pid"'),
    ]);
    const agent = await startAgent({ staleBytes: stale });
    const client = await connect(agent);
    assert.equal(agent.received[0]?.execute, 'guest-sync-delimited');
    // Were the stale lines not dropped, each reply would be one behind and this would read "STALE" or {}.
    assert.equal((await client.info()).version, '7.2.0-fake');
    assert.equal((await client.fsfreezeStatus()), 'thawed');
  });

  it('resets the agent parser with 0xFF so a half-written command from a dead client is discarded', async () => {
    const agent = await startAgent();
    const dead = net.createConnection(agent.socketPath);
    await new Promise((resolve) => dead.once('connect', resolve));
    dead.end('{"execute": "guest-fsfreeze-freeze"');
    await new Promise((resolve) => dead.once('close', resolve));
    // Without the reset, the agent would read the half command and the sync as one broken message.
    const client = await connect(agent, 500);
    assert.equal(await client.fsfreezeStatus(), 'thawed');
    assert.ok(!agent.received.some((r) => r.execute === 'guest-fsfreeze-freeze'));
  });

  it('runs guest-exec and decodes base64 stdout, stderr, exit code and signal', async () => {
    const agent = await startAgent();
    agent.program('/bin/echo', (args) => echo(args));
    agent.program('/bin/false', () => ({ exitCode: 1, stderr: 'nope ✗\n', runMs: 120 }));
    agent.program('/bin/cat', (_args, input, env) => ({ stdout: input, stderr: (env ?? []).join(',') }));
    agent.program('/bin/sleep', () => ({ signal: 9 }));
    const client = await connect(agent);
    assert.deepEqual(await client.exec('/bin/echo', ['héllo', '✓']), { exitCode: 0, stdout: 'héllo ✓\n', stderr: '' });
    const failed = await client.exec('/bin/false');
    assert.deepEqual(failed, { exitCode: 1, stdout: '', stderr: 'nope ✗\n' });
    assert.ok(agent.received.filter((r) => r.execute === 'guest-exec-status').length >= 3, 'polled until the process ended');
    const piped = await client.exec('/bin/cat', [], { input: 'line 1\nline 2\n', env: ['A=1', 'B=2'] });
    assert.equal(piped.stdout, 'line 1\nline 2\n');
    assert.equal(piped.stderr, 'A=1,B=2');
    assert.deepEqual(await client.exec('/bin/sleep', ['60']), { exitCode: 137, stdout: '', stderr: '', signal: 9 });
  });

  it('fails exec with GUEST_EXEC_FAILED when the program cannot start', async () => {
    const agent = await startAgent();
    const client = await connect(agent);
    await assert.rejects(client.exec('/no/such/program'), (err: unknown) => {
      assert.ok(err instanceof GuestAgentCommandError);
      assert.equal(err.code, 'GUEST_EXEC_FAILED');
      assert.equal(err.agentClass, 'GenericError');
      assert.match(err.message, /No such file or directory/);
      return true;
    });
  });

  it('gives up on a process that outlives timeoutMs with TIMEOUT, and stays usable', async () => {
    const agent = await startAgent();
    agent.program('/bin/sleep', () => ({ runMs: 5000 }));
    const client = await connect(agent);
    const started = Date.now();
    await assert.rejects(client.exec('/bin/sleep', ['5'], { timeoutMs: 150 }), assertCode('TIMEOUT'));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 1000, `gave up after ${elapsed} ms`);
    assert.ok(agent.received.filter((r) => r.execute === 'guest-exec-status').length >= 3, 'polled with backoff');
    await client.ping(500);
  });

  it('reports GUEST_AGENT_UNAVAILABLE within the timeout when nothing answers', async () => {
    const agent = await startAgent({ silent: true });
    let started = Date.now();
    await assert.rejects(GuestAgentClient.connect(agent.socketPath, { timeoutMs: 300 }), assertCode('GUEST_AGENT_UNAVAILABLE'));
    assert.ok(Date.now() - started < 1000);
    started = Date.now();
    await assert.rejects(GuestAgentClient.waitReady(agent.socketPath, 600), assertCode('GUEST_AGENT_UNAVAILABLE'));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 550 && elapsed < 1500, `gave up after ${elapsed} ms`);
  });

  it('waitReady succeeds once a late agent answers its backlog of syncs, and stays aligned', async () => {
    const agent = await startAgent({ silent: true });
    agent.program('/bin/uname', () => ({ stdout: 'Linux fake\n' }));
    setTimeout(() => agent.startAnswering(), 2300);
    const client = await GuestAgentClient.waitReady(agent.socketPath, 8000);
    cleanups.push(() => client.close());
    const syncs = agent.received.filter((r) => r.execute === 'guest-sync-delimited').length;
    assert.ok(syncs >= 3, `expected several queued syncs, got ${syncs}`);
    assert.equal((await client.exec('/bin/uname', ['-a'])).stdout, 'Linux fake\n');
  });

  it('recovers after a reply that arrives too late', async () => {
    const agent = await startAgent();
    agent.delay('guest-get-osinfo', 300);
    const client = await connect(agent);
    await assert.rejects(client.executeRaw('guest-get-osinfo', undefined, { timeoutMs: 100 }), assertCode('GUEST_AGENT_UNAVAILABLE'));
    // The late osinfo reply reaches the socket while this request waits; the resync must skip it.
    assert.equal((await client.info()).version, '7.2.0-fake');
    assert.equal((await client.networkInterfaces()).length, 2);
  });

  it('runs concurrent calls one at a time, each getting its own reply', async () => {
    const agent = await startAgent();
    agent.program('/bin/echo', (args) => ({ ...echo(args), runMs: 30 }));
    const client = await connect(agent);
    const [a, b, info, nics] = await Promise.all([
      client.exec('/bin/echo', ['a']),
      client.exec('/bin/echo', ['b']),
      client.info(),
      client.networkInterfaces(),
    ]);
    assert.equal(a.stdout, 'a\n');
    assert.equal(b.stdout, 'b\n');
    assert.equal(info.version, '7.2.0-fake');
    assert.equal(nics[0]?.name, 'lo');
  });

  it('parses network interfaces, agent info and OS info into typed shapes', async () => {
    const agent = await startAgent();
    const client = await connect(agent);
    const eth0 = (await client.networkInterfaces()).find((n) => n.name === 'eth0');
    assert.deepEqual(eth0?.addresses, [
      { family: 'ipv4', address: '10.0.2.15', prefix: 24 },
      { family: 'ipv6', address: 'fe80::5054:ff:fe12:3456', prefix: 64 },
    ]);
    assert.equal(eth0?.macAddress, '52:54:00:12:34:56');
    assert.equal(eth0?.statistics?.rxBytes, 100);
    const info = await client.info();
    assert.equal(info.commands.find((c) => c.name === 'guest-shutdown')?.successResponse, false);
    assert.deepEqual(await client.osInfo(), {
      id: 'debian', name: 'Debian GNU/Linux', prettyName: 'Debian GNU/Linux 12 (bookworm)', version: '12 (bookworm)',
      versionId: '12', kernelRelease: '6.1.0-fake', machine: 'x86_64',
    });
    agent.fail('guest-get-osinfo', 'CommandNotFound', 'The command guest-get-osinfo has not been found');
    assert.equal(await client.osInfo(), undefined);
  });

  it('freezes and thaws filesystems', async () => {
    const agent = await startAgent();
    const client = await connect(agent);
    assert.equal(await client.fsfreeze(), 1);
    assert.equal(await client.fsfreezeStatus(), 'frozen');
    assert.equal(await client.fsthaw(), 1);
    assert.equal(await client.fsfreezeStatus(), 'thawed');
  });

  it('treats silence after guest-shutdown as accepted and a refusal as GUEST_EXEC_FAILED', async () => {
    const agent = await startAgent();
    const client = await connect(agent);
    await client.shutdown('reboot');
    assert.deepEqual(agent.received.at(-1), { execute: 'guest-shutdown', arguments: { mode: 'reboot' } });
    agent.fail('guest-shutdown', 'CommandNotFound', 'Command guest-shutdown has been disabled');
    await assert.rejects(client.shutdown(), assertCode('GUEST_EXEC_FAILED'));
    await client.ping(500);
  });

  it('writes and reads back a file through guest-file-*', async () => {
    const agent = await startAgent();
    const client = await connect(agent);
    await client.fileWrite('/etc/drover-test', 'key=välue\n');
    assert.equal(agent.files.get('/etc/drover-test')?.toString(), 'key=välue\n');
    assert.equal((await client.fileRead('/etc/drover-test')).toString(), 'key=välue\n');
    await assert.rejects(client.fileRead('/etc/drover-test', 3), assertCode('INVALID_SIZE'));
    await assert.rejects(client.fileRead('/missing'), assertCode('GUEST_EXEC_FAILED'));
  });

  it('rejects the waiting call when the socket closes, and waitReady reconnects', async () => {
    const agent = await startAgent();
    agent.delay('guest-info', 5000);
    const client = await connect(agent);
    const waiting = assert.rejects(client.info(), assertCode('GUEST_AGENT_UNAVAILABLE'));
    await sleep(50);
    agent.dropConnection();
    await waiting;
    agent.delay('guest-info', 0);
    await client.waitReady(2000);
    assert.equal((await client.info()).version, '7.2.0-fake');
    client.close();
    await assert.rejects(client.ping(), assertCode('GUEST_AGENT_UNAVAILABLE'));
  });
});
