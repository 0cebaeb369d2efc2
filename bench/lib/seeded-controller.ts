/** A real controller, in this process, on a temporary data dir, with a simulated fleet in its store. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/server.js';
import { onInterrupt } from './cleanup.js';
import { seedFleet, simulatedFleet, type SimulatedFleet } from './fleet.js';

/** Simulated hosts (no agent; the controller never contacts them: heartbeats are not started). */
export const SIMULATED_HOSTS = 30;
/** VMs spread over them. */
export const SIMULATED_VMS = 1000;

/** A started, seeded controller; `close` stops it and deletes its data dir. */
export interface SeededController {
  controller: RunningController;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The admin token's secret. */
  token: string;
  fleet: SimulatedFleet;
  vmNames: string[];
  close(): Promise<void>;
}

/**
 * Starts a controller on a free port over a fresh data dir (drover-bench-<benchmark>-*) and seeds `fleet`,
 * by default SIMULATED_HOSTS hosts and SIMULATED_VMS VMs; on failure nothing is left behind.
 */
export async function startSeededController(benchmark: string, fleet = simulatedFleet(SIMULATED_HOSTS, SIMULATED_VMS)): Promise<SeededController> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `drover-bench-${benchmark}-`));
  const forget = onInterrupt(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const removeDataDir = (): void => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    forget();
  };
  let controller: RunningController | undefined;
  try {
    controller = await startController({ dataDir, port: 0, heartbeatMs: 0, haStepMs: 0, logger: pino({ level: 'silent' }), print: () => undefined });
    await seedFleet(controller.services.store, fleet);
    const token = controller.adminToken.created ?? fs.readFileSync(controller.adminToken.file, 'utf8').trim();
    const running = controller;
    return {
      controller: running,
      url: running.address,
      token,
      fleet,
      vmNames: fleet.vms.map((vm) => vm.name),
      close: async () => {
        try {
          await running.close();
        } finally {
          removeDataDir();
        }
      },
    };
  } catch (err) {
    try {
      await controller?.close();
    } finally {
      removeDataDir();
    }
    throw err;
  }
}
