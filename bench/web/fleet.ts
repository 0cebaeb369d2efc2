/**
 * A real controller for the web benchmark, in this process on a temporary data dir, with 30 simulated
 * hosts (simulated-host-NN, no agent behind them: heartbeats are not started) and 1,000 simulated VMs
 * (simulated-vm-NNNN) written straight into its store. The API benchmark's richer seed (bench/api/seed.ts)
 * can replace this once both live on main; the console only needs the counts and a realistic state mix.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/server.js';
import type { VmState } from '../../src/controller/store/records.js';
import { sampleHost, sampleVm } from '../../src/controller/store/fixtures.js';
import { onInterrupt } from '../lib/cleanup.js';

export const SIMULATED_HOSTS = 30;
export const SIMULATED_VMS = 1000;

const GiB = 2 ** 30;
const DAY_MS = 86_400_000;

/** Of every 100 VMs: 72 running (the first 72, so the first rows in name order run), then the rest. */
function stateFor(index: number): VmState {
  const slot = index % 100;
  if (slot < 72) return 'running';
  if (slot < 91) return 'stopped';
  if (slot < 94) return 'paused';
  if (slot < 96) return 'crashed';
  return (['starting', 'stopping', 'creating', 'error'] as const)[slot - 96] ?? 'error';
}

export interface SimulatedController {
  controller: RunningController;
  url: string;
  /** The admin token's secret. */
  token: string;
  vmNames: string[];
  close(): Promise<void>;
}

/** Starts a controller on a free port and seeds the simulated fleet; `close` stops it and removes its data. */
export async function startSimulatedController(): Promise<SimulatedController> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-bench-web-'));
  const forget = onInterrupt(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const remove = (): void => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    forget();
  };
  let controller: RunningController | undefined;
  try {
    controller = await startController({ dataDir, port: 0, logger: pino({ level: 'silent' }), print: () => undefined });
    const now = Date.now();
    const iso = (offset: number) => new Date(now + offset).toISOString();
    const hosts = Array.from({ length: SIMULATED_HOSTS }, (_, i) =>
      sampleHost({
        id: randomUUID(),
        name: `simulated-host-${String(i + 1).padStart(2, '0')}`,
        address: `simulated-host-${i + 1}.invalid:7701`,
        capacity: { cpus: 64, memoryBytes: 256 * GiB, diskBytes: 4096 * GiB },
        lastHeartbeat: iso(i === SIMULATED_HOSTS - 1 ? -15 * 60_000 : -((i * 997) % 2000)),
        health: i === SIMULATED_HOSTS - 1 ? 'unreachable' : 'healthy',
        state: i === SIMULATED_HOSTS - 1 ? 'offline' : i === SIMULATED_HOSTS - 2 ? 'maintenance' : 'ready',
      }),
    );
    const vms = Array.from({ length: SIMULATED_VMS }, (_, i) => {
      const state = stateFor(i);
      const live = state === 'running' || state === 'paused' || state === 'stopping';
      const host = hosts[i % hosts.length];
      return sampleVm({
        id: randomUUID(),
        name: `simulated-vm-${String(i + 1).padStart(4, '0')}`,
        hostId: host?.id ?? null,
        state,
        desiredState: live ? 'running' : 'stopped',
        spec: { cpus: [1, 2, 4, 8][i % 4] ?? 1, memoryBytes: ([512, 1024, 2048, 4096][(i * 3) % 4] ?? 1024) * 2 ** 20, imageId: 'tiny' },
        nics: [{ name: 'eth0', network: 'user', macAddress: `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` }],
        runtime: live ? { pid: 10_000 + i, guestReady: state === 'running', startedAt: iso(-((i * 104_729_000) % (30 * DAY_MS))) } : {},
        createdAt: iso(-DAY_MS - ((i * 7919 * 60_000) % (90 * DAY_MS))),
      });
    });
    for (const host of hosts) {
      const mine = vms.filter((vm) => vm.hostId === host.id && (vm.state === 'running' || vm.state === 'paused'));
      host.usage = { cpus: mine.reduce((s, vm) => s + vm.spec.cpus, 0), memoryBytes: mine.reduce((s, vm) => s + vm.spec.memoryBytes, 0), diskBytes: 0 };
    }
    await controller.services.store.transaction(async (tx) => {
      for (const host of hosts) await tx.hosts.insert(host);
      for (const vm of vms) await tx.vms.insert(vm);
    });
    const token = controller.adminToken.created ?? fs.readFileSync(controller.adminToken.file, 'utf8').trim();
    const running = controller;
    return {
      controller: running,
      url: running.address,
      token,
      vmNames: vms.map((vm) => vm.name),
      close: async () => {
        try {
          await running.close();
        } finally {
          remove();
        }
      },
    };
  } catch (err) {
    try {
      await controller?.close();
    } finally {
      remove();
    }
    throw err;
  }
}
