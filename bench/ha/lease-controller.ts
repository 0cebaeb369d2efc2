/**
 * The controller of the lease-scale benchmark, in its own process so that its CPU time is its own: a real
 * controller (startController) on a temporary data dir, with the simulated hosts written straight into its store
 * (`sim-host-NNNN`, each with the agent token the controller holds for it, and one shared pool), and HA stepping
 * every `stepMs` as `drover up` has it. Host heartbeats are not started: only leases, HA's steps and its
 * heartbeat-slot reads run. Driven over IPC (lease-protocol.ts); deletes its data dir when stopped.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/server.js';
import { sampleHost } from '../../src/controller/store/fixtures.js';
import { readControllerCpu, type ChildReply, type ControllerRequest, type SimulatedLeaseHost } from './lease-protocol.js';

const GiB = 2 ** 30;
/** The one shared pool every simulated host reaches, as hosts mounting one NAS would report it. */
export const SIMULATED_POOL = 'shared:sim-pool';

let controller: RunningController | undefined;
let dataDir: string | undefined;

function reply(message: ChildReply): void {
  process.send?.(message);
}

async function start(hosts: SimulatedLeaseHost[], agentBaseUrl: string): Promise<{ url: string; token: string; pid: number }> {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-bench-ha-lease-'));
  controller = await startController({ dataDir, port: 0, heartbeatMs: 0, haStepMs: 0, logger: pino({ level: 'silent' }), print: () => undefined });
  const now = new Date().toISOString();
  await controller.services.store.transaction(async (tx) => {
    for (const host of hosts) {
      await tx.hosts.insert(
        sampleHost({
          id: randomUUID(),
          name: host.name,
          // Each simulated host's agent API is a path on the worker's server, so the worker knows which host is asked.
          address: `${agentBaseUrl}/h/${host.name}`,
          credential: host.agentToken,
          capacity: { cpus: 64, memoryBytes: 256 * GiB, diskBytes: 4096 * GiB },
          pools: [{ name: 'local', kind: 'local' }, { name: SIMULATED_POOL, kind: 'shared' }],
          lastHeartbeat: now,
          createdAt: now,
          updatedAt: now,
        }),
      );
    }
  });
  const token = controller.adminToken.created ?? fs.readFileSync(controller.adminToken.file, 'utf8').trim();
  return { url: controller.address, token, pid: process.pid };
}

let stopping: Promise<void> | undefined;

/** Stops HA and the controller and deletes the data dir; once, however often it is called. */
function stop(): Promise<void> {
  stopping ??= (async () => {
    try {
      await controller?.services.ha.stop();
      await controller?.close();
    } finally {
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    }
  })();
  return stopping;
}

let stepMs = 500;

process.on('message', (request: ControllerRequest) => {
  const answer = async (): Promise<Record<string, unknown>> => {
    switch (request.kind) {
      case 'start':
        stepMs = request.stepMs;
        return start(request.hosts, request.agentBaseUrl);
      case 'start-ha':
        if (!controller) throw new Error('the controller is not started');
        {
          const running = controller;
          await running.leadership.asLeader(async () => running.services.ha.start(stepMs));
        }
        return {};
      case 'cpu':
        return { cpu: readControllerCpu() };
      case 'stop':
        await stop();
        return {};
    }
  };
  answer().then(
    (result) => {
      reply({ id: request.id, ok: true, ...result });
      if (request.kind === 'stop') process.disconnect();
    },
    (err: unknown) => reply({ id: request.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});

// The parent gone (its IPC channel closed) means nobody will stop us: clean up and leave.
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0));
});
