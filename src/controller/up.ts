import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { pino } from 'pino';
import { startAgent } from '../agent/main.js';
import { startController } from './server.js';
import { SYSTEM_ACTOR } from './actor.js';
import { ADMIN_TOKEN_FILE } from './auth/admin-token.js';

export interface UpOptions {
  dataDir: string;
  port: number;
  /** Where the store is (`sqlite:PATH` or `postgresql://...`); default the SQLite file in dataDir. */
  store?: string;
  /** Address the controller listens on; default 127.0.0.1. */
  listen?: string;
  heartbeatMs?: number;
  /** Called with the controller URL and admin token once everything serves. */
  onReady?: (info: { url: string; token: string }) => void;
}

/**
 * Runs a single-host Drover in this process: a host agent on the local machine, the controller with
 * its SQLite store, and the local host registered with it. Resolves once serving; returns a stopper.
 */
export async function up(options: UpOptions): Promise<{ url: string; token: string; close: () => Promise<void> }> {
  const logger = pino({ name: 'drover', level: process.env.DROVER_LOG_LEVEL ?? 'warn' });
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const { agent, url: agentUrl } = await startAgent({ dataDir: path.join(options.dataDir, 'host'), listen: '127.0.0.1:0', logger: false });
  const controller = await startController({ dataDir: options.dataDir, store: options.store, heartbeatMs: options.heartbeatMs, port: options.port, host: options.listen ?? '127.0.0.1', logger, print: () => undefined });
  try {
    const { hosts, vms } = controller.services;
    const hostName = os.hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-');
    await hosts.register({ name: hostName, address: agentUrl, credential: agent.token }, SYSTEM_ACTOR);
    const settled = await vms.resolveInterrupted(SYSTEM_ACTOR);
    if (settled.length > 0) logger.warn({ settled }, 'settled VMs a previous controller left mid-operation');
    await agent.startHa({ controllerUrl: controller.address, hostName });
  } catch (err) {
    await controller.close();
    await agent.app.close();
    throw err;
  }
  const token = fs.readFileSync(path.join(options.dataDir, ADMIN_TOKEN_FILE), 'utf8').trim();
  return {
    url: controller.address,
    token,
    close: async () => {
      await controller.close();
      await agent.app.close();
    },
  };
}
