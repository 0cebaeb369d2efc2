/**
 * The CPU models a host can present to guests. A VM's model is part of the state QEMU migrates, so a VM may only
 * run, or arrive, where that exact model is offered; the cluster's baseline model is what new VMs get.
 */
import { DroverError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import { CPU_MODEL_PATTERN } from '../../vms/spec.js';
import { qemuBinary } from './process.js';

/**
 * Under KVM the guest sees the host processor's real features, so only models every x86-64 processor runs are
 * claimed; naming more would need a per-host feature check (query-cpu-definitions' unavailable-features).
 */
export const KVM_CPU_MODELS: readonly string[] = ['qemu64', 'kvm64'];

/** Models whose features follow the host processor: a VM with one cannot move between unlike hosts, so no baseline. */
export const HOST_DEPENDENT_CPU_MODELS: readonly string[] = ['host', 'max'];

/** The model names in `qemu-system-x86_64 -cpu help` output (`x86 NAME  description` lines), in its order. */
export function parseCpuHelp(stdout: string): string[] {
  const names: string[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^x86\s+(\S+)/.exec(line);
    if (match?.[1] && new RegExp(CPU_MODEL_PATTERN).test(match[1])) names.push(match[1]);
  }
  return names;
}

let known: Promise<string[]> | undefined;

/** Every CPU model this machine's QEMU knows (`-cpu help`, about 0.1 s, read once per process); DEPENDENCY_MISSING without QEMU. */
export function qemuCpuModels(): Promise<string[]> {
  known ??= run(qemuBinary(), ['-cpu', 'help'], { timeoutMs: 10_000, errorCode: 'DEPENDENCY_MISSING' }).then((result) => parseCpuHelp(result.stdout));
  // A failed probe is not cached: QEMU may be installed a moment later.
  known.catch(() => {
    known = undefined;
  });
  return known;
}

/**
 * The models this host can run VMs with. TCG emulates every named model the same way on every host with the same
 * QEMU, so it offers QEMU's whole list except `host` (which needs KVM); KVM offers the conservative KVM_CPU_MODELS.
 */
export async function hostCpuModels(accelerator: 'kvm' | 'tcg'): Promise<string[]> {
  if (accelerator === 'kvm') return [...KVM_CPU_MODELS];
  return (await qemuCpuModels()).filter((model) => model !== 'host');
}

/** Throws CPU_MODEL_UNSUPPORTED unless `model` is among `offered` (what a host can run). */
export function requireOfferedCpuModel(model: string, offered: readonly string[], where = 'this host'): void {
  if (offered.includes(model)) return;
  throw new DroverError('CPU_MODEL_UNSUPPORTED', `${where} cannot run CPU model ${model}; it offers ${summarizeCpuModels(offered)}`);
}

/** A short human list of models: all of them when few, else the count and a few examples. */
export function summarizeCpuModels(models: readonly string[]): string {
  if (models.length === 0) return 'none';
  if (models.length <= 6) return models.join(', ');
  return `${models.length} models (${models.slice(0, 4).join(', ')}, ...; see the host's cpuModels)`;
}
