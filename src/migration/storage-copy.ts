/**
 * Disks for migrations without shared storage: the destination creates empty disks and exports them over its
 * QEMU's NBD server; the source mirrors each disk into them (drive-mirror, writes mirrored synchronously once in
 * step) before it sends RAM, and completes the mirrors while its guest is paused at switchover.
 */
import net from 'node:net';
import path from 'node:path';
import type { ImageLibrary } from '../images/library.js';
import type { QmpClient } from '../qmp/client.js';
import type { BlockJobInfo } from '../qmp/commands.js';
import { DroverError } from '../shared/errors.js';
import * as disks from '../storage/disks.js';
import type { VmRecord } from '../vms/records.js';
import { delay, nbdExport, nbdServerStart } from './qmp.js';
import type { ImageRef, IncomingPlan, IncomingRequest } from './schemas.js';

const READY_POLL_MS = 250;

/** The block job id of the mirror of disk `name`. */
export function mirrorJob(name: string): string {
  return `mirror-${name}`;
}

/** `host` as it goes into a URI (IPv6 addresses in brackets). */
export function uriHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Each disk of a running VM for a copy migration: its virtual size, and the VM's library image as `base` when the
 * root disk's top layer sits directly on it (then only the top layer needs copying).
 */
export async function describeDisks(qmp: QmpClient, record: VmRecord, images: ImageLibrary): Promise<IncomingRequest['disks']> {
  const blocks = await qmp.execute('query-block');
  const library = record.image && images.has(record.image) ? images.get(record.image) : undefined;
  return record.disks.map((disk, index) => {
    const image = blocks.find((b) => b.device === `drive-${disk.name}`)?.inserted?.image;
    if (!image) throw new DroverError('INTERNAL', `QEMU has no drive for disk ${disk.name}`);
    const backing = image['backing-image'];
    const onLibrary =
      index === 0 &&
      library !== undefined &&
      backing !== undefined &&
      backing['backing-image'] === undefined &&
      (path.resolve(backing.filename) === library.path || path.basename(backing.filename) === `${library.name}-${library.sha256.slice(0, 16)}.qcow2`);
    const base: ImageRef | undefined = onLibrary ? { name: library.name, sha256: library.sha256 } : undefined;
    return { name: disk.name, virtualSizeBytes: image['virtual-size'], ...(base ? { base } : {}) };
  });
}

/**
 * Creates the destination's disks in `dir`: an overlay on this host's identical copy of the base image when it has
 * one (mirror sync 'top'), else a blank disk of the same size (sync 'full').
 */
export async function createTargetDisks(
  dir: string,
  record: VmRecord,
  plans: IncomingRequest['disks'],
  images: ImageLibrary,
): Promise<Array<{ name: string; sync: 'top' | 'full' }>> {
  const out: Array<{ name: string; sync: 'top' | 'full' }> = [];
  for (const disk of record.disks) {
    const plan = plans.find((p) => p.name === disk.name);
    if (!plan) throw new DroverError('INVALID_ARGUMENT', `no size given for disk ${disk.name}`);
    const file = path.join(dir, disk.file);
    const local = plan.base && images.has(plan.base.name) ? images.get(plan.base.name) : undefined;
    if (local && local.sha256 === plan.base?.sha256) {
      await disks.createLinkedClone(file, local.path, plan.virtualSizeBytes);
      out.push({ name: disk.name, sync: 'top' });
    } else {
      await disks.createBlankDisk(file, plan.virtualSizeBytes);
      out.push({ name: disk.name, sync: 'full' });
    }
  }
  return out;
}

/** A TCP port free on `host` right now (the NBD server needs a fixed port; QEMU cannot report a chosen one). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts the incoming QEMU's NBD server on `host` and exports each disk writable under its name; returns the targets. */
export async function exportDisks(
  qmp: QmpClient,
  host: string,
  targets: Array<{ name: string; sync: 'top' | 'full' }>,
): Promise<IncomingPlan['disks']> {
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort(host);
    try {
      await nbdServerStart(qmp, host, port);
      break;
    } catch (err) {
      // Another process may take the port between the probe and QEMU's bind; try a fresh one.
      if (attempt >= 3) throw err;
    }
  }
  const blocks = await qmp.execute('query-block');
  const out: IncomingPlan['disks'] = [];
  for (const target of targets) {
    const nodeName = blocks.find((b) => b.device === `drive-${target.name}`)?.inserted?.['node-name'];
    if (!nodeName) throw new DroverError('INTERNAL', `incoming QEMU has no block node for disk ${target.name}`);
    await nbdExport(qmp, nodeName, target.name);
    out.push({ name: target.name, nbdUri: `nbd://${uriHost(host)}:${port}/${target.name}`, sync: target.sync });
  }
  return out;
}

/** Starts one drive-mirror per disk into the destination's export; once in step, guest writes go to both synchronously. */
export async function startMirrors(qmp: QmpClient, targets: IncomingPlan['disks'], speedBytes?: number): Promise<void> {
  for (const target of targets) {
    await qmp.execute('drive-mirror', {
      'job-id': mirrorJob(target.name),
      device: `drive-${target.name}`,
      target: target.nbdUri,
      format: 'raw', // the NBD server on the destination applies the qcow2 format
      mode: 'existing',
      sync: target.sync,
      'copy-mode': 'write-blocking',
      ...(speedBytes ? { speed: speedBytes } : {}),
    });
  }
}

/** Resolves when every mirror is ready (in step with its target); MIGRATION_FAILED when one ends early. */
export async function waitMirrorsReady(
  qmp: QmpClient,
  names: string[],
  signal: AbortSignal,
  onTick: (jobs: BlockJobInfo[]) => void,
): Promise<void> {
  const errors = new Map<string, string>();
  const off = qmp.on('BLOCK_JOB_COMPLETED', (data) => {
    if (data.error) errors.set(data.device, data.error);
  });
  try {
    while (true) {
      const jobs = (await qmp.execute('query-block-jobs')).filter((j) => names.map(mirrorJob).includes(j.device));
      onTick(jobs);
      const gone = names.find((n) => !jobs.some((j) => j.device === mirrorJob(n)));
      if (gone) throw new DroverError('MIGRATION_FAILED', `copying disk ${gone} stopped: ${errors.get(mirrorJob(gone)) ?? 'the mirror job ended'}`);
      if (jobs.every((j) => j.ready)) return;
      await delay(READY_POLL_MS, signal);
    }
  } finally {
    off();
  }
}

/**
 * Completes the mirrors once the source guest is paused: block-job-cancel on a ready mirror finishes it with the
 * target an exact copy. Resolves when all have ended; MIGRATION_FAILED if one reports an error.
 */
export async function completeMirrors(qmp: QmpClient, names: string[]): Promise<void> {
  for (const name of names) {
    const job = mirrorJob(name);
    const ended = qmp.waitForEvent('BLOCK_JOB_COMPLETED', { timeoutMs: 120_000, predicate: (d) => d.device === job });
    ended.catch(() => undefined); // awaited below; this only keeps a failed cancel from leaving it unhandled
    await qmp.execute('block-job-cancel', { device: job });
    const data = await ended;
    if (data.error) throw new DroverError('MIGRATION_FAILED', `finishing the copy of disk ${name}: ${data.error}`);
  }
}

/** Stops mirrors at once, ignoring jobs that are already gone (rollback; the targets are discarded). */
export async function abortMirrors(qmp: QmpClient | undefined, names: string[]): Promise<void> {
  for (const name of names) await qmp?.execute('block-job-cancel', { device: mirrorJob(name), force: true }).catch(() => undefined);
}

/**
 * Shuts down this QEMU's NBD connections (QMP `yank` on its NBD client nodes; on a source, those
 * are the mirror targets). Over a network that dropped, their requests would otherwise wait for
 * TCP to give up, many minutes, and the drain QEMU runs when a migration is cancelled would hold
 * its main loop, and with it the guest and the monitor, all that time. Returns the nodes yanked.
 */
export async function yankMirrorTargets(qmp: QmpClient): Promise<string[]> {
  const instances = (await qmp.executeRaw('query-yank')) as Array<{ type: string; 'node-name'?: string }>;
  const nodes = instances.filter((instance) => instance.type === 'block-node');
  if (nodes.length > 0) await qmp.executeRaw('yank', { instances: nodes });
  return nodes.map((node) => node['node-name'] ?? '?');
}
