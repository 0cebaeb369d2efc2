/**
 * A simulated host agent for in-process controller tests: an HTTP server that answers enough of
 * the agent API for heartbeats and scripted live migrations. Real hosts can't run in process;
 * tests/system uses testbed hosts instead.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MigrationView } from '../../migration/schemas.js';
import type { VmView } from '../../vms/schemas.js';
import type { VmStats } from '../../vms/stats.js';
import { testController, type TestController } from '../api/testing.js';
import { sampleHost } from '../store/fixtures.js';

/** One simulated agent: its VMs, its migrations, and the requests it saw. */
export interface SimulatedAgent {
  url: string;
  vms: VmView[];
  /** The usage figures it reports for its VMs (GET /api/v1/vm-stats); none by default. */
  stats: VmStats[];
  migrations: Map<string, MigrationView>;
  /** Requests seen, as `METHOD /path`. */
  seen: string[];
  /** Bodies of the VM definitions it was asked for (POST /api/v1/vms), in order. */
  created: Array<Record<string, unknown>>;
  /** While false, a migration stays in `migrating`. */
  release: boolean;
  /** How long the answer to a migrate request is held back (a busy source). */
  migrateAnswerDelayMs: number;
  /** Where a completed migration moves the VM. */
  peer?: SimulatedAgent;
  /** While true, questions about a migration get a 503 (the agent is there, its migration service is not answering). */
  migrationsUnanswered: boolean;
  close(): Promise<void>;
}

/** A running VM as an agent reports it. */
export const view = (name: string): VmView => ({ id: `id-${name}`, name, type: 'vm', cpus: 1, cpuModel: 'qemu64', memoryMiB: 256, devices: 'virtio', state: 'running', guestReady: true, pid: 4242, disks: [], nics: [], createdAt: '2025-01-01T00:00:00.000Z' });
/** The progress every simulated migration reports. */
const progress = { pass: 1, ramTransferredBytes: 64 * 2 ** 20, ramRemainingBytes: 8 * 2 ** 20, ramTotalBytes: 256 * 2 ** 20, dirtyPagesRate: 100, mbps: 900, cpuThrottlePercent: 0, postcopy: false, disks: [] };
/** The result every simulated migration completes with. */
const result = { totalTimeMs: 1800, downtimeMs: 42, setupTimeMs: 12, ramTransferredBytes: 70 * 2 ** 20, passes: 2, postcopy: false, maxCpuThrottlePercent: 0 };

/** A simulated host agent: enough of the agent API for heartbeats, limits and one scripted migration; with `definesVms`, creates succeed. */
export async function simulatedAgent(vms: VmView[] = [], options: { definesVms?: boolean } = {}): Promise<SimulatedAgent> {
  const agent: SimulatedAgent = { url: '', vms, stats: [], migrations: new Map(), seen: [], created: [], release: true, migrateAnswerDelayMs: 0, migrationsUnanswered: false, close: async () => undefined };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const url = req.url ?? '';
      agent.seen.push(`${req.method} ${url}`);
      const send = (status: number, value: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      const migrate = /^\/api\/v1\/vms\/([a-z0-9-]+)\/migrate$/.exec(url);
      const migration = /^\/api\/v1\/migrations\/([0-9a-f-]+)(\/cancel)?$/.exec(url);
      if (url === '/api/v1/host') return send(200, { hostname: 'sim', version: '0', accelerator: { accelerator: 'tcg', reason: '', probedAt: '', durationMs: 0 }, capacity: { cpus: 8, memoryMiB: 16384 }, usage: { vmsRunning: 0, vmsDefined: 0, cpusAllocated: 0, memoryMiBAllocated: 0, load1: 0 } });
      if (url === '/api/v1/vms' && req.method === 'POST' && options.definesVms) {
        const definition = JSON.parse(body) as { name: string; cpuModel?: string };
        agent.created.push(definition);
        const defined = { ...view(definition.name), state: 'stopped' as const, cpuModel: definition.cpuModel ?? 'qemu64' };
        agent.vms.push(defined);
        return send(201, defined);
      }
      if (url === '/api/v1/vms') return send(200, agent.vms);
      if (url === '/api/v1/vm-stats') return send(200, agent.stats);
      if (url.startsWith('/api/v1/vms/') && req.method === 'GET') {
        const found = agent.vms.find((v) => url.endsWith(`/${v.name}`));
        return found ? send(200, found) : send(404, { code: 'VM_NOT_FOUND' });
      }
      const waitReady = /^\/api\/v1\/vms\/([a-z0-9-]+)\/wait-ready$/.exec(url);
      if (waitReady?.[1] && req.method === 'POST') {
        const found = agent.vms.find((v) => v.name === waitReady[1]);
        if (found) found.guestReady = true;
        return found ? send(200, found) : send(404, { code: 'VM_NOT_FOUND' });
      }
      const limits = /^\/api\/v1\/vms\/([a-z0-9-]+)\/limits$/.exec(url);
      if (limits?.[1] && req.method === 'PUT') {
        const found = agent.vms.find((v) => v.name === limits[1]);
        if (found) found.memoryMiB = (JSON.parse(body) as { memoryMiB?: number }).memoryMiB ?? found.memoryMiB;
        return found ? send(200, found) : send(404, { code: 'VM_NOT_FOUND' });
      }
      if (migrate?.[1]) {
        const id = crypto.randomUUID();
        const request = JSON.parse(body) as { storage: 'shared' | 'copy'; destination?: { agentUrl: string } };
        const started: MigrationView = { id, direction: 'outgoing', vm: { id: `id-${migrate[1]}`, name: migrate[1] }, storage: request.storage, state: 'migrating', peer: request.destination?.agentUrl ?? 'sim', startedAt: new Date().toISOString(), progress };
        agent.migrations.set(id, started);
        return void setTimeout(() => send(202, started), agent.migrateAnswerDelayMs);
      }
      if (url === '/api/v1/migrations' && req.method === 'GET') return send(200, [...agent.migrations.values()]);
      if (migration && agent.migrationsUnanswered) return send(503, { code: 'HOST_UNREACHABLE', message: 'not answering' });
      const current = migration?.[1] ? agent.migrations.get(migration[1]) : undefined;
      if (!current) return send(404, { code: 'NOT_FOUND' });
      if (migration?.[2]) {
        current.state = 'cancelled';
        current.error = { code: 'MIGRATION_CANCELLED', message: 'cancelled', detail: 'cancelled on request' };
        return send(202, current);
      }
      if (current.state === 'migrating' && agent.release) {
        Object.assign(current, { state: 'completed', result, finishedAt: new Date().toISOString() });
        const moved = agent.vms.find((v) => v.name === current.vm.name);
        agent.vms = agent.vms.filter((v) => v !== moved);
        // Like QEMU's incoming side, the destination has not heard from the guest agent yet.
        if (moved) agent.peer?.vms.push({ ...moved, id: 'id-arrived', pid: 5151, guestReady: false });
      }
      return send(200, current);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  agent.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      // Kept-alive connections from the controller would hold the server open (and a "dead" agent answering).
      server.closeAllConnections();
    });
  return agent;
}

/** A controller with host alpha (its agent running `sourceVms`) and host beta, each behind a simulated agent; alpha migrates to beta. */
export async function twoSimulatedHosts(
  t: { after: (fn: () => Promise<void>) => void },
  sourceVms: VmView[],
): Promise<{ controller: TestController; source: SimulatedAgent; destination: SimulatedAgent }> {
  const controller = await testController();
  const source = await simulatedAgent(sourceVms);
  const destination = await simulatedAgent();
  source.peer = destination;
  t.after(async () => {
    await controller.close();
    await source.close();
    await destination.close();
  });
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha', address: source.url, credential: 'alpha-secret' }));
  await controller.store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', address: destination.url, credential: 'beta-secret' }));
  return { controller, source, destination };
}
