/**
 * One conformance suite for every guest driver: the same tests run against a QEMU VM (the tiny image) and a
 * system container (the tiny-ct image), through the host agent's API, so both kinds keep one contract:
 * lifecycle, exec exit codes, the text console, snapshots and revert, a CPU cap changed live, an agent
 * killed with its guests running, and a crash reported with its reason.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { startAgent, useAgent } from '../helpers/agent.js';
import { eventually, READY_TIMEOUT_MS, sh, shOk, type VmView } from '../helpers/vm.js';

interface GuestKind {
  type: 'vm' | 'container';
  image: string;
}

const KINDS: GuestKind[] = [
  { type: 'vm', image: 'tiny' },
  { type: 'container', image: 'tiny-ct' },
];

interface Stats {
  name: string;
  cpuSeconds: number;
}

for (const kind of KINDS) {
  describe(`guest conformance: ${kind.type} (${kind.image})`, () => {
    const suite = useAgent();
    const name = `g-${kind.type}`;
    const get = async () => (await suite.agent.api<VmView & { type: string }>('GET', `/api/v1/vms/${name}`)).body;
    const startReady = async () => {
      const started = await suite.agent.api<VmView>('POST', `/api/v1/vms/${name}/start`);
      assert.equal(started.status, 200, JSON.stringify(started.body));
      const ready = await suite.agent.api<VmView>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: READY_TIMEOUT_MS });
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      return ready.body;
    };

    test('lifecycle: create, start until it answers, exec exit codes, pause, resume, reboot, stop', { timeout: 300_000 }, async () => {
      const created = await suite.agent.api<VmView & { type: string }>('POST', '/api/v1/vms', { name, type: kind.type, image: kind.image, memoryMiB: 256 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.type, kind.type);
      const ready = await startReady();
      assert.equal(ready.state, 'running');
      assert.equal(ready.guestReady, true);
      assert.ok(ready.pid);
      const result = await sh(suite.agent, name, 'echo out; echo err >&2; exit 7');
      assert.deepEqual([result.exitCode, result.stdout, result.stderr], [7, 'out\n', 'err\n']);
      assert.equal((await suite.agent.api('POST', `/api/v1/vms/${name}/pause`)).status, 200);
      assert.equal((await get()).state, 'paused');
      assert.equal((await suite.agent.api('POST', `/api/v1/vms/${name}/resume`)).status, 200);
      assert.equal((await get()).state, 'running');
      const bootBefore = (await shOk(suite.agent, name, 'cat /proc/uptime; date +%s')).trim();
      assert.ok(bootBefore);
      await shOk(suite.agent, name, 'echo before-reboot > /tmp/marker');
      assert.equal((await suite.agent.api('POST', `/api/v1/vms/${name}/reboot`)).status, 200);
      // After a reboot the guest answers again and /tmp (a tmpfs) is empty: it really started over.
      await eventually(async () => {
        const again = await suite.agent.api<VmView>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: 10_000 });
        assert.equal(again.status, 200);
        assert.equal((await sh(suite.agent, name, 'test -e /tmp/marker')).exitCode, 1);
      }, READY_TIMEOUT_MS, 1_000);
      const stopped = await suite.agent.api<VmView>('POST', `/api/v1/vms/${name}/stop?timeoutMs=60000`);
      assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
      assert.equal(stopped.body.state, 'stopped');
      const refused = await suite.agent.api<{ code: string }>('POST', `/api/v1/vms/${name}/exec`, { command: 'true' });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.code, 'VM_NOT_RUNNING');
    });

    test('console: the log keeps what the guest printed, and a live attach runs commands', { timeout: 300_000 }, async () => {
      await startReady();
      const ws = new WebSocket(`${suite.agent.url.replace('http', 'ws')}/api/v1/vms/${name}/console`, { headers: { authorization: `Bearer ${suite.agent.token}` } });
      let seen = '';
      ws.on('message', (d: Buffer) => (seen += d.toString()));
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      await eventually(async () => {
        ws.send('\necho console-$((6*7))\n');
        await delay(500);
        assert.match(seen, /console-42/);
      }, 60_000, 1_000);
      ws.close();
      const log = await suite.agent.api<string>('GET', `/api/v1/vms/${name}/console/log`);
      assert.equal(log.status, 200);
      assert.match(String(log.body), /console-42/);
    });

    test('snapshots: a live snapshot, a write, revert while stopped: the write is gone, the earlier file stays', { timeout: 300_000 }, async () => {
      await shOk(suite.agent, name, 'echo kept > /root/kept; sync');
      const snap = await suite.agent.api('POST', `/api/v1/vms/${name}/snapshots`, { name: 'clean' });
      assert.equal(snap.status, 201, JSON.stringify(snap.body));
      await shOk(suite.agent, name, 'echo oops > /root/mistake; sync');
      assert.equal((await suite.agent.api('POST', `/api/v1/vms/${name}/stop?timeoutMs=60000`)).status, 200);
      const reverted = await suite.agent.api('POST', `/api/v1/vms/${name}/snapshots/clean/revert`);
      assert.equal(reverted.status, 200, JSON.stringify(reverted.body));
      await startReady();
      assert.equal((await shOk(suite.agent, name, 'cat /root/kept')).trim(), 'kept');
      assert.equal((await sh(suite.agent, name, 'test -e /root/mistake')).exitCode, 1);
    });

    test('limits: a CPU cap set live holds a busy guest to it (within 10 points)', { timeout: 300_000 }, async () => {
      const capped = await suite.agent.api('PUT', `/api/v1/vms/${name}/limits`, { cpuLimitPercent: 30 });
      assert.equal(capped.status, 200, JSON.stringify(capped.body));
      const busy = sh(suite.agent, name, 'timeout 8 sh -c "while :; do :; done"; true', 30_000);
      await delay(1_500);
      const cpu = async () => ((await suite.agent.api<Stats[]>('GET', '/api/v1/vm-stats')).body.find((s) => s.name === name)?.cpuSeconds ?? NaN);
      const [c0, t0] = [await cpu(), Date.now()];
      await delay(4_000);
      const share = (await cpu() - c0) / ((Date.now() - t0) / 1000);
      await busy;
      assert.ok(share > 0.15 && share < 0.4, `CPU share under a 30% cap was ${(share * 100).toFixed(1)}%`);
      assert.equal((await suite.agent.api('PUT', `/api/v1/vms/${name}/limits`, { cpuLimitPercent: null })).status, 200);
    });

    test('agent killed with the guest running: the guest keeps running and the same pid is re-attached', { timeout: 300_000 }, async () => {
      const before = await get();
      assert.equal(before.state, 'running');
      await suite.agent.stopProcess('SIGKILL');
      assert.ok(process.kill(before.pid!, 0), 'the guest outlives its agent');
      suite.agent = await startAgent(suite.dataDir);
      const after = await get();
      assert.equal(after.state, 'running');
      assert.equal(after.pid, before.pid);
      assert.equal((await sh(suite.agent, name, 'exit 3')).exitCode, 3);
    });

    test('crash: the guest process killed from outside is reported crashed, with the reason', { timeout: 120_000 }, async () => {
      const vm = await get();
      process.kill(vm.pid!, 'SIGKILL');
      const crashed = await eventually(async () => {
        const now = await get();
        assert.equal(now.state, 'crashed');
        return now;
      }, 15_000);
      assert.match(crashed.crashReason ?? '', /killed by|signal 9|SIGKILL|disappeared/);
      // A crashed guest starts again.
      await startReady();
      assert.equal((await suite.agent.api('POST', `/api/v1/vms/${name}/kill`)).status, 200);
      assert.equal((await get()).state, 'stopped');
    });
  });
}
