/**
 * /metrics checked by Prometheus's own linter: `promtool check metrics` reads the exposition on
 * stdin and names every problem (a _total that is not a counter, a missing help, a non-base unit).
 * The host is a simulated agent, since a real host can't run in process; tests/system/prometheus.test.ts
 * scrapes a real one with a real Prometheus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import { simulatedAgent, view, type SimulatedAgent } from '../vms/simulated-agent.js';

const VM_COUNTERS = ['drover_vm_cpu_seconds_total', 'drover_vm_disk_read_bytes_total', 'drover_vm_disk_write_bytes_total', 'drover_vm_network_receive_bytes_total', 'drover_vm_network_transmit_bytes_total'];

/** A controller with host alpha running `web` (with usage figures) and a stopped `db`, after one heartbeat. */
async function controllerWithVms(t: { after: (fn: () => Promise<void>) => void }): Promise<{ controller: TestController; agent: SimulatedAgent; scrape: () => Promise<string> }> {
  const controller = await testController();
  const agent = await simulatedAgent([view('web')]);
  t.after(async () => {
    await controller.close();
    await agent.close();
  });
  agent.stats = [{ name: 'web', cpuSeconds: 12.5, memoryRssBytes: 200 * 2 ** 20, diskReadBytes: 4096, diskWriteBytes: 8192, netRxBytes: 1500, netTxBytes: 900 }];
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', address: agent.url, credential: 'alpha-secret' }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-web', name: 'web', hostId: 'h-alpha', state: 'running', desiredState: 'running', runtime: { hostVmId: 'id-web', guestReady: true, pid: 4242 } }));
  await controller.store.vms.insert(sampleVm({ id: 'vm-db', name: 'db', hostId: 'h-alpha' }));
  // A heartbeat skips records changed since its fetch began (same millisecond included).
  await delay(5);
  await controller.services.hosts.heartbeat();
  const scrape = async (): Promise<string> => {
    const res = await controller.app.inject({ method: 'GET', url: '/metrics', headers: controller.auth });
    assert.equal(res.statusCode, 200, res.body);
    return res.body;
  };
  return { controller, agent, scrape };
}

test('promtool finds no problem in /metrics, with host and VM series present', async (t) => {
  const { scrape } = await controllerWithVms(t);
  const body = await scrape();
  // promtool passes empty input, and families without samples are not linted: make sure the series are there.
  for (const series of ['drover_host_up{host="alpha"} 1', 'drover_vm_running{vm="web",host="alpha"} 1', 'drover_vm_running{vm="db",host="alpha"} 0', 'drover_vm_memory_rss_bytes{vm="web",host="alpha"} 209715200']) {
    assert.ok(body.includes(series), `${series} missing from:\n${body}`);
  }
  for (const name of VM_COUNTERS) assert.match(body, new RegExp(`^${name}\\{vm="web",host="alpha"\\} \\d`, 'm'));

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 30_000 });
  assert.equal(promtool.error, undefined, 'promtool must be installed (scripts/setup installs it)');
  const problems = `${promtool.stdout}${promtool.stderr}`.split('\n').filter((line) => line.trim() !== '');
  assert.deepEqual(problems, [], 'promtool check metrics reported problems');
  assert.equal(promtool.status, 0);
});

test('every drover_ series ending in _total is a counter, and the VM counters carry the host\'s cumulative figures', async (t) => {
  const { scrape } = await controllerWithVms(t);
  const body = await scrape();
  const types = new Map([...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  const totals = [...types].filter(([name]) => name?.startsWith('drover_') && name.endsWith('_total'));
  assert.ok(totals.length >= VM_COUNTERS.length + 1, JSON.stringify(totals));
  assert.deepEqual(totals.filter(([, type]) => type !== 'counter'), []);
  for (const [name, value] of [
    ['drover_vm_cpu_seconds_total', 12.5],
    ['drover_vm_disk_read_bytes_total', 4096],
    ['drover_vm_disk_write_bytes_total', 8192],
    ['drover_vm_network_receive_bytes_total', 1500],
    ['drover_vm_network_transmit_bytes_total', 900],
  ] as const) {
    assert.ok(body.includes(`${name}{vm="web",host="alpha"} ${value}\n`), `${name} is not ${value}`);
  }
});

test('a heartbeat where the guest agent did not answer keeps the network counters; a QEMU restart resets them', async (t) => {
  const { controller, agent, scrape } = await controllerWithVms(t);
  await scrape();
  const value = (body: string, name: string): number => Number(new RegExp(`^${name}\\{vm="web",host="alpha"\\} (\\S+)$`, 'm').exec(body)?.[1]);

  agent.stats = [{ name: 'web', cpuSeconds: 13, memoryRssBytes: 2 ** 20, diskReadBytes: 5000, diskWriteBytes: 8192, netRxBytes: 0, netTxBytes: 0 }];
  await controller.services.hosts.heartbeat();
  const missed = await scrape();
  assert.deepEqual([value(missed, 'drover_vm_cpu_seconds_total'), value(missed, 'drover_vm_disk_read_bytes_total'), value(missed, 'drover_vm_network_receive_bytes_total')], [13, 5000, 1500]);

  agent.stats = [{ name: 'web', cpuSeconds: 0.5, memoryRssBytes: 2 ** 20, diskReadBytes: 100, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 }];
  await controller.services.hosts.heartbeat();
  const restarted = await scrape();
  assert.deepEqual([value(restarted, 'drover_vm_cpu_seconds_total'), value(restarted, 'drover_vm_disk_read_bytes_total'), value(restarted, 'drover_vm_network_receive_bytes_total')], [0.5, 100, 0]);
});
