/**
 * Cold migration, the way guests without live migration move (Proxmox's restart mode): the destination makes
 * an empty disk and serves it over NBD; the source copies the running guest's disk into it and keeps it in step;
 * the guest stops on the source (its last writes reach the copy before its disk is let go), and starts on the
 * destination. A guest in the shared pool copies nothing: it stops here and starts there. The controller drives
 * the steps and measures the downtime between the stop and the start.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type, type Static } from '@fastify/type-provider-typebox';
import { DroverError } from '../shared/errors.js';
import { run } from '../shared/exec.js';
import * as disks from '../storage/disks.js';
import { isAlive, readPidFile, signalProcess } from '../drivers/qemu/process.js';
import type { NbdTarget } from '../drivers/types.js';
import type { HostVmService } from '../vms/host-vms.js';
import { freePort } from './storage-copy.js';
import { QmpClient } from '../qmp/client.js';
import * as qemuImg from '../storage/qemu-img.js';
import { MOVE_BITMAP, ROOT_NODE, startStorageDaemon } from '../drivers/container/rootfs.js';
import type { VmRecord, VmRecords } from '../vms/records.js';
import type { VmView } from '../vms/schemas.js';

export const ColdIncomingRequest = Type.Object(
  {
    /** The guest's host record as its source keeps it. */
    record: Type.Unsafe<VmRecord>(Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: true })),
    storage: Type.Union([Type.Literal('shared'), Type.Literal('copy')]),
  },
  { additionalProperties: false },
);
export type ColdIncomingRequest = Static<typeof ColdIncomingRequest>;

export const NbdTargetSchema = Type.Object({ host: Type.String(), port: Type.Integer(), exportName: Type.String() }, { additionalProperties: false });

/** What the destination answers: where to copy the disk (absent for the shared pool). */
export const ColdIncomingPlan = Type.Object({ target: Type.Optional(NbdTargetSchema) }, { additionalProperties: false });
export type ColdIncomingPlan = Static<typeof ColdIncomingPlan>;

const STAGING_PREFIX = '.cold-incoming-';

/** Both ends of cold moves on one host. */
export class ColdMoves {
  constructor(
    private readonly records: VmRecords,
    private readonly vms: HostVmService,
  ) {}

  /** Source: the guest's record, for the destination. */
  record(name: string): VmRecord {
    return this.vms.record(name);
  }

  /**
   * Source, first copy: the whole root disk into `target`, while the guest runs. A running guest's writes from
   * here on are recorded (after a flush), so `copyChanges` needs only those once it has stopped.
   */
  async copyDisk(name: string, target: NbdTarget): Promise<{ bytes: number }> {
    const record = this.vms.record(name);
    const driver = this.vms.driverFor(name);
    if (!driver.capabilities.coldMigrate) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${name} moves by live migration`);
    if (['running', 'paused'].includes(driver.status(record.id).state)) await driver.trackRootDiskWrites(record.id);
    const file = this.rootDisk(record);
    // -U: the running guest's storage daemon holds the image's write lock; what changes meanwhile is recorded.
    await run('qemu-img', ['convert', '-U', '-n', '-f', 'qcow2', '-O', 'raw', file, nbdUri(target)], { timeoutMs: 3_600_000, errorCode: 'MIGRATION_FAILED' });
    return { bytes: (await qemuImg.info(file)).virtualSizeBytes };
  }

  /**
   * Source, last copy, once the guest has stopped: the clusters written since `copyDisk` began, which the disk's
   * dirty bitmap records, through a storage daemon of its own (a backup job in sync mode 'bitmap'); then the
   * bitmap goes. Nothing to do for a guest that was stopped all along. Returns the bytes copied.
   */
  async copyChanges(name: string, target: NbdTarget): Promise<{ bytes: number }> {
    const record = this.vms.record(name);
    if (LIVE.includes(this.vms.status(name).state)) throw new DroverError('VM_NOT_STOPPED', `${name}: its last changes are copied once it has stopped`);
    const file = this.rootDisk(record);
    const bitmap = (await qemuImg.info(file)).bitmaps.find((b) => b === MOVE_BITMAP);
    if (!bitmap) return { bytes: 0 };
    return copyDirtyClusters(file, target, path.join(this.records.vmDir(name), 'cold-sync'));
  }

  private rootDisk(record: VmRecord): string {
    const root = record.disks[0];
    if (!root) throw new DroverError('DISK_NOT_FOUND', `${record.name} has no disk`);
    return this.records.diskPath(record, root);
  }

  /** Source: forgets the guest now that the destination has it; its disks go too unless they are in the shared pool. */
  release(name: string, sharedDisksInUse: boolean): void {
    this.vms.removeMigratedAway(name, sharedDisksInUse);
  }

  /** Destination: makes room for the guest: an empty disk served over NBD on `listenHost` (copy), or nothing (shared). */
  async prepareIncoming(req: ColdIncomingRequest, listenHost: string): Promise<ColdIncomingPlan> {
    const record = req.record;
    if (this.records.read(record.name)) throw new DroverError('VM_EXISTS', `${record.name} is already defined on this host`);
    const staging = this.staging(record.name);
    await this.abortIncoming(record.name);
    fs.mkdirSync(staging, { recursive: true });
    const definition: VmRecord = { ...record };
    if (req.storage === 'shared') {
      if (!record.storageDir || !fs.existsSync(record.storageDir)) throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `${record.name}'s shared disks are not reachable here`);
      fs.writeFileSync(path.join(staging, 'vm.json'), JSON.stringify(definition, null, 2));
      return {};
    }
    delete definition.storageDir;
    const root = record.disks[0];
    if (!root) throw new DroverError('DISK_NOT_FOUND', `${record.name} has no disk`);
    definition.disks = [{ ...root }];
    await disks.createBlankDisk(path.join(staging, root.file), root.sizeBytes);
    fs.writeFileSync(path.join(staging, 'vm.json'), JSON.stringify(definition, null, 2));
    const port = await freePort(listenHost);
    const pidFile = path.join(staging, 'nbd.pid');
    const child = spawn(
      'qemu-storage-daemon',
      [
        '--blockdev', `driver=file,node-name=file0,filename=${path.join(staging, root.file)}`,
        '--blockdev', 'driver=qcow2,node-name=target,file=file0',
        '--nbd-server', `addr.type=inet,addr.host=${listenHost},addr.port=${port}`,
        '--export', 'type=nbd,id=incoming,node-name=target,name=root,writable=on',
        '--pidfile', pidFile,
      ],
      { detached: true, stdio: ['ignore', 'ignore', fs.openSync(path.join(staging, 'nbd.log'), 'a')] },
    );
    child.unref();
    for (let i = 0; i < 100 && !readPidFile(pidFile); i++) await sleep(50);
    if (!readPidFile(pidFile)) throw new DroverError('MIGRATION_FAILED', `the NBD server for ${record.name} did not start: ${fs.readFileSync(path.join(staging, 'nbd.log'), 'utf8').trim()}`);
    return { target: { host: listenHost, port, exportName: 'root' } };
  }

  /** Destination: stops serving the disk and defines the guest here (the controller starts it). */
  async finishIncoming(name: string): Promise<VmView> {
    const staging = this.staging(name);
    if (!fs.existsSync(path.join(staging, 'vm.json'))) throw new DroverError('MIGRATION_NOT_FOUND', `no cold move of ${name} is prepared here`);
    await stopNbdServer(staging);
    for (const file of ['nbd.pid', 'nbd.log']) fs.rmSync(path.join(staging, file), { force: true });
    fs.renameSync(staging, this.records.vmDir(name));
    return this.vms.get(name);
  }

  /** Destination: drops a prepared move (its disk and server); nothing when there is none. */
  async abortIncoming(name: string): Promise<void> {
    const staging = this.staging(name);
    if (!fs.existsSync(staging)) return;
    await stopNbdServer(staging);
    fs.rmSync(staging, { recursive: true, force: true });
  }

  private staging(name: string): string {
    return path.join(this.records.dir, `${STAGING_PREFIX}${name}`);
  }
}

const LIVE = ['running', 'paused', 'starting', 'stopping'];

/** nbd://HOST:PORT/EXPORT, IPv6 hosts in brackets. */
function nbdUri(target: NbdTarget): string {
  return `nbd://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}/${target.exportName}`;
}

/** Runs a storage daemon on `file` that backs up the clusters MOVE_BITMAP marks into `target`, then drops the bitmap. */
async function copyDirtyClusters(file: string, target: NbdTarget, dir: string): Promise<{ bytes: number }> {
  fs.mkdirSync(dir, { recursive: true });
  const monitor = path.join(dir, 'qmp.sock');
  const pidFile = path.join(dir, 'qsd.pid');
  const pid = await startStorageDaemon(file, monitor, pidFile, 'MIGRATION_FAILED');
  const qmp = await QmpClient.connect(monitor, { timeoutMs: 5_000 });
  try {
    await qmp.execute('blockdev-add', { driver: 'nbd', 'node-name': 'target', server: { type: 'inet', host: target.host, port: String(target.port) }, export: target.exportName });
    // Not dismissed automatically, so its end (and any error) can be read before it goes.
    await qmp.executeRaw('blockdev-backup', { 'job-id': 'cold-sync', device: ROOT_NODE, target: 'target', sync: 'bitmap', bitmap: MOVE_BITMAP, 'bitmap-mode': 'never', 'auto-dismiss': false });
    let bytes = 0;
    for (;;) {
      const jobs = (await qmp.executeRaw('query-jobs')) as Array<{ id: string; status: string; 'current-progress': number; error?: string }>;
      const job = jobs.find((j) => j.id === 'cold-sync');
      if (!job) throw new DroverError('MIGRATION_FAILED', 'the copy of the last changes vanished');
      bytes = job['current-progress'];
      if (job.status === 'concluded') {
        await qmp.executeRaw('job-dismiss', { id: 'cold-sync' });
        if (job.error) throw new DroverError('MIGRATION_FAILED', `copying the last changes failed: ${job.error}`);
        break;
      }
      await sleep(50);
    }
    await qmp.execute('block-dirty-bitmap-remove', { node: ROOT_NODE, name: MOVE_BITMAP });
    await qmp.execute('blockdev-del', { 'node-name': 'target' }).catch(() => undefined);
    await qmp.execute('quit').catch(() => undefined);
    return { bytes };
  } finally {
    qmp.close();
    for (let i = 0; pid && i < 100 && isAlive(pid); i++) await sleep(50);
    if (pid && isAlive(pid)) signalProcess(pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function stopNbdServer(staging: string): Promise<void> {
  const pid = readPidFile(path.join(staging, 'nbd.pid'));
  if (!pid || !isAlive(pid) || !fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(staging)) return;
  signalProcess(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
  if (isAlive(pid)) signalProcess(pid, 'SIGKILL');
}

