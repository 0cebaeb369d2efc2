/**
 * Whether a VM's running state can move to this host: the destination must run the same machine type, CPU model
 * and accelerator, because QEMU's migration stream carries device and CPU state for exactly that configuration.
 */
import { CPU_MODEL } from '../drivers/qemu/cmdline.js';
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

/** What a running VM really is, read from its QEMU: the resolved machine type, CPU model and QEMU version. */
export async function identify(qmp: QmpClient, accelerator: 'kvm' | 'tcg'): Promise<RuntimeIdentity> {
  const machine = await qomType(qmp, '/machine');
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
  };
}

/** Throws MIGRATION_INCOMPATIBLE, naming the difference, when this host would not run `source` the same way. */
export async function checkCompatible(source: RuntimeIdentity, accelerator: 'kvm' | 'tcg'): Promise<void> {
  if (source.cpuModel !== CPU_MODEL) {
    throw new DroverError('MIGRATION_INCOMPATIBLE', `the VM runs CPU model ${source.cpuModel}; this host runs every VM as ${CPU_MODEL}`);
  }
  if (source.accelerator !== accelerator) {
    throw new DroverError('MIGRATION_INCOMPATIBLE', `the VM runs under ${source.accelerator}; this host uses ${accelerator}`);
  }
  if (!(await supportedMachineTypes()).has(source.machineType)) {
    throw new DroverError(
      'MIGRATION_INCOMPATIBLE',
      `this host's QEMU has no machine type ${source.machineType} (the source runs QEMU ${source.qemuVersion}); upgrade QEMU here`,
    );
  }
}

/** Throws MIGRATION_INCOMPATIBLE unless the incoming QEMU really came up as `source` describes. */
export async function verifySame(qmp: QmpClient, source: RuntimeIdentity, accelerator: 'kvm' | 'tcg'): Promise<void> {
  const here = await identify(qmp, accelerator);
  if (here.machineType !== source.machineType || here.cpuModel !== source.cpuModel) {
    throw new DroverError(
      'MIGRATION_INCOMPATIBLE',
      `QEMU here started as ${here.machineType}/${here.cpuModel}, the source runs ${source.machineType}/${source.cpuModel}`,
    );
  }
}
