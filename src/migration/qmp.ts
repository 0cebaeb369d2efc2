/**
 * The QMP commands live migration uses beyond the shared command table, typed here against QEMU 7.2's schema,
 * plus small helpers that turn QMP events into awaitable, cancellable waits.
 */
import type { QmpClient } from '../qmp/client.js';
import type { MigrationCapability, MigrationInfo, MigrationParameters } from '../qmp/commands.js';
import { DroverError } from '../shared/errors.js';

/** query-migrate as QEMU 7.2 returns it; `socket-address` names the port a `tcp:HOST:0` listener got. */
export type MigrationInfoWithSockets = MigrationInfo & {
  'socket-address'?: Array<{ type: string; host?: string; port?: string }>;
};

/** Sets each named migration capability on or off in one call. */
export async function setCapabilities(qmp: QmpClient, caps: Partial<Record<MigrationCapability, boolean>>): Promise<void> {
  const capabilities = Object.entries(caps).map(([capability, state]) => ({ capability: capability as MigrationCapability, state: state === true }));
  await qmp.execute('migrate-set-capabilities', { capabilities });
}

/** Sets migration parameters; keys left out keep their current value. */
export async function setParameters(qmp: QmpClient, params: MigrationParameters): Promise<void> {
  if (Object.keys(params).length > 0) await qmp.execute('migrate-set-parameters', params);
}

/** query-migrate, with the listener addresses an incoming QEMU reports. */
export async function queryMigrate(qmp: QmpClient): Promise<MigrationInfoWithSockets> {
  return (await qmp.execute('query-migrate')) as MigrationInfoWithSockets;
}

/** Makes a `-incoming defer` QEMU listen on `uri` (tcp:HOST:0 picks a free port; see listeningPort). */
export async function migrateIncoming(qmp: QmpClient, uri: string): Promise<void> {
  await qmp.executeRaw('migrate-incoming', { uri });
}

/** The TCP port an incoming QEMU listens on, from query-migrate. */
export async function listeningPort(qmp: QmpClient): Promise<number> {
  const info = await queryMigrate(qmp);
  const port = Number(info['socket-address']?.find((a) => a.type === 'inet')?.port);
  if (!Number.isInteger(port) || port <= 0) throw new DroverError('INTERNAL', `incoming QEMU reports no listening port: ${JSON.stringify(info)}`);
  return port;
}

/** Switches a running precopy migration to post-copy (the source pauses; the destination runs and pulls pages). */
export async function startPostcopy(qmp: QmpClient): Promise<void> {
  await qmp.executeRaw('migrate-start-postcopy');
}

/** Starts this QEMU's NBD server on host:port. */
export async function nbdServerStart(qmp: QmpClient, host: string, port: number): Promise<void> {
  await qmp.executeRaw('nbd-server-start', { addr: { type: 'inet', data: { host, port: String(port) } } });
}

/** Exports block node `nodeName` over the NBD server, writable, under `name`. */
export async function nbdExport(qmp: QmpClient, nodeName: string, name: string): Promise<void> {
  await qmp.executeRaw('block-export-add', { type: 'nbd', id: `export-${name}`, 'node-name': nodeName, name, writable: true });
}

/** Stops the NBD server and drops its exports; a server that is not running is not an error. */
export async function nbdServerStop(qmp: QmpClient): Promise<void> {
  await qmp.executeRaw('nbd-server-stop').catch(() => undefined);
}

/** The QOM type name of the object at `path` (e.g. pc-i440fx-7.2-machine, qemu64-x86_64-cpu). */
export async function qomType(qmp: QmpClient, path: string): Promise<string> {
  const type = await qmp.execute('qom-get', { path, property: 'type' });
  if (typeof type !== 'string') throw new DroverError('INTERNAL', `qom-get ${path} type: ${JSON.stringify(type)}`);
  return type;
}

/** Resolves after `ms`, or at once when `signal` aborts (then it rejects with the abort reason). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A wake-up flag: `wait(ms)` resolves early once `fire()` was called since the last wait. */
export class Waker {
  private pending = false;
  private wake: (() => void) | undefined;

  /** Wakes the current or next wait(). */
  fire(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Waits up to `ms` for fire(); rejects when `signal` aborts. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return;
    }
    const woken = new Promise<void>((resolve) => (this.wake = resolve));
    try {
      await Promise.race([woken, delay(ms, signal)]);
    } finally {
      this.wake = undefined;
      this.pending = false;
    }
  }
}
