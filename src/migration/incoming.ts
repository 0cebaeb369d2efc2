/**
 * The destination side of a live migration. prepare: check the VM can run here, make its directory (and, for
 * 'copy', empty disks exported over NBD), start QEMU with `-incoming defer -S` and listen. finish: run the guest
 * and publish the VM's record, so this host owns it. Anything else (abort, QEMU exit, no source) kills the QEMU
 * and removes what prepare made. The guest never runs here before finish, which is what lets the source resume
 * safely whenever finish was not reached.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { QemuDriver } from '../drivers/qemu/driver.js';
import type { QmpClient } from '../qmp/client.js';
import type { RuntimeStatus } from '../drivers/types.js';
import type { ImageLibrary } from '../images/library.js';
import { DroverError } from '../shared/errors.js';
import type { HostVmService } from '../vms/host-vms.js';
import type { VmRecord, VmRecords } from '../vms/records.js';
import type { VmView } from '../vms/schemas.js';
import { checkCompatible, firmwareOf, verifySame } from './compat.js';
import { asDroverError, Migration, type MigrationRegistry } from './progress.js';
import { listeningPort, migrateIncoming, nbdServerStop, queryMigrate, setCapabilities } from './qmp.js';
import { recordFromWire, type IncomingPlan, type IncomingRequest, type MigrationView, type StorageMode } from './schemas.js';
import { createTargetDisks, exportDisks, uriHost } from './storage-copy.js';

/** The file in an incoming VM's directory that marks it unfinished (and lets a restarted agent clean up). */
const MARKER = 'incoming-migration.json';
/** How long the source has to start sending after prepare. */
const CONNECT_TIMEOUT_MS = 60_000;

/** How long finish waits for the source's last state (within the source's 30 s finish request). */
const STATE_ARRIVAL_TIMEOUT_MS = 20_000;

/**
 * Waits until this QEMU has the source's final state: 'completed' (precopy) or 'postcopy-active'. The source
 * reports post-copy a moment before it releases its disk locks, and `cont` takes them here, so a `cont` sent
 * at once can fail with "Failed to get write lock" and lose a guest that is already half here. A state that
 * failed to load, or never arrived, is refused: the guest did not run here, so the source may resume it.
 */
async function stateArrived(qmp: QmpClient): Promise<void> {
  const deadline = Date.now() + STATE_ARRIVAL_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const status = (await queryMigrate(qmp)).status;
    if (status === 'completed' || status === 'postcopy-active') return;
    if (status === 'failed') throw new DroverError('MIGRATION_FAILED', 'the destination QEMU failed to load the incoming state');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new DroverError('MIGRATION_FAILED', `the source's final state did not arrive within ${STATE_ARRIVAL_TIMEOUT_MS / 1000} s`);
}

/** What the migration code needs of its host agent. */
export interface MigrationHost {
  records: VmRecords;
  vms: HostVmService;
  driver: QemuDriver;
  images: ImageLibrary;
  registry: MigrationRegistry;
  /** This host's --shared-storage directory, if it has one. */
  sharedStorageDir?: string;
}

interface IncomingEntry {
  migration: Migration;
  record: VmRecord;
  storage: StorageMode;
  /** Run the guest on finish (it was running on the source). */
  resume: boolean;
  timer?: NodeJS.Timeout;
  stopWatching?: () => void;
  cleaning?: boolean;
}

/** True when `child` is `parent` or lies inside it. */
function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** Incoming migrations on this host. */
export class IncomingMigrations {
  private readonly entries = new Map<string, IncomingEntry>();

  constructor(private readonly host: MigrationHost) {
    host.driver.onStateChange((status) => this.onRuntime(status));
  }

  /** Gets ready to receive `request` on `listenAddress` (the address the source reached this agent at). */
  async prepare(request: IncomingRequest, listenAddress: string, sourceAddress: string): Promise<IncomingPlan> {
    const { records, driver, registry } = this.host;
    const name = request.vm.name;
    if (registry.find(request.migrationId)) throw new DroverError('ALREADY_EXISTS', `migration ${request.migrationId}`);
    if (records.read(name) || fs.existsSync(records.vmDir(name))) throw new DroverError('VM_EXISTS', `${name} is already on this host`);
    if (records.list().some((r) => r.id === request.vm.id)) throw new DroverError('VM_EXISTS', `a VM with id ${request.vm.id} is already on this host`);
    await checkCompatible(request.source, driver.accelerator);
    const record = this.localRecord(request);

    const dir = records.vmDir(name);
    try {
      fs.mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new DroverError('VM_EXISTS', `${name} is arriving on this host already`);
      throw err;
    }
    const migration = registry.add(new Migration(request.migrationId, 'incoming', { id: record.id, name }, request.storage, sourceAddress));
    const entry: IncomingEntry = { migration, record, storage: request.storage, resume: request.resume };
    this.entries.set(migration.id, entry);
    try {
      fs.writeFileSync(path.join(dir, MARKER), JSON.stringify({ migrationId: migration.id, storage: request.storage, record }, null, 2));
      const targets = request.storage === 'copy' ? await createTargetDisks(dir, record, request.disks, this.host.images) : [];
      await driver.startIncoming(records.toSpec(record), { machineType: request.source.machineType, firmware: firmwareOf(request.source) }, request.guestStartedAt);
      const qmp = await driver.qmp(record.id);
      await verifySame(qmp, request.source, driver.accelerator);
      await setCapabilities(qmp, { events: true, 'return-path': true, 'postcopy-ram': request.postcopy });
      const disks = request.storage === 'copy' ? await exportDisks(qmp, listenAddress, targets) : [];
      await migrateIncoming(qmp, `tcp:${uriHost(listenAddress)}:0`);
      const port = await listeningPort(qmp);
      entry.stopWatching = qmp.on('MIGRATION', (data) => {
        migration.progress = { ...migration.progress, qemuStatus: data.status, postcopy: migration.progress.postcopy || data.status.startsWith('postcopy') };
      });
      entry.timer = setTimeout(() => {
        if (['setup', undefined].includes(migration.progress.qemuStatus)) {
          void this.cleanup(entry, new DroverError('MIGRATION_FAILED', `the source did not start sending within ${CONNECT_TIMEOUT_MS / 1000} s`));
        }
      }, CONNECT_TIMEOUT_MS);
      entry.timer.unref();
      return { migrationId: migration.id, migrationUri: `tcp:${uriHost(listenAddress)}:${port}`, disks };
    } catch (err) {
      const error = asDroverError(err, 'MIGRATION_FAILED', 'preparing the destination');
      await this.cleanup(entry, error);
      throw error;
    }
  }

  /**
   * Runs the guest here and publishes its record: from now on this host owns the VM. Idempotent. Any error means
   * the guest did not run here (this side is cleaned up), so the source may resume it.
   */
  async finish(id: string): Promise<VmView> {
    const migration = this.host.registry.get(id);
    const entry = this.entries.get(id);
    if (migration.state === 'completed') return this.host.vms.get(migration.vm.name);
    if (!entry || migration.finished) {
      throw new DroverError('MIGRATION_FAILED', `the destination already gave up: ${migration.error?.detail ?? migration.state}`);
    }
    const { record } = entry;
    try {
      const qmp = await this.host.driver.qmp(record.id);
      await stateArrived(qmp);
      if (entry.storage === 'copy') await nbdServerStop(qmp);
      // During 'inmigrate' QEMU takes cont as "run as soon as the state has arrived".
      if (entry.resume) await qmp.execute('cont');
    } catch (err) {
      const error = asDroverError(err, 'MIGRATION_FAILED', 'resuming the guest on the destination');
      await this.cleanup(entry, error);
      throw error;
    }
    this.publish(entry);
    return this.host.vms.get(record.name);
  }

  /** Drops an unfinished incoming migration: its QEMU is killed and its directory removed. */
  async abort(id: string, reason: string): Promise<MigrationView> {
    const migration = this.host.registry.get(id);
    if (migration.state === 'completed') throw new DroverError('MIGRATION_FINISHED', `${migration.vm.name} already runs here`);
    const entry = this.entries.get(id);
    if (entry) await this.cleanup(entry, new DroverError('MIGRATION_CANCELLED', reason));
    return migration.view();
  }

  /**
   * After an agent restart: publishes an incoming VM whose guest already runs here (finish got as far as cont),
   * and removes every other unfinished one (its QEMU included), since its source has resumed or will.
   */
  async recover(): Promise<void> {
    const { records, driver, registry } = this.host;
    for (const entry of fs.readdirSync(records.dir, { withFileTypes: true })) {
      const marker = path.join(records.vmDir(entry.name), MARKER);
      if (!entry.isDirectory() || entry.name.startsWith('.') || !fs.existsSync(marker)) continue;
      let saved: { migrationId: string; storage: StorageMode; record: VmRecord };
      try {
        // Written by prepare() on this host.
        saved = JSON.parse(fs.readFileSync(marker, 'utf8')) as typeof saved;
      } catch {
        continue;
      }
      const { record, storage } = saved;
      const migration = registry.add(new Migration(saved.migrationId, 'incoming', { id: record.id, name: record.name }, storage, 'unknown'));
      const recovered: IncomingEntry = { migration, record, storage, resume: false };
      if (records.read(record.name) || driver.status(record.id).state === 'running') this.publish(recovered);
      else await this.cleanup(recovered, new DroverError('MIGRATION_FAILED', 'the host agent restarted before the migration finished'));
    }
  }

  /** The record as this host runs it: boot files from its own identical image, disks where this host finds them. */
  private localRecord(request: IncomingRequest): VmRecord {
    const vm = recordFromWire(request.vm);
    // The model the source's QEMU really runs (a record from before per-VM models names none), so verifySame agrees.
    const { storageDir: sharedDir, ...record } = { ...vm, cpuModel: request.source.cpuModel };
    if (request.storage === 'shared') {
      const shared = this.host.sharedStorageDir;
      if (!sharedDir) throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `${vm.name} keeps its disks in its host's own directory; migrate it with storage "copy"`);
      if (!shared || !isInside(sharedDir, shared)) {
        throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `${sharedDir} is not inside this host's shared storage (${shared ?? 'none configured'})`);
      }
      const missing = vm.disks.find((d) => !fs.existsSync(path.join(sharedDir, d.file)));
      if (missing) throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `this host cannot see ${path.join(sharedDir, missing.file)}`);
    }
    if (vm.boot) {
      const ref = request.bootImage;
      const image = ref && this.host.images.has(ref.name) ? this.host.images.get(ref.name) : undefined;
      if (!ref || !image?.boot || image.sha256 !== ref.sha256) {
        throw new DroverError('MIGRATION_INCOMPATIBLE', `the VM boots the kernel of image ${ref?.name ?? '(unknown)'}; this host's library has no identical copy of it`);
      }
      record.boot = { ...vm.boot, kernel: image.boot.kernel, ...(vm.boot.initrd ? { initrd: image.boot.initrd } : {}) };
    }
    return request.storage === 'shared' && sharedDir ? { ...record, storageDir: sharedDir } : record;
  }

  /** Writes the record (the VM now shows in this host's list) and drops the marker. */
  private publish(entry: IncomingEntry): void {
    const { records } = this.host;
    this.stopTracking(entry);
    if (!records.read(entry.record.name)) records.write(entry.record);
    fs.rmSync(path.join(records.vmDir(entry.record.name), MARKER), { force: true });
    entry.migration.set('completed');
  }

  /** Kills the incoming QEMU and removes its directory (never shared disks), recording `error` as the outcome. */
  private async cleanup(entry: IncomingEntry, error: DroverError): Promise<void> {
    if (entry.cleaning) return;
    entry.cleaning = true;
    this.stopTracking(entry);
    const { driver, records } = this.host;
    const id = entry.record.id;
    if (['running', 'paused', 'starting', 'stopping'].includes(driver.status(id).state)) await driver.kill(id).catch(() => undefined);
    try {
      driver.forget(id);
    } catch {
      // A runtime that would not stop is left for the liveness check; its directory goes below regardless.
    }
    fs.rmSync(records.vmDir(entry.record.name), { recursive: true, force: true });
    entry.migration.set(error.code === 'MIGRATION_CANCELLED' ? 'cancelled' : 'failed', error);
  }

  private stopTracking(entry: IncomingEntry): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.stopWatching?.();
    this.entries.delete(entry.migration.id);
  }

  /** An incoming QEMU that exits before finish fails its migration. */
  private onRuntime(status: RuntimeStatus): void {
    if (status.state !== 'crashed' && status.state !== 'stopped') return;
    for (const entry of this.entries.values()) {
      if (entry.record.id !== status.id || entry.cleaning) continue;
      const why = status.crashReason ?? 'QEMU stopped';
      void this.cleanup(entry, new DroverError('MIGRATION_FAILED', `the destination QEMU exited: ${why}`));
    }
  }
}
