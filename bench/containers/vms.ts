/**
 * The VMs the container figures are set beside: the tiny image (direct kernel boot) on a fresh linked-clone overlay,
 * 1 vCPU, started by Drover's QEMU driver in the benchmark's process, or by hand with the command line that driver
 * builds (buildQemuArgs, which QemuDriver.commandLine returns), optionally with extra devices.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildQemuArgs, runtimePaths, tapName } from '../../src/drivers/qemu/cmdline.js';
import { QemuDriver } from '../../src/drivers/qemu/driver.js';
import { isOurQemu, qemuBinary, tailLog } from '../../src/drivers/qemu/process.js';
import { GuestAgentClient } from '../../src/guest-agent/client.js';
import type { TinyImage } from '../../src/images/tiny/build.js';
import { macFor } from '../../src/vms/mac.js';
import type { DeviceModel, VmSpec } from '../../src/vms/spec.js';
import { exited, runChecked, stopChild } from '../lib/process.js';
import { processCpuSeconds } from './procfs.js';
import { type Teardown, killIfOurs, quietly } from './teardown.js';

/** How long a VM may take from start until its guest agent answers (TCG, with other VMs idling beside it). */
export const VM_READY_TIMEOUT_MS = 240_000;

export interface VmSettings {
  memoryMiB: number;
  devices: DeviceModel;
  /** A bridge for the NIC (a tap on it); without one the NIC is user-mode, Drover's default. */
  bridge?: string;
}

/** The spec `vm create --image tiny` gives, with the benchmark's size, device model and NIC. */
export function tinyVmSpec(tiny: TinyImage, id: string, name: string, disk: string, settings: VmSettings): VmSpec {
  return {
    id,
    name,
    cpus: 1,
    memoryMiB: settings.memoryMiB,
    devices: settings.devices,
    disks: [{ name: 'root', path: disk }],
    nics: [settings.bridge ? { mode: 'bridge', bridge: settings.bridge, mac: macFor(id, 0) } : { mode: 'user', mac: macFor(id, 0) }],
    boot: { kernel: tiny.kernel, initrd: tiny.initrd, cmdline: `${tiny.cmdline} drover.hostname=${name}`.trim() },
    // Drover's default for new VMs (HostVmService.create).
    vnc: true,
  };
}

/** A linked clone of `base` at `file`, as Drover makes for a guest's root disk. */
async function overlay(base: string, file: string, size?: string): Promise<void> {
  await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, file, ...(size ? [size] : [])]);
}

/** Either way of running a VM, as the density, reclaim and overhead parts use it. */
export interface VmRunner {
  /** Creates the overlay and the spec (untimed). */
  create(name: string, settings: VmSettings): Promise<VmSpec>;
  /** Starts the VM and waits until its guest agent answers; resolves with the milliseconds that took. */
  startReady(spec: VmSpec): Promise<number>;
  /** Runs `script` with sh in the guest (through its agent); throws when it exits non-zero. */
  sh(id: string, script: string, timeoutMs?: number): Promise<string>;
  /** The QEMU process. */
  pid(id: string): number | undefined;
  cpuSeconds(id: string): number;
  /** Stops QEMU at once and deletes the overlay. */
  remove(id: string): Promise<void>;
}

/** Drover's QEMU driver over a runtime directory the benchmark owns. */
export class DroverVms implements VmRunner {
  private readonly driver: QemuDriver;
  private readonly specs = new Map<string, VmSpec>();

  private constructor(
    private readonly runDir: string,
    private readonly tiny: TinyImage,
    accelerator: 'kvm' | 'tcg',
  ) {
    this.driver = new QemuDriver({ runDir, accelerator });
  }

  static open(workDir: string, label: string, tiny: TinyImage, accelerator: 'kvm' | 'tcg', teardown: Teardown): DroverVms {
    const runDir = path.join(workDir, label);
    fs.mkdirSync(runDir, { recursive: true });
    const vms = new DroverVms(runDir, tiny, accelerator);
    teardown.add(`Drover VMs in ${runDir}`, () => vms.close(), () => vms.killAllNow());
    return vms;
  }

  async create(name: string, settings: VmSettings): Promise<VmSpec> {
    const id = randomUUID();
    const disk = path.join(this.runDir, `${id}.qcow2`);
    await overlay(this.tiny.disk, disk);
    const spec = tinyVmSpec(this.tiny, id, name, disk, settings);
    this.specs.set(id, spec);
    return spec;
  }

  async startReady(spec: VmSpec): Promise<number> {
    const started = performance.now();
    await this.driver.start(spec);
    await this.driver.waitReady(spec.id, VM_READY_TIMEOUT_MS);
    return performance.now() - started;
  }

  async sh(id: string, script: string, timeoutMs = 300_000): Promise<string> {
    const result = await this.driver.exec(id, '/bin/sh', ['-c', script], { timeoutMs });
    if (result.exitCode !== 0) throw new Error(`guest command failed (${result.exitCode}): ${script}: ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }

  pid(id: string): number | undefined {
    return this.driver.status(id).pid;
  }

  cpuSeconds(id: string): number {
    const pid = this.pid(id);
    return pid ? processCpuSeconds(pid) : 0;
  }

  async remove(id: string): Promise<void> {
    const state = this.driver.status(id).state;
    if (state === 'running' || state === 'paused' || state === 'starting' || state === 'stopping') await this.driver.kill(id);
    this.driver.forget(id);
    const spec = this.specs.get(id);
    if (spec) fs.rmSync(spec.disks[0]?.path ?? '', { force: true });
    this.specs.delete(id);
  }

  private async close(): Promise<void> {
    for (const id of [...this.specs.keys()]) await this.remove(id).catch(() => this.killNow(id));
    await this.driver.detach();
  }

  private killNow(id: string): void {
    const paths = runtimePaths(this.runDir, id);
    let pid: number | undefined;
    try {
      pid = Number(fs.readFileSync(paths.pidFile, 'utf8').trim());
    } catch {
      pid = this.driver.status(id).pid;
    }
    if (pid && isOurQemu(pid, paths.dir)) killIfOurs(pid, paths.dir);
    const spec = this.specs.get(id);
    spec?.nics.forEach((nic, index) => {
      if (nic.mode !== 'user') quietly('ip', ['link', 'delete', tapName(id, index)]);
    });
  }

  private killAllNow(): void {
    for (const id of this.specs.keys()) this.killNow(id);
  }
}

interface HandRunVm {
  spec: VmSpec;
  child: ChildProcess;
  agent?: GuestAgentClient;
  dir: string;
}

/** QEMU spawned by hand with the driver's command line, plus `extraArgs` (say, a balloon device). */
export class HandRunQemu implements VmRunner {
  private readonly vms = new Map<string, HandRunVm>();
  private readonly specs = new Map<string, VmSpec>();

  private constructor(
    private readonly runDir: string,
    private readonly tiny: TinyImage,
    private readonly accelerator: 'kvm' | 'tcg',
    private readonly extraArgs: string[],
  ) {}

  static open(workDir: string, label: string, tiny: TinyImage, accelerator: 'kvm' | 'tcg', teardown: Teardown, extraArgs: string[] = []): HandRunQemu {
    const runDir = path.join(workDir, label);
    fs.mkdirSync(runDir, { recursive: true });
    const qemu = new HandRunQemu(runDir, tiny, accelerator, extraArgs);
    teardown.add(`hand-run QEMUs in ${runDir}`, () => qemu.close(), () => qemu.killAllNow());
    return qemu;
  }

  /** The arguments the last VM was started with. */
  lastArgs: string[] = [];

  async create(name: string, settings: VmSettings): Promise<VmSpec> {
    if (settings.bridge) throw new Error('hand-run QEMU VMs here have user-mode NICs only');
    const id = randomUUID();
    const dir = runtimePaths(this.runDir, id).dir;
    fs.mkdirSync(dir, { recursive: true });
    const disk = path.join(dir, 'root.qcow2');
    await overlay(this.tiny.disk, disk);
    const spec = tinyVmSpec(this.tiny, id, name, disk, settings);
    this.specs.set(id, spec);
    return spec;
  }

  async startReady(spec: VmSpec): Promise<number> {
    const paths = runtimePaths(this.runDir, spec.id);
    const args = [...buildQemuArgs(spec, paths, this.accelerator), ...this.extraArgs];
    this.lastArgs = args;
    const log = fs.openSync(paths.qemuLog, 'w');
    const started = performance.now();
    let child: ChildProcess;
    try {
      child = spawn(qemuBinary(), args, { stdio: ['ignore', log, log] });
    } finally {
      fs.closeSync(log);
    }
    const vm: HandRunVm = { spec, child, dir: paths.dir };
    this.vms.set(spec.id, vm);
    const early = exited(child).then(() => {
      throw new Error(`QEMU exited before its guest was ready: ${tailLog(paths.qemuLog, 3)}`);
    });
    const ready = GuestAgentClient.waitReady(paths.guestAgent, VM_READY_TIMEOUT_MS);
    // The loser of the race settles later (QEMU exits when removed); that must not count as unhandled.
    for (const loser of [ready, early]) loser.catch(() => undefined);
    vm.agent = await Promise.race([ready, early]);
    return performance.now() - started;
  }

  async sh(id: string, script: string, timeoutMs = 300_000): Promise<string> {
    const agent = this.vms.get(id)?.agent;
    if (!agent) throw new Error(`VM ${id} is not running`);
    const result = await agent.exec('/bin/sh', ['-c', script], { timeoutMs });
    if (result.exitCode !== 0) throw new Error(`guest command failed (${result.exitCode}): ${script}: ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }

  pid(id: string): number | undefined {
    return this.vms.get(id)?.child.pid;
  }

  cpuSeconds(id: string): number {
    const pid = this.pid(id);
    return pid ? processCpuSeconds(pid) : 0;
  }

  async remove(id: string): Promise<void> {
    const vm = this.vms.get(id);
    vm?.agent?.close();
    if (vm) await stopChild(vm.child, 'SIGKILL');
    this.vms.delete(id);
    fs.rmSync(runtimePaths(this.runDir, id).dir, { recursive: true, force: true });
    this.specs.delete(id);
  }

  private async close(): Promise<void> {
    for (const id of [...this.specs.keys()]) await this.remove(id);
  }

  private killAllNow(): void {
    for (const vm of this.vms.values()) killIfOurs(vm.child.pid, vm.dir);
  }
}
