import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { validateName } from '../shared/names.js';
import type { Image, ImageLibrary } from '../images/library.js';
import * as disks from '../storage/disks.js';
import * as qemuImg from '../storage/qemu-img.js';
import type { GuestDrivers } from '../drivers/registry.js';
import type { Driver, ExecResult, LiveLimits, RuntimeStatus } from '../drivers/types.js';
import { VmRecords, type VmRecord } from './records.js';
import type { CreateVmRequest, VmView, SnapshotView } from './schemas.js';
import { macFor } from './mac.js';
import { DEFAULT_CPU_MODEL, type GuestType } from './spec.js';
import { GuestNetworkSetups } from './guest-network.js';
import { tapName } from '../drivers/qemu/cmdline.js';
import { validateRateKbit } from '../network/rate-limit.js';
import { setRateLimit } from '../network/tap.js';

const GiB = 1024 ** 3;

/** The VMs one host defines and runs: disks, lifecycle, snapshots and clones. */
/** What HA checks before a VM starts or resumes on this host (the agent's HA guard). */
export interface StartGate {
  /** Throws when the VM must not start here; returns the record as it must be saved. */
  beforeStart(record: VmRecord, generation: number | undefined): VmRecord;
  beforeResume(record: VmRecord): void;
}

export class HostVmService {
  private readonly busy = new Set<string>();
  /** Set once the agent runs its HA guard. */
  gate: StartGate | undefined;
  private readonly migrating = new Set<string>();
  /** The guest address setup of each VM with virtual-network NICs, after its start or last reset; waitReady waits for it. */
  private readonly guestNetworkSetups: GuestNetworkSetups;

  constructor(
    private readonly records: VmRecords,
    private readonly images: ImageLibrary,
    private readonly drivers: GuestDrivers,
    private readonly basesDir: string,
    /** A directory every host reaches at the same path; VMs created with pool 'shared' keep their disks there. */
    private readonly sharedStorageDir?: string,
  ) {
    fs.mkdirSync(basesDir, { recursive: true });
    this.guestNetworkSetups = new GuestNetworkSetups({
      waitReady: (id, timeoutMs) => this.driverOf(id).waitReady(id, timeoutMs),
      exec: (id, command, args, opts) => this.driverOf(id).exec(id, command, args, opts),
    });
    for (const driver of drivers.all()) driver.onGuestReset((id) => this.onGuestReset(id));
  }

  list(): VmView[] {
    return this.records.list().map((r) => this.view(r));
  }

  get(name: string): VmView {
    return this.view(this.require(name));
  }

  /** Defines a VM from an image (linked or full clone) or a blank disk; nothing is left behind on failure. */
  async create(req: CreateVmRequest): Promise<VmView> {
    validateName('VM', req.name);
    if (this.records.read(req.name)) throw new DroverError('VM_EXISTS', req.name);
    if (!req.image && !req.diskGiB) throw new DroverError('INVALID_ARGUMENT', 'give an image, or a disk size for a blank disk');
    // A directory without a record belongs to an incoming migration that has not finished.
    if (fs.existsSync(this.records.vmDir(req.name))) throw new DroverError('VM_EXISTS', `${req.name} (an incoming migration holds the name)`);
    const shared = req.pool === 'shared' ? this.requireSharedStorage() : undefined;
    const type: GuestType = req.type ?? 'vm';
    const driver = this.drivers.forType(type);
    if (req.cpuModel && !driver.capabilities.cpuModels) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `a ${type} sees the host's CPU; it takes no --cpu-model`);
    if (!req.image && !driver.capabilities.deviceModels.length) throw new DroverError('INVALID_ARGUMENT', `a ${type} is made from an image: give --image`);
    // A guest that cannot choose its CPU model sees the host's own.
    const cpuModel = driver.capabilities.cpuModels ? (req.cpuModel ?? DEFAULT_CPU_MODEL) : 'host';
    const id = crypto.randomUUID();
    const staging = path.join(this.records.dir, `.creating-${req.name}-${id.slice(0, 8)}`);
    // Shared-pool disks are made inside the shared directory, so publishing them is a rename there.
    const diskStaging = shared ? path.join(shared, `.creating-${id}`) : staging;
    const storageDir = shared ? path.join(shared, id) : undefined;
    fs.mkdirSync(staging);
    if (shared) fs.mkdirSync(diskStaging);
    try {
      const diskFile = path.join(diskStaging, 'root.qcow2');
      let sizeBytes = (req.diskGiB ?? 0) * GiB;
      let boot: VmRecord['boot'];
      let container: VmRecord['container'];
      if (req.image) {
        const image = this.images.get(req.image);
        const imageType = image.type ?? 'vm';
        if (imageType !== type) {
          throw new DroverError('IMAGE_TYPE_MISMATCH', `image ${image.name} is a ${imageType} image; create it with --type ${imageType}, or pick a ${type} image`);
        }
        if (image.container) {
          container = {
            ...image.container,
            ...(req.privileged ? { privileged: true } : {}),
            ...(req.pidsLimit ? { pidsLimit: req.pidsLimit } : {}),
            ...(req.swapMiB !== undefined ? { swapMiB: req.swapMiB } : {}),
          };
        }
        if (req.clone === 'full') await disks.createFullClone(diskFile, image.path);
        else await disks.createLinkedClone(diskFile, shared ? await this.sharedBase(shared, image) : image.path);
        if (sizeBytes && sizeBytes < image.virtualSizeBytes) {
          throw new DroverError('INVALID_SIZE', `--disk ${req.diskGiB} GiB is smaller than image ${image.name}`);
        }
        if (sizeBytes > image.virtualSizeBytes) await qemuImg.resize(diskFile, sizeBytes);
        sizeBytes = Math.max(sizeBytes, image.virtualSizeBytes);
        if (image.boot) {
          boot = {
            kernel: image.boot.kernel,
            ...(image.boot.initrd ? { initrd: image.boot.initrd } : {}),
            cmdline: `${image.boot.cmdline ?? ''} drover.hostname=${req.name}`.trim(),
          };
        }
      } else {
        await disks.createBlankDisk(diskFile, sizeBytes);
      }
      const extra = await this.createExtraDisks(diskStaging, req);
      const record: VmRecord = {
        id,
        name: req.name,
        ...(type !== 'vm' ? { type } : {}),
        ...(container ? { container } : {}),
        ...(req.image ? { image: req.image } : {}),
        cpus: req.cpus ?? 1,
        cpuModel,
        memoryMiB: req.memoryMiB ?? 256,
        devices: req.devices ?? 'virtio',
        disks: [
          { name: 'root', file: 'root.qcow2', sizeBytes, ...(req.diskThrottle ? { throttle: req.diskThrottle } : {}) },
          ...extra,
        ],
        nics: [...this.nicFor(id, req, driver), ...(req.networkNics ?? []).map((n) => ({ mode: 'network' as const, ...n }))],
        ...(boot ? { boot } : {}),
        ...(req.cpuPinning ? { cpuPinning: req.cpuPinning } : {}),
        ...(req.cpuLimitPercent ? { cpuLimitPercent: req.cpuLimitPercent } : {}),
        vnc: req.vnc ?? driver.capabilities.vnc,
        // Measured in bench/results/containers.md: after a burst, idle VMs with it hold their idle RSS again.
        ...((req.devices ?? 'virtio') === 'virtio' && driver.capabilities.deviceModels.includes('virtio') ? { freePageReporting: true } : {}),
        ...(storageDir ? { storageDir } : {}),
        createdAt: new Date().toISOString(),
      };
      // Validates the combination (e.g. read-only IDE disks) before anything becomes visible.
      await driver.validate(this.records.toSpec(record));
      fs.writeFileSync(path.join(staging, 'vm.json'), JSON.stringify(record, null, 2));
      if (storageDir) fs.renameSync(diskStaging, storageDir);
      fs.renameSync(staging, this.records.vmDir(req.name));
      return this.view(record);
    } catch (err) {
      for (const dir of [staging, diskStaging, storageDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Starts the VM. `generation` is HA's: the start gate checks it against the VM's record on shared
   * storage and claims it there first, so a start HA has superseded never runs.
   */
  async start(name: string, generation?: number): Promise<VmView> {
    let record = this.require(name);
    return this.exclusive(name, async () => {
      if (this.gate) {
        record = this.gate.beforeStart(record, generation);
        this.records.write(record);
      }
      await this.drivers.for(record).start(this.records.toSpec(record));
      this.guestNetworkSetups.afterStart(record.name, record.id, record.nics);
      return this.view(record);
    });
  }

  async stop(name: string, timeoutMs?: number): Promise<VmView> {
    const record = this.require(name);
    return this.exclusive(name, async () => {
      await this.drivers.for(record).stop(record.id, timeoutMs !== undefined ? { timeoutMs } : {});
      return this.view(record);
    });
  }

  /** Kill, reboot, pause or resume: one QMP-level action, no disk work. Only kill works during a migration. */
  async act(name: string, action: 'kill' | 'reboot' | 'pause' | 'resume'): Promise<VmView> {
    const record = this.require(name);
    if (action !== 'kill' && this.migrating.has(name)) throw new DroverError('VM_BUSY', `${name} is migrating`);
    if (action === 'resume') this.gate?.beforeResume(record);
    await this.drivers.for(record)[action](record.id);
    return this.view(record);
  }

  async waitReady(name: string, timeoutMs: number): Promise<VmView> {
    const record = this.require(name);
    // Ready means reachable on its virtual networks too. The setup waits for the guest agent itself, and two
    // waits at once on one guest-agent channel would keep resetting each other's handshake, so this one goes after.
    const started = Date.now();
    const setup = this.guestNetworkSetups.latest(name);
    if (setup) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DroverError('GUEST_AGENT_UNAVAILABLE', `${name}: its virtual-network addresses were not set within ${timeoutMs} ms`)), timeoutMs);
      });
      await Promise.race([setup, timedOut]).finally(() => clearTimeout(timer));
    }
    await this.drivers.for(record).waitReady(record.id, Math.max(1, timeoutMs - (Date.now() - started)));
    return this.view(record);
  }

  async exec(name: string, cmd: string, args: string[], opts: { input?: string; timeoutMs?: number }): Promise<ExecResult> {
    const record = this.require(name);
    return this.drivers.for(record).exec(record.id, cmd, args, opts);
  }

  /** Deletes a stopped VM and its disks; `force` kills a running one first. */
  async delete(name: string, force = false): Promise<void> {
    const record = this.require(name);
    await this.exclusive(name, async () => {
      if (this.isLive(record)) {
        if (!force) throw new DroverError('VM_NOT_STOPPED', name);
        await this.drivers.for(record).kill(record.id);
      }
      this.drivers.for(record).forget(record.id);
      this.guestNetworkSetups.forget(name);
      fs.rmSync(this.records.vmDir(name), { recursive: true, force: true });
      if (record.storageDir) fs.rmSync(record.storageDir, { recursive: true, force: true });
      await this.pruneBases();
    });
  }

  /**
   * Sets (kbit/s) or removes (null) the rate limit of NIC `index`: stored in the record, so it holds after a
   * restart and travels with a migration, and applied to the tap at once if the VM runs. On a tc failure the
   * record is put back and the old limit re-applied. VM_BUSY during a migration or another disk action.
   */
  async setNicRateLimit(name: string, index: number, kbit: number | null): Promise<VmView> {
    const record = this.require(name);
    const nic = record.nics[index];
    if (!nic) throw new DroverError('NIC_NOT_FOUND', `${name} has no NIC ${index}`);
    if (nic.mode === 'user') throw new DroverError('NIC_NOT_RATE_LIMITABLE', `${name} NIC ${index} is user-mode`);
    if (kbit !== null) validateRateKbit(kbit);
    return this.exclusive(name, async () => {
      const { rateLimitKbit: previous, ...rest } = nic;
      const nics = [...record.nics];
      nics[index] = kbit === null ? rest : { ...rest, rateLimitKbit: kbit };
      const updated: VmRecord = { ...record, nics };
      this.records.write(updated);
      if (!this.isLive(record)) return this.view(updated);
      const tap = tapName(record.id, index);
      try {
        await setRateLimit(tap, kbit ?? undefined);
      } catch (err) {
        this.records.write(record);
        await setRateLimit(tap, previous).catch(() => undefined);
        throw err;
      }
      return this.view(updated);
    });
  }

  /** The stored record of VM `name`; VM_NOT_FOUND if there is none. */
  record(name: string): VmRecord {
    return this.require(name);
  }

  /**
   * Reserves `name` for a live migration until the returned function is called: stop, delete, snapshots, clones,
   * reboot, pause and resume get VM_BUSY meanwhile; kill still works (and fails the migration). VM_BUSY if taken.
   */
  holdForMigration(name: string): () => void {
    this.require(name);
    if (this.busy.has(name)) throw new DroverError('VM_BUSY', name);
    this.busy.add(name);
    this.migrating.add(name);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.busy.delete(name);
      this.migrating.delete(name);
    };
  }

  /**
   * Forgets a VM that now runs on another host: its runtime files, record and local disks go, and so do its
   * shared-storage disks unless `sharedDisksInUse` (the other host runs from them). Precondition: its QEMU has exited.
   */
  removeMigratedAway(name: string, sharedDisksInUse: boolean): void {
    const record = this.require(name);
    this.drivers.for(record).forget(record.id);
    this.guestNetworkSetups.forget(name);
    fs.rmSync(this.records.vmDir(name), { recursive: true, force: true });
    if (record.storageDir && !sharedDisksInUse) fs.rmSync(record.storageDir, { recursive: true, force: true });
  }

  async snapshotCreate(name: string, snapshot: string): Promise<SnapshotView[]> {
    validateName('snapshot', snapshot);
    const record = this.require(name);
    return this.exclusive(name, async () => {
      if ((await this.snapshotList(name)).some((s) => s.name === snapshot)) throw new DroverError('SNAPSHOT_EXISTS', snapshot);
      const writable = record.disks.filter((d) => !d.readOnly);
      if (this.isLive(record)) {
        await this.drivers.for(record).snapshotLive(record.id, writable.map((d) => d.name), snapshot, 'create');
      } else {
        for (const d of writable) await disks.snapshotCreate(this.records.diskPath(record, d), snapshot);
      }
      return this.snapshotList(name);
    });
  }

  async snapshotList(name: string): Promise<SnapshotView[]> {
    const record = this.require(name);
    const root = record.disks[0];
    if (!root) return [];
    const info = await qemuImg.info(this.records.diskPath(record, root));
    return info.snapshots.map((s) => ({ name: s.name, createdAt: s.date, vmStateSizeBytes: s.vmStateSize }));
  }

  /** Reverts every disk to the snapshot; the VM must be stopped and boots from that state next. */
  async snapshotRevert(name: string, snapshot: string): Promise<SnapshotView[]> {
    const record = this.require(name);
    return this.exclusive(name, async () => {
      if (this.isLive(record)) throw new DroverError('VM_NOT_STOPPED', `${name}: revert needs a stopped VM`);
      await this.requireSnapshot(name, snapshot);
      for (const d of record.disks.filter((x) => !x.readOnly)) await disks.snapshotRevert(this.records.diskPath(record, d), snapshot);
      return this.snapshotList(name);
    });
  }

  async snapshotDelete(name: string, snapshot: string): Promise<SnapshotView[]> {
    const record = this.require(name);
    return this.exclusive(name, async () => {
      await this.requireSnapshot(name, snapshot);
      const writable = record.disks.filter((d) => !d.readOnly);
      if (this.isLive(record)) {
        await this.drivers.for(record).snapshotLive(record.id, writable.map((d) => d.name), snapshot, 'delete');
      } else {
        for (const d of writable) await disks.snapshotDelete(this.records.diskPath(record, d), snapshot);
      }
      return this.snapshotList(name);
    });
  }

  /**
   * Clones a stopped VM. Full: standalone copies of every disk. Linked: the source's disks are frozen
   * into shared read-only bases, and source and clone each get a thin overlay on them.
   */
  async clone(source: string, target: string, mode: 'linked' | 'full'): Promise<VmView> {
    validateName('VM', target);
    const src = this.require(source);
    if (this.records.read(target)) throw new DroverError('VM_EXISTS', target);
    if (mode === 'linked' && src.storageDir) {
      throw new DroverError('INVALID_ARGUMENT', `${source} keeps its disks on shared storage; clone it with --full`);
    }
    return this.exclusive(source, async () => {
      if (this.isLive(src)) throw new DroverError('VM_NOT_STOPPED', `${source}: clone needs a stopped VM`);
      const id = crypto.randomUUID();
      const staging = path.join(this.records.dir, `.creating-${target}-${id.slice(0, 8)}`);
      fs.mkdirSync(staging);
      const undo: Array<() => void> = [() => fs.rmSync(staging, { recursive: true, force: true })];
      try {
        if (mode === 'full') {
          for (const d of src.disks) await disks.createFullClone(path.join(staging, d.file), this.records.diskPath(src, d));
        } else {
          for (const d of src.disks) await this.linkDisk(src, d, path.join(staging, d.file), undo);
        }
        const record: VmRecord = {
          ...src,
          id,
          name: target,
          nics: src.nics.map((n, i) => ({ ...n, mac: macFor(id, i) })),
          ...(src.boot ? { boot: { ...src.boot, cmdline: (src.boot.cmdline ?? '').replace(/drover\.hostname=\S+/, `drover.hostname=${target}`) } } : {}),
          createdAt: new Date().toISOString(),
        };
        // A clone's disks were made in its own directory, wherever the source keeps its disks.
        delete record.storageDir;
        fs.writeFileSync(path.join(staging, 'vm.json'), JSON.stringify(record, null, 2));
        fs.renameSync(staging, this.records.vmDir(target));
        return this.view(record);
      } catch (err) {
        for (const step of undo.reverse()) step();
        throw err;
      }
    });
  }

  /** Host-side view of the VM used for crash reports and reconciliation. */
  status(name: string): RuntimeStatus {
    const record = this.require(name);
    return this.drivers.for(record).status(record.id);
  }

  /** The driver that runs VM `name`. */
  driverFor(name: string): Driver {
    return this.drivers.for(this.require(name));
  }

  /**
   * Changes limits (CPU cap, memory, processes): kept in the record for the next start, and applied at once to a
   * running guest whose driver can; the record is put back when the live change fails.
   */
  async setLimits(name: string, limits: LiveLimits): Promise<VmView> {
    const record = this.require(name);
    return this.exclusive(name, async () => {
      const updated: VmRecord = { ...record, ...(record.container ? { container: { ...record.container } } : {}) };
      if (limits.memoryMiB !== undefined) updated.memoryMiB = limits.memoryMiB;
      if (limits.cpuLimitPercent === null) delete updated.cpuLimitPercent;
      else if (limits.cpuLimitPercent !== undefined) updated.cpuLimitPercent = limits.cpuLimitPercent;
      if (limits.pidsLimit !== undefined) {
        if (!updated.container) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${name} is a VM; process limits are for containers`);
        if (limits.pidsLimit === null) delete updated.container.pidsLimit;
        else updated.container.pidsLimit = limits.pidsLimit;
      }
      if (this.isLive(record)) await this.drivers.for(record).setLimits(record.id, limits);
      this.records.write(updated);
      return this.view(updated);
    });
  }

  private async linkDisk(src: VmRecord, disk: VmRecord['disks'][number], target: string, undo: Array<() => void>): Promise<void> {
    if (disk.readOnly) {
      await disks.createFullClone(target, this.records.diskPath(src, disk));
      return;
    }
    const current = this.records.diskPath(src, disk);
    if ((await qemuImg.info(current)).snapshots.length > 0) {
      throw new DroverError('LINKED_CLONE_HAS_SNAPSHOTS', src.name);
    }
    const base = path.join(this.basesDir, `${src.id}-${disk.name}-${Date.now()}.qcow2`);
    fs.renameSync(current, base);
    undo.push(() => fs.renameSync(base, current));
    fs.chmodSync(base, 0o444);
    await disks.createLinkedClone(current, base);
    undo.push(() => fs.rmSync(current, { force: true }));
    await disks.createLinkedClone(target, base);
  }

  private requireSharedStorage(): string {
    if (!this.sharedStorageDir) {
      throw new DroverError('INVALID_ARGUMENT', 'this host has no shared storage; start its agent with --shared-storage DIR');
    }
    return this.sharedStorageDir;
  }

  /** The read-only copy of a library image in the shared directory that shared-pool disks are backed by (one per build). */
  private async sharedBase(shared: string, image: Image): Promise<string> {
    const base = path.join(shared, 'bases', `${image.name}-${image.sha256.slice(0, 16)}.qcow2`);
    if (fs.existsSync(base)) return base;
    fs.mkdirSync(path.dirname(base), { recursive: true });
    const temp = `${base}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await fs.promises.copyFile(image.path, temp);
      fs.chmodSync(temp, 0o444);
      fs.renameSync(temp, base);
    } finally {
      fs.rmSync(temp, { force: true });
    }
    return base;
  }

  /** Removes frozen bases no VM disk is backed by any more. */
  private async pruneBases(): Promise<void> {
    const used = new Set<string>();
    for (const record of this.records.list()) {
      for (const d of record.disks) {
        const info = await qemuImg.info(this.records.diskPath(record, d)).catch(() => undefined);
        if (info?.backingFile) used.add(path.resolve(info.backingFile));
      }
    }
    for (const file of fs.readdirSync(this.basesDir)) {
      const full = path.join(this.basesDir, file);
      if (!used.has(full)) fs.rmSync(full, { force: true });
    }
  }

  private async requireSnapshot(name: string, snapshot: string): Promise<void> {
    if (!(await this.snapshotList(name)).some((s) => s.name === snapshot)) throw new DroverError('SNAPSHOT_NOT_FOUND', snapshot);
  }

  private async createExtraDisks(dir: string, req: CreateVmRequest): Promise<VmRecord['disks']> {
    const out: VmRecord['disks'] = [];
    for (const extra of req.extraDisks ?? []) {
      validateName('disk', extra.name);
      if (extra.name === 'root' || out.some((d) => d.name === extra.name)) throw new DroverError('ALREADY_EXISTS', `disk ${extra.name}`);
      const file = `${extra.name}.qcow2`;
      await disks.createBlankDisk(path.join(dir, file), extra.sizeGiB * GiB);
      out.push({ name: extra.name, file, sizeBytes: extra.sizeGiB * GiB, ...(extra.readOnly ? { readOnly: true } : {}) });
    }
    return out;
  }

  /** The first NIC: bridged when asked, else user-mode where the driver has it (a container without a bridge has none). */
  private nicFor(id: string, req: CreateVmRequest, driver: Driver): VmRecord['nics'] {
    const mac = macFor(id, 0);
    if (req.bridge) {
      return [{ mode: 'bridge', mac, bridge: req.bridge, ...(req.nicRateLimitKbit ? { rateLimitKbit: req.nicRateLimitKbit } : {}) }];
    }
    if (req.nicRateLimitKbit) throw new DroverError('INVALID_ARGUMENT', 'NIC rate limits need a bridged NIC (--bridge)');
    if (!driver.capabilities.userNetworking) {
      if (req.portForwards?.length) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `a ${driver.guestType} has no user-mode NIC for port forwards; give a bridge or a virtual network`);
      return [];
    }
    return [{ mode: 'user', mac, ...(req.portForwards ? { portForwards: req.portForwards } : {}) }];
  }

  /** A guest that reset (rebooted) comes back without its virtual-network addresses: set them again. */
  private onGuestReset(id: string): void {
    const record = this.records.list().find((r) => r.id === id);
    if (record) this.guestNetworkSetups.afterReset(record.name, record.id, record.nics);
  }

  private isLive(record: VmRecord): boolean {
    return ['running', 'paused', 'starting', 'stopping'].includes(this.drivers.for(record).status(record.id).state);
  }

  /** The driver of the guest with runtime id `id` (a reset or a guest-network setup names guests by id). */
  private driverOf(id: string): Driver {
    const record = this.records.list().find((r) => r.id === id);
    return record ? this.drivers.for(record) : this.drivers.forType('vm');
  }

  private require(name: string): VmRecord {
    const record = typeof name === 'string' ? this.records.read(name) : undefined;
    if (!record) throw new DroverError('VM_NOT_FOUND', name);
    return record;
  }

  /** Runs `fn` while no other disk-changing action runs on the same VM. */
  private async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy.has(name)) throw new DroverError('VM_BUSY', name);
    this.busy.add(name);
    try {
      return await fn();
    } finally {
      this.busy.delete(name);
    }
  }

  private view(record: VmRecord): VmView {
    const driver = this.drivers.for(record);
    const status = driver.status(record.id);
    return {
      id: record.id,
      name: record.name,
      type: record.type ?? 'vm',
      ...(record.container?.privileged ? { privileged: true } : {}),
      ...(record.container?.pidsLimit ? { pidsLimit: record.container.pidsLimit } : {}),
      ...(record.cpuLimitPercent ? { cpuLimitPercent: record.cpuLimitPercent } : {}),
      ...(record.image ? { image: record.image } : {}),
      cpus: record.cpus,
      cpuModel: record.cpuModel ?? DEFAULT_CPU_MODEL,
      memoryMiB: record.memoryMiB,
      devices: record.devices,
      state: status.state,
      guestReady: status.guestReady,
      ...(status.pid ? { pid: status.pid } : {}),
      ...(status.startedAt ? { startedAt: status.startedAt } : {}),
      ...(status.crashReason ? { crashReason: status.crashReason } : {}),
      ...(driver.addresses(record.id).length ? { addresses: driver.addresses(record.id) } : {}),
      ...(record.haGeneration !== undefined ? { generation: record.haGeneration } : {}),
      disks: record.disks.map((d) => ({
        name: d.name,
        path: this.records.diskPath(record, d),
        sizeBytes: d.sizeBytes,
        readOnly: d.readOnly ?? false,
        ...(d.throttle ? { throttle: d.throttle } : {}),
      })),
      nics: record.nics,
      createdAt: record.createdAt,
    };
  }
}
