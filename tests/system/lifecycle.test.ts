import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { useAgent } from '../helpers/agent.js';
import { createVm, eventually, sh, shOk, startReady, type VmView } from '../helpers/vm.js';

/** A TCP port that is free on loopback right now. */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('VM lifecycle on one host (real QEMU, tiny image)', () => {
  const suite = useAgent();
  const { dataDir } = suite;

  test('the host reports its accelerator and why', async () => {
    const host = await suite.agent.api<{ accelerator: { accelerator: string; reason: string } }>('GET', '/api/v1/host');
    assert.equal(host.status, 200);
    assert.match(host.body.accelerator.accelerator, /^(kvm|tcg)$/);
    assert.ok(host.body.accelerator.reason.length > 0);
  });

  test('virtio model: boots, guest agent answers, virtio disk and NIC, DHCP address', async () => {
    await createVm(suite.agent, { name: 'pv', devices: 'virtio' });
    await startReady(suite.agent, 'pv');
    const blocks = await shOk(suite.agent, 'pv', 'ls /sys/block');
    assert.match(blocks, /\bvda\b/);
    const modules = await shOk(suite.agent, 'pv', 'cat /proc/modules');
    assert.match(modules, /^virtio_net /m);
    const addr = await eventually(async () => {
      const out = await shOk(suite.agent, 'pv', 'ip -4 addr show eth0');
      assert.match(out, /inet 10\.0\.2\.15\//);
      return out;
    });
    assert.ok(addr);
    const exit = await sh(suite.agent, 'pv', 'echo out; echo err >&2; exit 7');
    assert.deepEqual([exit.exitCode, exit.stdout, exit.stderr], [7, 'out\n', 'err\n']);
  });

  test('emulated model: boots with an IDE disk and an e1000 NIC', async () => {
    await createVm(suite.agent, { name: 'fv', devices: 'emulated' });
    await startReady(suite.agent, 'fv');
    assert.match(await shOk(suite.agent, 'fv', 'ls /sys/block'), /\bsda\b/);
    assert.match(await shOk(suite.agent, 'fv', 'cat /proc/modules'), /^e1000 /m);
    assert.doesNotMatch(await shOk(suite.agent, 'fv', 'ls /sys/block'), /\bvda\b/);
    assert.match(await shOk(suite.agent, 'fv', 'readlink /sys/class/net/eth0/device/driver'), /\/e1000\n$/);
    await eventually(async () => assert.match(await shOk(suite.agent, 'fv', 'ip -4 addr show eth0'), /inet 10\.0\.2\.15\//));
  });

  test('serial console: the log keeps boot output and a live attach runs shell commands', async () => {
    const log = await suite.agent.api<string>('GET', '/api/v1/vms/pv/console/log');
    assert.equal(log.status, 200);
    assert.match(log.body, /drover-guest: ready/);

    const ws = new WebSocket(`${suite.agent.url.replace('http', 'ws')}/api/v1/vms/pv/console`, {
      headers: { authorization: `Bearer ${suite.agent.token}` },
    });
    let seen = '';
    ws.on('message', (d: Buffer) => (seen += d.toString()));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('\necho console-$((6*7))\n');
    await eventually(async () => assert.match(seen, /console-42/), 20_000);
    ws.close();
  });

  test('user-mode port forwards reach a guest service; VNC serves RFB', async () => {
    const hostPort = await freePort();
    await createVm(suite.agent, { name: 'svc', portForwards: [{ protocol: 'tcp', hostPort, guestPort: 8080 }] });
    const vm = await startReady(suite.agent, 'svc');
    await shOk(suite.agent, 'svc', 'mkdir -p /www && echo hello-from-guest > /www/index.html && httpd -p 8080 -h /www && echo ok');
    const body = await eventually(async () => (await fetch(`http://127.0.0.1:${hostPort}/index.html`)).text());
    assert.equal(body, 'hello-from-guest\n');

    const greeting = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(path.join(dataDir, 'run', vm.id, 'vnc.sock'));
      sock.once('data', (d) => {
        resolve(d.toString());
        sock.destroy();
      });
      sock.once('error', reject);
    });
    assert.match(greeting, /^RFB 003\.00\d/);
    await suite.agent.api('POST', '/api/v1/vms/svc/kill');
  });

  test('pause and resume; a paused VM refuses exec with a coded error', async () => {
    const paused = await suite.agent.api<VmView>('POST', '/api/v1/vms/pv/pause');
    assert.equal(paused.body.state, 'paused');
    const refused = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms/pv/exec', { command: '/bin/true' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'VM_NOT_RUNNING');
    const resumed = await suite.agent.api<VmView>('POST', '/api/v1/vms/pv/resume');
    assert.equal(resumed.body.state, 'running');
    assert.equal(await shOk(suite.agent, 'pv', 'echo alive'), 'alive\n');
  });

  test('reboot: the guest comes back with a fresh uptime', async () => {
    const before = Number((await shOk(suite.agent, 'pv', 'cut -d" " -f1 /proc/uptime')).trim());
    await suite.agent.api('POST', '/api/v1/vms/pv/reboot');
    const ready = await suite.agent.api<VmView>('POST', '/api/v1/vms/pv/wait-ready', { timeoutMs: 120_000 });
    assert.equal(ready.status, 200);
    const afterUptime = Number((await shOk(suite.agent, 'pv', 'cut -d" " -f1 /proc/uptime')).trim());
    assert.ok(afterUptime < before + 1, `uptime ${afterUptime} should restart (was ${before})`);
  });

  test('graceful stop powers the guest off through ACPI; force stop kills at once', async () => {
    const stopped = await suite.agent.api<VmView>('POST', '/api/v1/vms/pv/stop?timeoutMs=60000');
    assert.equal(stopped.status, 200);
    assert.equal(stopped.body.state, 'stopped');
    const log = await suite.agent.api<string>('GET', '/api/v1/vms/pv/console/log?tailBytes=4000');
    assert.match(log.body, /power down|Power down|reboot: Power/i, 'the guest itself powered off');

    const killed = await suite.agent.api<VmView>('POST', '/api/v1/vms/fv/kill');
    assert.equal(killed.body.state, 'stopped');
    assert.equal(killed.body.crashReason, undefined);
  });

  test('wrong-state actions get coded 409s and change nothing', async () => {
    const again = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms/pv/stop');
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'VM_NOT_RUNNING');
    await suite.agent.api('POST', '/api/v1/vms/pv/start');
    const twice = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms/pv/start');
    assert.equal(twice.status, 409);
    assert.equal(twice.body.code, 'VM_ALREADY_RUNNING');
    const del = await suite.agent.api<{ code: string }>('DELETE', '/api/v1/vms/pv');
    assert.equal(del.status, 409);
    assert.equal(del.body.code, 'VM_NOT_STOPPED');
    const forced = await suite.agent.api('DELETE', '/api/v1/vms/pv?force=true');
    assert.equal(forced.status, 204);
    assert.equal((await suite.agent.api('GET', '/api/v1/vms/pv')).status, 404);
  });
});
