/**
 * Cold migration, the way guests without live migration move (Proxmox's restart mode): the destination makes
 * an empty disk and serves it over NBD; the source copies the running guest's disk into it and keeps it in step;
 * the guest stops on the source (its last writes reach the copy before its disk is let go), and starts on the
 * destination. A guest in the shared pool copies nothing: it stops here and starts there. The controller drives
 * the steps and measures the downtime between the stop and the start.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type, type Static } from '@fastify/type-provider-typebox';
import { DroverError } from '../shared/errors.js';
import { run } from '../shared/exec.js';
import * as disks from '../storage/disks.js';
import { isAlive, readPidFile, signalProcess } from '../drivers/qemu/process.js';
import type { NbdTarget } from '../drivers/types.js';
import type { HostVmService } from '../vms/host-vms.js';
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

  /** Source: copies the running guest's root disk into the destination's and keeps it in step; resolves when caught up. */
  async mirror(name: string, target: NbdTarget): Promise<{ bytes: number }> {
    const record = this.vms.record(name);
    const driver = this.vms.driverFor(name);
    if (!driver.capabilities.coldMigrate) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${name} moves by live migration`);
    if (['running', 'paused'].includes(driver.status(record.id).state)) return driver.mirrorRootDisk(record.id, target);
    // A stopped guest's disk is copied whole with qemu-img.
    const root = record.disks[0];
    if (!root) throw new DroverError('DISK_NOT_FOUND', `${name} has no disk`);
    const file = this.records.diskPath(record, root);
    await run('qemu-img', ['convert', '-n', '-f', 'qcow2', '-O', 'raw', file, `nbd://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}/${target.exportName}`], {
      timeoutMs: 3_600_000,
      errorCode: 'MIGRATION_FAILED',
    });
    return { bytes: root.sizeBytes };
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

async function stopNbdServer(staging: string): Promise<void> {
  const pid = readPidFile(path.join(staging, 'nbd.pid'));
  if (!pid || !isAlive(pid) || !fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(staging)) return;
  signalProcess(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
  if (isAlive(pid)) signalProcess(pid, 'SIGKILL');
}

/** A TCP port free on `host` right now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
