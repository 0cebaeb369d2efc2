/**
 * End-to-end tests of the `drover` binary (dist/: build it first with `npx tsc -p tsconfig.build.json`;
 * scripts/setup does) against a real controller and host agent started by `drover up`, booting real
 * tiny guests. The CLI talks to them only through the public API, as a user's would.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadContainerImage } from '../../src/images/container/build.js';
import { builtImageDir, repoRoot } from '../../src/shared/paths.js';
import { upBanner } from '../helpers/up.js';

const BIN = path.join(repoRoot, 'bin', 'drover');
/** Guest boots under TCG on a loaded two-core machine can take a while. */
const READY_TIMEOUT_SECONDS = '180';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let tmp: string;
let dataDir: string;
let up: ChildProcess | undefined;
let env: NodeJS.ProcessEnv;

/** Runs `drover ARGS` to completion (stdin empty, or `input`) and returns its exit code and output. */
function drover(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const stdin = options.input === undefined ? 'ignore' : 'pipe';
    const child = spawn(BIN, args, { cwd: repoRoot, env: { ...env, ...options.env }, stdio: [stdin, 'pipe', 'pipe'] });
    child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `drover ARGS`, asserts exit code 0, and returns stdout. */
async function ok(args: string[]): Promise<string> {
  const result = await drover(args);
  assert.equal(result.code, 0, `drover ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result.stdout;
}

/** Runs `drover ARGS -o json` successfully and parses its stdout. */
async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '-o', 'json'])) as T;
}

/** Runs a shell script in the guest through `drover vm exec`. */
function sh(vm: string, script: string): Promise<Result> {
  return drover(['vm', 'exec', vm, '--', '/bin/sh', '-c', script]);
}

/** Starts `drover up` on a free port and resolves with the URL and token it prints. */
function startUp(): Promise<{ url: string; token: string }> {
  up = spawn(BIN, ['up', '--data-dir', dataDir, '--port', '0'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return upBanner(up, 120_000);
}

/** Stops `drover up` (by its pid): SIGTERM, then SIGKILL if it has not exited after 15 s. */
async function stopUp(): Promise<void> {
  const child = up;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Safety net: SIGKILLs QEMUs recorded under the data dir's run directories whose command line names that dir. */
function killLeftoverQemus(): number[] {
  const killed: number[] = [];
  for (const runDir of [path.join(dataDir, 'run'), path.join(dataDir, 'host', 'run')]) {
    if (!fs.existsSync(runDir)) continue;
    for (const id of fs.readdirSync(runDir)) {
      const pidFile = path.join(runDir, id, 'qemu.pid');
      const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : NaN;
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try {
        if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir)) continue;
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // Already gone.
      }
    }
  }
  return killed;
}

describe('drover CLI against drover up', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js')), 'dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
    // Short path: unix socket paths under the data dir are limited to 108 bytes.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-cli-'));
    dataDir = path.join(tmp, 'd');
    // A private config dir, so neither `drover up` nor the CLI touch the user's real config.
    env = { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'config'), DROVER_LOG_LEVEL: 'warn' };
    delete env.DROVER_URL;
    delete env.DROVER_TOKEN;
    const { url, token } = await startUp();
    assert.equal(fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim(), token);
    const saved = JSON.parse(fs.readFileSync(path.join(tmp, 'config', 'drover', 'config.json'), 'utf8')) as { url: string; token: string };
    assert.deepEqual(saved, { url, token });
  });

  after(async () => {
    if (up && up.exitCode === null) {
      for (const vm of ['web', 'web-linked', 'web-full']) await drover(['vm', 'delete', vm, '--force'], { timeoutMs: 60_000 });
    }
    await stopUp();
    const leftovers = killLeftoverQemus();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(leftovers, [], 'QEMU processes were still running after the VMs were deleted');
  });

  it('exits 2 on usage errors, with JSON on stderr when -o json is asked', async () => {
    for (const args of [['vm', 'bogus'], ['vm', 'create'], ['vm', 'list', '-o', 'yaml'], ['vm', 'create', 'x', '--image', 'tiny', '--port-forward', 'tcp:1']]) {
      const result = await drover(args);
      assert.equal(result.code, 2, `drover ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /error/);
    }
    const result = await drover(['vm', 'clone', 'a', 'b', '--linked', '--full', '-o', 'json']);
    assert.equal(result.code, 2);
    assert.equal((JSON.parse(result.stderr) as { code: string }).code, 'INVALID_ARGUMENT');
    assert.equal((await drover(['vm', 'create', '--help'])).code, 0);
  });

  it('exits 1 with the API error code for an unknown VM', async () => {
    const text = await drover(['vm', 'show', 'no-such-vm']);
    assert.equal(text.code, 1);
    assert.match(text.stderr, /^error VM_NOT_FOUND: .*drover vm list/m);
    const asJson = await drover(['vm', 'start', 'no-such-vm', '-o', 'json']);
    assert.equal(asJson.code, 1);
    assert.equal((JSON.parse(asJson.stderr) as { code: string }).code, 'VM_NOT_FOUND');
  });

  it('lists the local host and the tiny image', async () => {
    const { length, 0: host } = await json<Array<{ name: string; health: string }>>(['host', 'list']);
    assert.equal(length, 1);
    assert.equal((await json<{ name: string }>(['host', 'show', host?.name ?? ''])).name, host?.name);
    const images = await json<Array<{ name: string; type: string; container?: { init: string[]; stopSignal: string } }>>(['image', 'list']);
    assert.equal(images.find((i) => i.name === 'tiny')?.type, 'vm', JSON.stringify(images));
    assert.match(await ok(['image', 'list']), /^NAME\s+HOST\s+TYPE\s[\s\S]*^tiny\s+\S+\s+vm\s/m);
    // scripts/setup builds tiny-ct, and the agent registers it from the cache.
    if (await loadContainerImage(builtImageDir('tiny-ct'))) {
      const tinyCt = images.find((i) => i.name === 'tiny-ct');
      assert.equal(tinyCt?.type, 'container', JSON.stringify(images));
      assert.deepEqual(tinyCt.container, { init: ['/sbin/init'], stopSignal: 'SIGUSR2' });
    }
  });

  it('creates a VM, starts it with --wait until the guest answers, and runs commands in it', async () => {
    const created = await json<{ name: string; state: string }>(['vm', 'create', 'web', '--image', 'tiny', '--memory', '256']);
    assert.equal(created.state, 'stopped');
    const started = await json<{ state: string; guestReady: boolean }>(['vm', 'start', 'web', '--wait', '--ready-timeout', READY_TIMEOUT_SECONDS]);
    assert.deepEqual([started.state, started.guestReady], ['running', true]);
    const listed = await json<Array<{ name: string; state: string }>>(['vm', 'list']);
    assert.deepEqual(listed.map((vm) => [vm.name, vm.state]), [['web', 'running']]);
    assert.match(await ok(['vm', 'list']), /^NAME\s+TYPE\s+STATE\s+HOST[\s\S]*^web\s+vm\s+running\s/m);
    // Filters go to the API's paged list.
    assert.deepEqual((await json<Array<{ name: string }>>(['vm', 'list', '--state', 'running', '--type', 'vm'])).map((vm) => vm.name), ['web']);
    assert.deepEqual(await json(['vm', 'list', '--state', 'stopped']), []);

    const result = await sh('web', 'echo out; echo err >&2; exit 3');
    assert.deepEqual(result, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    const asJson = await drover(['vm', 'exec', 'web', '-o', 'json', '--', 'uname', '-n']);
    assert.equal(asJson.code, 0);
    assert.deepEqual(JSON.parse(asJson.stdout), { exitCode: 0, stdout: 'web\n', stderr: '' });
    assert.deepEqual(await drover(['vm', 'exec', 'web', '--stdin', '--', 'cat'], { input: 'piped in\n' }), { code: 0, stdout: 'piped in\n', stderr: '' });
  });

  it('reaches the serial console: piped input runs in the guest shell, and --log shows what it wrote', async () => {
    const attached = await drover(['vm', 'console', 'web'], { input: 'echo console-$((6*7))\n', timeoutMs: 60_000 });
    assert.equal(attached.code, 0, attached.stderr);
    assert.match(attached.stdout, /^console-42\r?$/m);
    assert.match(await ok(['vm', 'console', 'web', '--log']), /console-42/);
    const missing = await drover(['vm', 'console', 'no-such-vm']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /VM_NOT_FOUND/);
  });

  it('clones a stopped VM, linked and full, with its disk contents', async () => {
    assert.equal((await sh('web', 'echo from-web > /root/marker && sync')).code, 0);
    const stopped = await json<{ state: string }>(['vm', 'stop', 'web', '--timeout', '60']);
    assert.equal(stopped.state, 'stopped');
    const linked = await json<{ name: string; state: string }>(['vm', 'clone', 'web', 'web-linked', '--linked']);
    const full = await json<{ name: string; state: string }>(['vm', 'clone', 'web', 'web-full', '--full']);
    assert.deepEqual([linked.name, full.name], ['web-linked', 'web-full']);
    for (const clone of ['web-linked', 'web-full']) {
      await ok(['vm', 'start', clone, '--wait', '--ready-timeout', READY_TIMEOUT_SECONDS]);
      assert.deepEqual(await sh(clone, 'cat /root/marker'), { code: 0, stdout: 'from-web\n', stderr: '' });
      assert.match(await ok(['vm', 'kill', clone]), new RegExp(`^vm ${clone}: stopped$`, 'm'));
    }
  });

  it('reverts a VM to a snapshot: a file written after it is gone', async () => {
    await ok(['vm', 'start', 'web', '--wait', '--ready-timeout', READY_TIMEOUT_SECONDS]);
    assert.match(await ok(['vm', 'snapshot', 'create', 'web', 'clean']), /created snapshot clean of vm web/);
    const snapshots = await json<Array<{ name: string }>>(['vm', 'snapshot', 'list', 'web']);
    assert.deepEqual(snapshots.map((s) => s.name), ['clean']);
    assert.equal((await sh('web', 'echo after > /root/after && sync')).code, 0);
    // The write survives a restart, so its absence after the revert is the revert's doing.
    await ok(['vm', 'stop', 'web']);
    await ok(['vm', 'start', 'web', '--wait', '--ready-timeout', READY_TIMEOUT_SECONDS]);
    assert.deepEqual(await sh('web', 'cat /root/after'), { code: 0, stdout: 'after\n', stderr: '' });
    await ok(['vm', 'stop', 'web']);
    assert.match(await ok(['vm', 'snapshot', 'revert', 'web', 'clean']), /reverted vm web to snapshot clean/);
    await ok(['vm', 'start', 'web', '--wait', '--ready-timeout', READY_TIMEOUT_SECONDS]);
    const after = await sh('web', 'test -e /root/after; echo $?; cat /root/marker');
    assert.deepEqual(after, { code: 0, stdout: '1\nfrom-web\n', stderr: '' });
  });

  it('returns an operation id with --no-wait, and follows it with op wait', async () => {
    const id = (await ok(['vm', 'stop', 'web', '--no-wait'])).trim();
    assert.match(id, /^\S+$/);
    const done = await json<{ id: string; kind: string; state: string }>(['op', 'wait', id]);
    assert.deepEqual([done.id, done.kind, done.state], [id, 'stop', 'succeeded']);
    assert.equal((await json<{ state: string }>(['vm', 'show', 'web'])).state, 'stopped');
    const recent = await json<Array<{ id: string }>>(['op', 'list', '--limit', '5']);
    assert.ok(recent.some((op) => op.id === id));
  });

  it('shows recorded events, filtered by VM and time', async () => {
    const events = await json<Array<{ action: string; object: { name: string } }>>(['events', '--vm', 'web', '--since', '1h']);
    const actions = new Set(events.map((e) => e.action));
    for (const action of ['vm.create', 'vm.start', 'vm.stop', 'vm.snapshot']) assert.ok(actions.has(action), `${action} missing from ${[...actions].join(', ')}`);
    assert.ok(events.every((e) => e.object.name === 'web'));
    assert.equal((await drover(['events', '--since', 'yesterday'])).code, 2);
  });

  it('creates, lists and revokes tokens', async () => {
    const created = await json<{ token: { name: string }; secret: string }>(['token', 'create', 'ci']);
    assert.match(created.secret, /^drv_/);
    const names = (await json<Array<{ name: string; revokedAt: string | null }>>(['token', 'list'])).filter((t) => !t.revokedAt).map((t) => t.name);
    assert.ok(names.includes('ci'));
    // The new token works on its own.
    assert.equal((await drover(['vm', 'list'], { env: { DROVER_TOKEN: created.secret } })).code, 0);
    assert.equal((await drover(['vm', 'list'], { env: { DROVER_TOKEN: 'drv_not-a-token' } })).code, 1);
    assert.match(await ok(['token', 'revoke', 'ci']), /revoked token ci/);
    const revoked = await drover(['vm', 'list'], { env: { DROVER_TOKEN: created.secret } });
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /UNAUTHORIZED/);
    const again = await drover(['token', 'revoke', 'ci']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /TOKEN_NOT_FOUND/);
  });

  it('deletes VMs: refused while running without --force', async () => {
    await ok(['vm', 'start', 'web']);
    const refused = await drover(['vm', 'delete', 'web']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /VM_NOT_STOPPED/);
    assert.match(await ok(['vm', 'delete', 'web', '--force']), /deleted vm web/);
    for (const clone of ['web-linked', 'web-full']) await ok(['vm', 'delete', clone]);
    assert.deepEqual(await json(['vm', 'list']), []);
  });
});
