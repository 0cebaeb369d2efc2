/**
 * The controller of the scale benchmark, in its own process so that its CPU time is its own: a real controller
 * (startController) on the store it is given, with the simulated hosts (`sim-host-NNNN`, each with the agent token the
 * controller holds for it, one shared pool, its agent API a path on the simulated hosts' process) and the simulated VMs
 * written straight into the store, a few thousand to a transaction. Host heartbeats are not started; HA is started on
 * request. Driven over IPC (protocol.ts); deletes its data dir when stopped. BENCH_SCALE_LOG_LEVEL (e.g. `error`) lets
 * the controller log to the benchmark's stdout.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/server.js';
import { simulatedFleet } from '../lib/fleet.js';
import { readControllerCpu, type ChildReply, type SimulatedLeaseHost } from '../ha/lease-protocol.js';
import type { ScaleControllerRequest, ScaleControllerStarted } from './protocol.js';

const GiB = 2 ** 30;
/** The one shared pool every simulated host reaches (as in ha/lease-controller.ts, which cannot be imported: it is a process's main module). */
const SIMULATED_POOL = 'shared:sim-pool';
/** VMs written per transaction. */
const VMS_PER_TRANSACTION = 5_000;

let controller: RunningController | undefined;
let dataDir: string | undefined;
/** Times this controller stopped being the leader (its lease renewal came too late), and the watch that restarts HA. */
let leadershipLosses = 0;
let leadershipWatch: NodeJS.Timeout | undefined;

/**
 * Starts HA as the leader, and again whenever the controller leads again after losing its own lease: with haStepMs 0
 * the controller does not restart HA itself on re-election, and a blocked event loop can make it miss a renewal.
 */
async function startHa(running: RunningController, stepMs: number): Promise<void> {
  await running.leadership.asLeader(async () => running.services.ha.start(stepMs));
  let leading = running.leadership.isLeader();
  leadershipWatch = setInterval(() => {
    const now = running.leadership.isLeader();
    if (leading && !now) leadershipLosses++;
    if (!leading && now) void running.leadership.asLeader(async () => running.services.ha.start(stepMs));
    leading = now;
  }, 100);
}

async function start(storeUrl: string, hosts: SimulatedLeaseHost[], vmCount: number, agentBaseUrl: string): Promise<ScaleControllerStarted> {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-bench-scale-'));
  controller = await startController({ dataDir, store: storeUrl, port: 0, heartbeatMs: 0, haStepMs: 0, logger: pino({ level: process.env.BENCH_SCALE_LOG_LEVEL ?? 'silent' }), print: () => undefined });
  const seedStarted = performance.now();
  // The fleet generator's VMs (the state mix of a busy installation), placed round-robin on hosts made lease hosts here.
  const fleet = simulatedFleet(hosts.length, vmCount);
  const now = new Date().toISOString();
  fleet.hosts.forEach((record, index) => {
    const host = hosts[index] as SimulatedLeaseHost; // the fleet has one record per simulated host
    Object.assign(record, {
      name: host.name,
      address: `${agentBaseUrl}/h/${host.name}`,
      credential: host.agentToken,
      // Room for 30 VMs each, so that every host stays a candidate for the scheduler.
      capacity: { cpus: 256, memoryBytes: 1024 * GiB, diskBytes: 16_384 * GiB },
      pools: [{ name: 'local', kind: 'local' }, { name: SIMULATED_POOL, kind: 'shared' }],
      state: 'ready',
      health: 'healthy',
      lastHeartbeat: now,
      updatedAt: now,
    });
  });
  const store = controller.services.store;
  await store.transaction(async (tx) => {
    for (const host of fleet.hosts) await tx.hosts.insert(host);
  });
  for (let from = 0; from < fleet.vms.length; from += VMS_PER_TRANSACTION) {
    await store.transaction(async (tx) => {
      for (const vm of fleet.vms.slice(from, from + VMS_PER_TRANSACTION)) await tx.vms.insert(vm);
    });
  }
  // Rows written a moment ago are not yet in PostgreSQL's visibility map, which autovacuum would have set long before
  // an installation had 30,000 VMs: without it the change stamp's count(*) reads every row (12 ms, not 3 ms).
  if (storeUrl.startsWith('postgres')) await vacuum(storeUrl);
  const seedMs = Math.round(performance.now() - seedStarted);
  const token = controller.adminToken.created ?? fs.readFileSync(controller.adminToken.file, 'utf8').trim();
  return { url: controller.address, token, pid: process.pid, seedMs, vmNames: fleet.vms.map((vm) => vm.name) };
}

/** VACUUM ANALYZE of the tables the benchmark wrote, as autovacuum does in a running installation. */
async function vacuum(storeUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: storeUrl });
  await client.connect();
  try {
    await client.query('VACUUM ANALYZE hosts, vms');
  } finally {
    await client.end();
  }
}

let stopping: Promise<void> | undefined;

/** Stops HA and the controller and deletes the data dir; once, however often it is called. */
function stop(): Promise<void> {
  stopping ??= (async () => {
    if (leadershipWatch) clearInterval(leadershipWatch);
    try {
      await controller?.services.ha.stop();
      await controller?.close();
    } finally {
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    }
  })();
  return stopping;
}

process.on('message', (request: ScaleControllerRequest) => {
  const answer = async (): Promise<Record<string, unknown>> => {
    switch (request.kind) {
      case 'start':
        return start(request.store, request.hosts, request.vms, request.agentBaseUrl);
      case 'start-ha':
        if (!controller) throw new Error('the controller is not started');
        await startHa(controller, request.stepMs);
        return {};
      case 'cpu':
        return { cpu: readControllerCpu(), leadershipLosses };
      case 'stop':
        await stop();
        return {};
    }
  };
  answer().then(
    (result) => {
      process.send?.({ id: request.id, ok: true, ...result } satisfies ChildReply);
      if (request.kind === 'stop') process.disconnect();
    },
    (err: unknown) => process.send?.({ id: request.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies ChildReply),
  );
});

// The parent gone (its IPC channel closed) means nobody will stop us: clean up and leave.
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0));
});
