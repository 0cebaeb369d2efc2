/**
 * /metrics read by a real client: Debian's Prometheus scrapes a `drover up` controller (with the
 * admin token as its bearer credential) running a tiny VM and a tiny-ct container, and its query
 * API must list exactly those guests, with the VM usage series typed as counters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeDataDir } from '../helpers/agent.js';
import { eventually } from '../helpers/vm.js';
import { cleanupDrover, deleteEveryVm, startDrover, type TestDrover } from '../helpers/up.js';

const PROMETHEUS = '/usr/bin/prometheus';
const GUESTS = ['prom-ct', 'prom-vm'];

interface Accepted {
  operation: { id: string };
}
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface Target {
  scrapePool: string;
  health: string;
  lastError: string;
}

/** A TCP port nobody listens on right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The scrape configuration: job `drover` with the token, job `drover-no-token` without (it must be refused). */
function prometheusConfig(target: string, token: string): string {
  const job = (name: string, auth: string[]) => [
    `  - job_name: ${name}`,
    '    scrape_interval: 1s',
    '    scrape_timeout: 1s',
    '    metrics_path: /metrics',
    ...auth,
    '    static_configs:',
    `      - targets: ['${target}']`,
  ];
  return [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    ...job('drover', ['    authorization:', `      credentials: '${token}'`]),
    ...job('drover-no-token', []),
    '',
  ].join('\n');
}

describe('Prometheus scrapes the controller', () => {
  const dataDir = makeDataDir();
  const promDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-prom-'));
  let drover: TestDrover;
  let prometheus: ChildProcess | undefined;
  let prometheusOutput = '';
  let promUrl = '';

  /** Runs a PromQL instant query and returns its vector. */
  const query = async (promql: string): Promise<Sample[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { resultType: string; result: Sample[] } };
    assert.equal(body.status, 'success', JSON.stringify(body));
    return body.data.result;
  };

  before(async () => {
    drover = await startDrover(dataDir);
    const created = await Promise.all([
      drover.api<Accepted>('POST', '/api/v1/vms', { name: 'prom-vm', image: 'tiny', memoryMiB: 128, start: true }),
      drover.api<Accepted>('POST', '/api/v1/vms', { name: 'prom-ct', type: 'container', image: 'tiny-ct', memoryMiB: 128, start: true }),
    ]);
    for (const res of created) {
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const op = await drover.waitOp(res.body.operation.id);
      assert.equal(op.state, 'succeeded', JSON.stringify(op));
    }

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const configFile = path.join(promDir, 'prometheus.yml');
    fs.writeFileSync(configFile, prometheusConfig(new URL(drover.url).host, drover.token), { mode: 0o600 });
    prometheus = spawn(PROMETHEUS, [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    prometheus.stdout?.on('data', (d: Buffer) => (prometheusOutput += d.toString()));
    prometheus.stderr?.on('data', (d: Buffer) => (prometheusOutput += d.toString()));
    await eventually(async () => {
      assert.equal(prometheus?.exitCode, null, `prometheus exited:\n${prometheusOutput}`);
      assert.equal((await fetch(`${promUrl}/-/ready`)).status, 200);
    }, 20_000);
  });

  after(async () => {
    if (prometheus?.pid !== undefined && prometheus.exitCode === null && prometheus.signalCode === null) {
      const pid = prometheus.pid;
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      process.kill(pid, 'SIGTERM');
      // Prometheus flushes its head block on SIGTERM; a test's throwaway data is not worth waiting long for.
      const killer = setTimeout(() => process.kill(pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(promDir, { recursive: true, force: true });
    await deleteEveryVm(drover);
    await cleanupDrover(drover, dataDir);
  });

  test('drover_vm_running lists exactly the VMs the controller has, both running', async () => {
    const running = await eventually(async () => {
      const result = await query('drover_vm_running');
      assert.deepEqual(result.map((s) => s.metric.vm).sort(), GUESTS, prometheusOutput);
      return result;
    }, 20_000);
    for (const sample of running) {
      assert.equal(sample.value[1], '1', JSON.stringify(sample));
      assert.equal(sample.metric.job, 'drover');
      assert.ok(sample.metric.host, JSON.stringify(sample));
    }
  });

  test('the scrape with the token is up; the one without is refused', async () => {
    const targets = await eventually(async () => {
      const res = (await (await fetch(`${promUrl}/api/v1/targets?state=active`)).json()) as { data: { activeTargets: Target[] } };
      const byJob = new Map(res.data.activeTargets.map((t) => [t.scrapePool, t]));
      assert.equal(byJob.get('drover')?.health, 'up', JSON.stringify(res.data.activeTargets));
      assert.equal(byJob.get('drover-no-token')?.health, 'down', JSON.stringify(res.data.activeTargets));
      return byJob;
    }, 20_000);
    assert.equal(targets.get('drover')?.lastError, '');
    assert.match(targets.get('drover-no-token')?.lastError ?? '', /401/);
    const up = await query('up{job="drover"}');
    assert.deepEqual(up.map((s) => s.value[1]), ['1']);
  });

  test('the VM usage series are counters that Prometheus can take a rate of', async () => {
    const metadata = (await (await fetch(`${promUrl}/api/v1/metadata`)).json()) as { data: Record<string, Array<{ type: string }>> };
    for (const name of ['drover_vm_cpu_seconds_total', 'drover_vm_disk_read_bytes_total', 'drover_vm_disk_write_bytes_total', 'drover_vm_network_receive_bytes_total', 'drover_vm_network_transmit_bytes_total', 'drover_api_requests_total']) {
      assert.deepEqual(metadata.data[name]?.map((m) => m.type), ['counter'], name);
    }
    assert.deepEqual(metadata.data.drover_vm_running?.map((m) => m.type), ['gauge']);
    // Both guests use CPU while they boot; a rate needs two scrapes of the counter.
    const rates = await eventually(async () => {
      const result = await query('rate(drover_vm_cpu_seconds_total{job="drover"}[10s])');
      assert.deepEqual(result.map((s) => s.metric.vm).sort(), GUESTS, JSON.stringify(result));
      return result;
    }, 20_000);
    for (const sample of rates) assert.ok(Number(sample.value[1]) >= 0, JSON.stringify(sample));
    const cpu = await query('drover_vm_cpu_seconds_total{vm="prom-vm"}');
    assert.ok(Number(cpu[0]?.value[1]) > 0, JSON.stringify(cpu));
  });
});
