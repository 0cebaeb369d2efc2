import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_CPU_MODEL, type BootSpec, type ContainerSpec, type GuestType, type DeviceModel, type DiskThrottle, type NicSpec, type VmSpec } from './spec.js';

/** A disk as a host records it; `file` is relative to the VM's directory. */
export interface DiskRecord {
  name: string;
  file: string;
  sizeBytes: number;
  readOnly?: boolean;
  throttle?: DiskThrottle;
}

/** A VM defined on this host: everything needed to build its VmSpec. */
export interface VmRecord {
  id: string;
  name: string;
  /** Absent: 'vm' (records written before containers existed). */
  type?: GuestType;
  /** A container's init, stop signal and container-only limits. */
  container?: ContainerSpec;
  image?: string;
  cpus: number;
  /** The CPU model QEMU presents; records from before per-VM models have none and run DEFAULT_CPU_MODEL. */
  cpuModel?: string;
  memoryMiB: number;
  devices: DeviceModel;
  disks: DiskRecord[];
  nics: NicSpec[];
  boot?: BootSpec;
  cpuPinning?: number[];
  cpuLimitPercent?: number;
  vnc?: boolean;
  /** A virtio balloon with free page reporting; VMs created before it was the default have none (so they migrate as they are). */
  freePageReporting?: boolean;
  /** Absolute directory holding the disks when it is not the VM's own directory (a shared-storage pool). */
  storageDir?: string;
  /** The HA generation this host last started the VM at; absent: never started under HA here. */
  haGeneration?: number;
  createdAt: string;
}

/** Keeps VM records as `<dir>/<name>/vm.json`, one directory per VM holding its disks too. */
export class VmRecords {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  /** The directory that holds VM `name`'s record and disks. */
  vmDir(name: string): string {
    return path.join(this.dir, name);
  }

  /** Absolute path of a disk of `record`: in its shared-storage directory if it has one, else in its own directory. */
  diskPath(record: VmRecord, disk: DiskRecord): string {
    return path.join(record.storageDir ?? this.vmDir(record.name), disk.file);
  }

  list(): VmRecord[] {
    const out: VmRecord[] = [];
    for (const entry of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const record = this.read(entry.name);
      if (record) out.push(record);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  read(name: string): VmRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.vmDir(name), 'vm.json'), 'utf8')) as VmRecord;
    } catch {
      return undefined;
    }
  }

  /** Writes a record atomically into its existing directory. */
  write(record: VmRecord): void {
    const file = path.join(this.vmDir(record.name), 'vm.json');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(record, null, 2));
    fs.renameSync(`${file}.tmp`, file);
  }

  /** The spec the driver runs for `record`. */
  toSpec(record: VmRecord): VmSpec {
    return {
      id: record.id,
      name: record.name,
      ...(record.type ? { type: record.type } : {}),
      ...(record.container ? { container: record.container } : {}),
      cpus: record.cpus,
      cpuModel: record.cpuModel ?? DEFAULT_CPU_MODEL,
      memoryMiB: record.memoryMiB,
      devices: record.devices,
      disks: record.disks.map((d) => ({
        name: d.name,
        path: this.diskPath(record, d),
        ...(d.readOnly ? { readOnly: true } : {}),
        ...(d.throttle ? { throttle: d.throttle } : {}),
      })),
      nics: record.nics,
      ...(record.boot ? { boot: record.boot } : {}),
      ...(record.cpuPinning ? { cpuPinning: record.cpuPinning } : {}),
      ...(record.cpuLimitPercent ? { cpuLimitPercent: record.cpuLimitPercent } : {}),
      ...(record.vnc !== undefined ? { vnc: record.vnc } : {}),
      ...(record.freePageReporting ? { freePageReporting: true } : {}),
    };
  }
}
