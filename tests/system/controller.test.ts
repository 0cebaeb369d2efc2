import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeDataDir } from '../helpers/agent.js';
import { eventually } from '../helpers/vm.js';
import { cleanupDrover, qemuPidsUnder, startDrover, type TestDrover } from '../helpers/up.js';

interface Vm {
  name: string;
  state: string;
  host: string | null;
  pid: number | null;
  guestReady: boolean;
  crashReason: string | null;
}
interface Accepted {
  operation: { id: string; state: string };
  vm: Vm;
}
interface Host {
  name: string;
  address: string;
  health: string;
  vmCount: number;
  unmanagedVms: Array<{ name: string; state: string }>;
}

describe('controller with a real local host (drover up)', () => {
  const dataDir = makeDataDir();
  let drover: TestDrover;

  before(async () => {
    drover = await startDrover(dataDir);
  });
  after(async () => {
    for (const vm of (await drover?.api<{ vms: Vm[] }>('GET', '/api/v1/vms').catch(() => undefined))?.body.vms ?? []) {
      const res = await drover.api<Accepted>('DELETE', `/api/v1/vms/${vm.name}?force=true`);
      if (res.status === 202) await drover.waitOp(res.body.operation.id);
    }
    await cleanupDrover(drover, dataDir);
  });

  test('first start: admin token file is private, the CLI config is written, the local host is registered', async () => {
    const tokenFile = path.join(dataDir, 'admin.token');
    assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(tokenFile, 'utf8').trim(), drover.token);
    const config = JSON.parse(fs.readFileSync(path.join(drover.configHome, 'drover', 'config.json'), 'utf8')) as { url: string; token: string };
    assert.deepEqual(config, { url: drover.url, token: drover.token });
    const hosts = (await drover.api<{ hosts: Host[] }>('GET', '/api/v1/hosts')).body.hosts;
    assert.equal(hosts.length, 1);
    assert.equal(hosts[0]?.health, 'healthy');
  });

  test('create with start runs as an operation; exec, events and metrics see the VM', async () => {
    const created = await drover.api<Accepted>('POST', '/api/v1/vms', { name: 'app', image: 'tiny', start: true });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.vm.state, 'creating');
    const op = await drover.waitOp(created.body.operation.id);
    assert.equal(op.state, 'succeeded', JSON.stringify(op));
    const ready = await drover.api<Vm>('POST', '/api/v1/vms/app/wait-ready', { timeoutMs: 120_000 });
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.state, 'running');
    assert.equal(ready.body.guestReady, true);
    const exec = await drover.api<{ exitCode: number; stdout: string }>('POST', '/api/v1/vms/app/exec', { command: '/bin/hostname' });
    assert.deepEqual([exec.body.exitCode, exec.body.stdout], [0, 'app\n']);

    const events = (await drover.api<{ events: Array<{ action: string; actor: string; result: string }> }>('GET', '/api/v1/events?vm=app&limit=50')).body.events;
    assert.ok(events.some((e) => e.action === 'vm.create' && e.actor === 'admin' && e.result === 'succeeded'), JSON.stringify(events));
    assert.ok(events.some((e) => e.action === 'vm.exec' && e.actor === 'admin'));

    // The guest's DHCP address reaches the API through the heartbeats (guest agent on the host).
    const withIp = await eventually(async () => {
      const vm = (await drover.api<Vm & { ips: string[] }>('GET', '/api/v1/vms/app')).body;
      assert.ok(vm.ips.includes('10.0.2.15'), JSON.stringify(vm.ips));
      return vm;
    }, 20_000);
    assert.ok(withIp);

    const metrics = await eventually(async () => {
      const res = await drover.api<string>('GET', '/metrics');
      assert.match(res.body, /drover_vm_cpu_seconds_total\{vm="app",host="[^"]+"\} [0-9.]+/);
      return res.body;
    }, 15_000);
    assert.match(metrics, /drover_host_up\{host="[^"]+"\} 1/);
  });

  test('wrong-state actions are refused with coded errors', async () => {
    const again = await drover.api<{ code: string }>('POST', '/api/v1/vms/app/start');
    assert.deepEqual([again.status, again.body.code], [409, 'VM_ALREADY_RUNNING']);
    const del = await drover.api<{ code: string }>('DELETE', '/api/v1/vms/app');
    assert.deepEqual([del.status, del.body.code], [409, 'VM_NOT_STOPPED']);
    const missing = await drover.api<{ code: string }>('POST', '/api/v1/vms/nope/start');
    assert.deepEqual([missing.status, missing.body.code], [404, 'VM_NOT_FOUND']);
    const dup = await drover.api<{ code: string }>('POST', '/api/v1/vms', { name: 'app', image: 'tiny' });
    assert.deepEqual([dup.status, dup.body.code], [409, 'VM_EXISTS']);
  });

  test('a QEMU that dies is shown crashed with its reason, and an event records it', async () => {
    const vm = (await drover.api<Vm>('GET', '/api/v1/vms/app')).body;
    assert.ok(vm.pid);
    process.kill(vm.pid, 'SIGKILL');
    const crashed = await eventually(async () => {
      const now = (await drover.api<Vm>('GET', '/api/v1/vms/app')).body;
      assert.equal(now.state, 'crashed');
      return now;
    }, 20_000);
    assert.match(crashed.crashReason ?? '', /SIGKILL|QEMU/);
    const events = (await drover.api<{ events: Array<{ action: string }> }>('GET', '/api/v1/events?vm=app&limit=20')).body.events;
    assert.ok(events.some((e) => e.action === 'vm.crashed'));
  });

  test('a VM running on the host without the controller knowing is shown, and left running', async () => {
    const host = (await drover.api<{ hosts: Host[] }>('GET', '/api/v1/hosts')).body.hosts[0]!;
    const agentToken = fs.readFileSync(path.join(dataDir, 'host', 'agent.token'), 'utf8').trim();
    const agent = (method: string, route: string, body?: unknown) =>
      fetch(`${host.address}${route}`, {
        method,
        headers: { authorization: `Bearer ${agentToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    assert.equal((await agent('POST', '/api/v1/vms', { name: 'stray', image: 'tiny' })).status, 201);
    assert.equal((await agent('POST', '/api/v1/vms/stray/start')).status, 200);
    const shown = await eventually(async () => {
      const h = (await drover.api<Host>('GET', `/api/v1/hosts/${host.name}`)).body;
      assert.ok(h.unmanagedVms.some((u) => u.name === 'stray'), JSON.stringify(h.unmanagedVms));
      return h;
    }, 15_000);
    assert.ok(shown);
    const events = (await drover.api<{ events: Array<{ action: string }> }>('GET', '/api/v1/events?vm=stray')).body.events;
    assert.ok(events.some((e) => e.action === 'vm.unmanaged-detected'));
    const still = (await (await agent('GET', '/api/v1/vms/stray')).json()) as { state: string };
    assert.equal(still.state, 'running', 'the controller never kills a VM it does not know');
    assert.equal((await agent('DELETE', '/api/v1/vms/stray?force=true')).status, 204);
  });

  test('controller kill -9 in the middle of operations: no orphaned QEMU, no VM the store does not know', async () => {
    const created = await drover.api<Accepted>('POST', '/api/v1/vms', { name: 'midway', image: 'tiny', start: true });
    assert.equal(created.status, 202);
    await drover.stop('SIGKILL');
    drover = await startDrover(dataDir, drover.configHome);

    const vms = await eventually(async () => {
      const list = (await drover.api<{ vms: Vm[] }>('GET', '/api/v1/vms')).body.vms;
      assert.ok(list.every((v) => v.state !== 'creating' && v.state !== 'deleting'), JSON.stringify(list));
      return list;
    }, 30_000);
    const op = (await drover.api<{ state: string; error: { code: string } | null }>('GET', `/api/v1/operations/${created.body.operation.id}`)).body;
    assert.ok(op.state === 'succeeded' || (op.state === 'failed' && op.error?.code === 'OPERATION_INTERRUPTED'), JSON.stringify(op));

    // Every QEMU under this data dir belongs to a VM the store knows.
    const known = new Set(vms.map((v) => v.pid).filter((p): p is number => p !== null));
    await eventually(async () => {
      const list = (await drover.api<{ vms: Vm[] }>('GET', '/api/v1/vms')).body.vms;
      for (const v of list) if (v.pid) known.add(v.pid);
      for (const pid of qemuPidsUnder(dataDir)) assert.ok(known.has(pid), `QEMU ${pid} belongs to a VM in the store`);
    }, 15_000);
  });
});
