/** Facts about the benchmark machine, recorded with every result. */
import os from 'node:os';
import { qemuBinary } from '../../src/drivers/qemu/process.js';
import type { AcceleratorProbe } from '../../src/drivers/qemu/accel.js';
import { runChecked } from './process.js';
import type { LibvirtStatus, MachineFacts } from './types.js';

/** CPU, memory, kernel, QEMU and libvirt versions and the accelerator every variant runs under. */
export async function collectMachineFacts(accelerator: AcceleratorProbe, libvirt: LibvirtStatus): Promise<MachineFacts> {
  return {
    hostname: os.hostname(),
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 1024 ** 2),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    qemuVersion: await qemuVersion(),
    libvirtVersion: libvirt.available ? libvirt.version : `unavailable: ${libvirt.reason}`,
    accelerator: accelerator.accelerator,
    acceleratorReason: accelerator.reason,
  };
}

async function qemuVersion(): Promise<string> {
  try {
    const out = await runChecked(qemuBinary(), ['--version']);
    return /QEMU emulator version (.+)/.exec(out)?.[1]?.trim() ?? out.split('\n')[0]?.trim() ?? 'unknown';
  } catch (err) {
    return `unknown: ${(err as Error).message}`;
  }
}
