import path from 'node:path';
import { DroverError } from '../../shared/errors.js';
import { CPU_MODEL_PATTERN, DEFAULT_CPU_MODEL, type DiskSpec, type NicSpec, type VmSpec } from '../../vms/spec.js';

/** Files a running VM keeps in its runtime directory. */
export interface RuntimePaths {
  dir: string;
  qmp: string;
  guestAgent: string;
  console: string;
  serialLog: string;
  qemuLog: string;
  pidFile: string;
  vnc: string;
  runtimeFile: string;
}

/** The runtime directory layout for VM `id` under `runDir`. */
export function runtimePaths(runDir: string, id: string): RuntimePaths {
  const dir = path.join(runDir, id);
  const paths: RuntimePaths = {
    dir,
    qmp: path.join(dir, 'qmp.sock'),
    guestAgent: path.join(dir, 'qga.sock'),
    console: path.join(dir, 'console.sock'),
    serialLog: path.join(dir, 'serial.log'),
    qemuLog: path.join(dir, 'qemu.log'),
    pidFile: path.join(dir, 'qemu.pid'),
    vnc: path.join(dir, 'vnc.sock'),
    runtimeFile: path.join(dir, 'runtime.json'),
  };
  // sun_path is 108 bytes; fail early with a clear message instead of a QEMU bind error.
  if (Buffer.byteLength(paths.console) > 100) {
    throw new DroverError('INVALID_ARGUMENT', `runtime directory path too long for unix sockets: ${dir}`);
  }
  return paths;
}

/** The tap device name Drover uses for NIC `index` of VM `id` (at most 15 characters). */
export function tapName(id: string, index: number): string {
  return `dt${id.replace(/-/g, '').slice(0, 10)}n${index}`.slice(0, 15);
}

/** Escapes a value for QEMU's comma-separated option syntax. */
function optionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

function diskArgs(spec: VmSpec, disk: DiskSpec, index: number): string[] {
  const drive = [
    `file=${optionValue(disk.path)}`,
    'if=none',
    `id=drive-${disk.name}`,
    'format=qcow2',
    'discard=unmap',
  ];
  if (disk.readOnly) drive.push('readonly=on');
  if (disk.throttle?.bytesPerSecond) drive.push(`throttling.bps-total=${disk.throttle.bytesPerSecond}`);
  if (disk.throttle?.iops) drive.push(`throttling.iops-total=${disk.throttle.iops}`);
  const boot = index === 0 ? ',bootindex=1' : '';
  if (spec.devices === 'virtio') {
    return ['-drive', drive.join(','), '-device', `virtio-blk-pci,drive=drive-${disk.name},id=${disk.name}${boot}`];
  }
  if (disk.readOnly) {
    throw new DroverError('INVALID_ARGUMENT', `disk ${disk.name}: IDE disks cannot be read-only; use --devices virtio`);
  }
  if (index > 3) throw new DroverError('INVALID_ARGUMENT', 'the emulated device model has room for 4 IDE disks');
  const bus = `ide.${Math.floor(index / 2)}`;
  return ['-drive', drive.join(','), '-device', `ide-hd,drive=drive-${disk.name},id=${disk.name},bus=${bus},unit=${index % 2}${boot}`];
}

function nicArgs(spec: VmSpec, nic: NicSpec, index: number): string[] {
  const id = `net${index}`;
  let netdev: string;
  if (nic.mode === 'user') {
    const forwards = (nic.portForwards ?? []).map(
      (f) => `,hostfwd=${f.protocol}:${f.hostAddress ?? '127.0.0.1'}:${f.hostPort}-:${f.guestPort}`,
    );
    netdev = `user,id=${id}${forwards.join('')}`;
  } else {
    netdev = `tap,id=${id},ifname=${tapName(spec.id, index)},script=no,downscript=no`;
  }
  const model = spec.devices === 'virtio' ? 'virtio-net-pci' : 'e1000';
  // A fixed link skips e1000 autonegotiation, about 2 s of every emulated-model boot.
  const extra = spec.devices === 'emulated' ? ',autonegotiation=off' : '';
  return ['-netdev', netdev, '-device', `${model},netdev=${id},mac=${nic.mac},id=nic${index}${extra}`];
}

/** The machine type VMs boot with; QEMU resolves the alias to its newest versioned type (pc-i440fx-X.Y). */
export const MACHINE_ALIAS = 'pc';

/** A firmware file name as QEMU's `-bios` takes it (looked up in QEMU's data directory). */
export const FIRMWARE_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
/**
 * qboot (Debian's qemu-system-data) only hands QEMU's -kernel to the guest: under TCG it reached the kernel 0.2-0.6 s
 * sooner than SeaBIOS in most runs here (a tie in some). SeaBIOS, QEMU's default, stays for VMs that boot from their
 * disk's bootloader.
 */
export const QBOOT = 'qboot.rom';
/** What QEMU runs without -bios on the pc machine: SeaBIOS. */
export const DEFAULT_FIRMWARE = 'bios-256k.bin';

/** The firmware a VM starts with: qboot for direct kernel boot, QEMU's default (SeaBIOS) otherwise. */
export function firmwareFor(spec: VmSpec): string | undefined {
  return spec.boot ? QBOOT : undefined;
}

/** How to launch QEMU beyond the spec: the target of an incoming live migration. */
export interface LaunchOptions {
  /** An exact machine type (the source's resolved one, e.g. pc-i440fx-7.2) instead of MACHINE_ALIAS. */
  machineType?: string;
  /**
   * The source's firmware file (e.g. qboot.rom or bios-256k.bin) instead of firmwareFor(spec): the firmware is part
   * of the guest's memory, so the destination must start with the same one, whatever Drover would pick today.
   */
  firmware?: string;
  /** Wait for migration state (`-incoming defer`) and stay paused after it arrives (`-S`) until told to run. */
  incoming?: boolean;
}

/** The full QEMU argument list for a VM; the same list is what "run it by hand" means in benchmarks. */
export function buildQemuArgs(spec: VmSpec, paths: RuntimePaths, accelerator: 'kvm' | 'tcg', launch: LaunchOptions = {}): string[] {
  if (launch.machineType !== undefined && !/^[a-z][a-z0-9._-]{0,63}$/.test(launch.machineType)) {
    throw new DroverError('INVALID_ARGUMENT', `machine type ${JSON.stringify(launch.machineType)}`);
  }
  if (launch.firmware !== undefined && !new RegExp(FIRMWARE_PATTERN).test(launch.firmware)) {
    throw new DroverError('INVALID_ARGUMENT', `firmware ${JSON.stringify(launch.firmware)}`);
  }
  // A comma would smuggle feature flags or other options into -cpu.
  if (spec.cpuModel !== undefined && !new RegExp(CPU_MODEL_PATTERN).test(spec.cpuModel)) {
    throw new DroverError('INVALID_ARGUMENT', `CPU model ${JSON.stringify(spec.cpuModel)}`);
  }
  const args = [
    '-name', `guest=${spec.name},debug-threads=on`,
    '-machine', `${launch.machineType ?? MACHINE_ALIAS},accel=${accelerator}`,
    '-cpu', spec.cpuModel ?? DEFAULT_CPU_MODEL,
    '-smp', String(spec.cpus),
    '-m', String(spec.memoryMiB),
    '-nodefaults', '-no-user-config',
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-rtc', 'base=utc',
    '-msg', 'timestamp=on',
    '-pidfile', paths.pidFile,
    '-qmp', `unix:${paths.qmp},server=on,wait=off`,
    '-chardev', `socket,id=serial0,path=${paths.console},server=on,wait=off,logfile=${paths.serialLog},logappend=on`,
    '-serial', 'chardev:serial0',
    '-device', 'virtio-serial-pci,id=vserial0',
    '-chardev', `socket,id=qga0,path=${paths.guestAgent},server=on,wait=off`,
    '-device', 'virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0',
  ];
  const firmware = launch.firmware ?? firmwareFor(spec);
  if (firmware) args.push('-bios', firmware);
  // Idle VMs give back what they freed: the guest reports free 2 MiB blocks and QEMU drops them from its RSS.
  if (spec.freePageReporting && spec.devices === 'virtio') args.push('-device', 'virtio-balloon-pci,id=balloon0,free-page-reporting=on');
  if (spec.vnc) args.push('-vga', 'std', '-vnc', `unix:${paths.vnc}`);
  else args.push('-display', 'none');
  spec.disks.forEach((disk, i) => args.push(...diskArgs(spec, disk, i)));
  spec.nics.forEach((nic, i) => args.push(...nicArgs(spec, nic, i)));
  if (spec.boot) {
    args.push('-kernel', spec.boot.kernel);
    if (spec.boot.initrd) args.push('-initrd', spec.boot.initrd);
    if (spec.boot.cmdline) args.push('-append', spec.boot.cmdline);
  }
  if (launch.incoming) args.push('-incoming', 'defer', '-S');
  return args;
}
