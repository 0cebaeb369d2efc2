/**
 * Whether a VM's running state can move to this host: the destination must run the same machine type, firmware and
 * accelerator and be able to present the VM's CPU model, because QEMU's migration stream carries device and CPU
 * state for exactly that configuration.
 */
import path from 'node:path';
import { DEFAULT_FIRMWARE } from '../drivers/qemu/cmdline.js';
import { hostCpuModels, summarizeCpuModels } from '../drivers/qemu/cpu-models.js';
import { qemuBinary } from '../drivers/qemu/process.js';
import type { QmpClient } from '../qmp/client.js';
import { DroverError } from '../shared/errors.js';
import { run } from '../shared/exec.js';
import { qomType } from './qmp.js';
import type { RuntimeIdentity } from './schemas.js';

const MACHINE_SUFFIX = '-machine';
const CPU_SUFFIX = '-x86_64-cpu';

let machineTypes: Promise<Set<string>> | undefined;

/** The machine types this host's QEMU offers (`-machine help`), read once per process. */
function supportedMachineTypes(): Promise<Set<string>> {
  machineTypes ??= run(qemuBinary(), ['-machine', 'help'], { timeoutMs: 10_000, errorCode: 'DEPENDENCY_MISSING' }).then(
    (result) => new Set(result.stdout.split('\n').slice(1).map((line) => line.trim().split(/\s+/)[0] ?? '').filter(Boolean)),
  );
  return machineTypes;
}

/** What a running VM really is, read from its QEMU: the resolved machine type, CPU model, firmware and QEMU version. */
export async function identify(qmp: QmpClient, accelerator: 'kvm' | 'tcg'): Promise<RuntimeIdentity> {
  const machine = await qomType(qmp, '/machine');
  const firmware = await qmp.execute('qom-get', { path: '/machine', property: 'firmware' });
  if (typeof firmware !== 'string') throw new DroverError('INTERNAL', `qom-get /machine firmware: ${JSON.stringify(firmware)}`);
  const cpus = await qmp.execute('query-cpus-fast');
  const first = cpus[0];
  if (!first) throw new DroverError('INTERNAL', 'QEMU reports no CPUs');
  const cpu = await qomType(qmp, first['qom-path']);
  const { qemu } = await qmp.execute('query-version');
  return {
    machineType: machine.endsWith(MACHINE_SUFFIX) ? machine.slice(0, -MACHINE_SUFFIX.length) : machine,
    cpuModel: cpu.endsWith(CPU_SUFFIX) ? cpu.slice(0, -CPU_SUFFIX.length) : cpu,
    accelerator,
    qemuVersion: `${qemu.major}.${qemu.minor}.${qemu.micro}`,
    // QEMU reports the name as given to -bios, or a path when one was.
    firmware: path.basename(firmware),
  };
}

/** What a destination host offers: its accelerator, the CPU models it can present, the machine types its QEMU has. */
export interface HostOffer {
  accelerator: 'kvm' | 'tcg';
  cpuModels: readonly string[];
  machineTypes: ReadonlySet<string>;
}

/** Why a host offering `here` could not run `source` the same way, or undefined when it can. */
export function incompatibility(source: RuntimeIdentity, here: HostOffer): string | undefined {
  if (source.accelerator !== here.accelerator) return `the VM runs under ${source.accelerator}; this host uses ${here.accelerator}`;
  if (!here.cpuModels.includes(source.cpuModel)) {
    return `the VM runs CPU model ${source.cpuModel}; this host (${here.accelerator}) cannot present it (it offers ${summarizeCpuModels(here.cpuModels)})`;
  }
  if (!here.machineTypes.has(source.machineType)) {
    return `this host's QEMU has no machine type ${source.machineType} (the source runs QEMU ${source.qemuVersion}); upgrade QEMU here`;
  }
  return undefined;
}

/** Throws MIGRATION_INCOMPATIBLE, naming the difference, when this host would not run `source` the same way. */
export async function checkCompatible(source: RuntimeIdentity, accelerator: 'kvm' | 'tcg'): Promise<void> {
  const here: HostOffer = { accelerator, cpuModels: await hostCpuModels(accelerator), machineTypes: await supportedMachineTypes() };
  const reason = incompatibility(source, here);
  if (reason) throw new DroverError('MIGRATION_INCOMPATIBLE', reason);
}

/** The firmware `source` runs: the one it reported, or SeaBIOS for a source from before firmware was reported. */
export function firmwareOf(source: RuntimeIdentity): string {
  return source.firmware ?? DEFAULT_FIRMWARE;
}

/** Throws MIGRATION_INCOMPATIBLE unless the incoming QEMU really came up as `source` describes. */
export async function verifySame(qmp: QmpClient, source: RuntimeIdentity, accelerator: 'kvm' | 'tcg'): Promise<void> {
  const here = await identify(qmp, accelerator);
  const sourceFirmware = firmwareOf(source);
  if (here.machineType !== source.machineType || here.cpuModel !== source.cpuModel || here.firmware !== sourceFirmware) {
    throw new DroverError(
      'MIGRATION_INCOMPATIBLE',
      `QEMU here started as ${here.machineType}/${here.cpuModel}/${here.firmware}, the source runs ${source.machineType}/${source.cpuModel}/${sourceFirmware}`,
    );
  }
}
