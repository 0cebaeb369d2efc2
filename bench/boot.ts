/**
 * Boot benchmark: how long from "start this VM" until the guest agent inside answers, for Drover's host agent
 * (virtio and emulated devices), Drover's own QEMU command line run by hand, that line with the firmware or kernel
 * file Drover no longer uses, and an equivalent libvirt domain. Runs are interleaved (Drover 1, QEMU 1, libvirt 1,
 * Drover 2, ...) so that drift in the machine's speed affects every variant alike. The hand-run runs of Drover's
 * configuration also read, untimed, where each boot's time went (boot/breakdown.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_FIRMWARE } from '../src/drivers/qemu/cmdline.js';
import { formatMs } from './lib/report.js';
import { median, summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';
import { type BootPhases, PHASE_LABELS } from './boot/breakdown.js';
import { commandLineDifference } from './boot/compare.js';
import { droverVariant } from './boot/drover.js';
import { type BootVariant, GUEST, VariantUnavailable } from './boot/guest.js';
import { libvirtVariant } from './boot/libvirt.js';
import { type QemuConfiguration, qemuVariant } from './boot/qemu.js';

/** The pause before each boot. */
const SETTLE_MS = 1_000;
/** A variant that fails this many runs in a row is given up on, rather than waiting out every boot timeout. */
const MAX_FAILURES_IN_A_ROW = 2;
/** Drover may take at most this multiple of the fastest hand-run QEMU configuration's median. */
const QEMU_OVERHEAD_TARGET = 1.1;
/** Medians Drover must reach from `vm start` to the guest agent answering, under TCG. */
const BOOT_TARGET_MS = { virtio: 4_000, emulated: 7_000 } as const;

/** The hand-run configurations: Drover's own line for both device models, and the choices it was measured against. */
const CONFIGURATIONS: QemuConfiguration[] = [
  { name: 'qemu', label: "Hand-run QEMU, Drover's command line (qboot, PVH kernel), virtio", devices: 'virtio', breakdown: true },
  { name: 'qemu-emulated', label: "Hand-run QEMU, Drover's command line (qboot, PVH kernel), emulated IDE + e1000", devices: 'emulated', breakdown: true },
  { name: 'qemu-seabios', label: 'Hand-run QEMU, SeaBIOS, PVH kernel, virtio', devices: 'virtio', firmware: DEFAULT_FIRMWARE },
  { name: 'qemu-qboot-bzimage', label: "Hand-run QEMU, qboot, Debian's compressed bzImage, virtio", devices: 'virtio', bzImage: true },
  { name: 'qemu-seabios-bzimage', label: "Hand-run QEMU, SeaBIOS, Debian's compressed bzImage, virtio (Drover before)", devices: 'virtio', firmware: DEFAULT_FIRMWARE, bzImage: true },
  { name: 'qemu-disk', label: "Hand-run QEMU, Drover's command line for a disk-booted VM (SeaBIOS, extlinux, Debian's bzImage), virtio", devices: 'virtio', diskBoot: true },
];

interface VariantRun {
  variant: BootVariant;
  result: VariantResult;
  phases: BootPhases[];
  active: boolean;
  failuresInARow: number;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function prepareAll(runs: VariantRun[], ctx: BenchmarkContext): Promise<void> {
  for (const run of runs) {
    try {
      await run.variant.prepare();
      run.active = true;
    } catch (err) {
      run.result.status = err instanceof VariantUnavailable ? 'unavailable' : 'failed';
      run.result.reason = err instanceof VariantUnavailable ? message(err) : `setup failed: ${message(err)}`;
      ctx.log(`boot ${run.variant.name}: ${run.result.status}: ${run.result.reason}`);
    }
  }
}

async function bootInterleaved(runs: VariantRun[], ctx: BenchmarkContext): Promise<void> {
  const total = ctx.warmupRuns + ctx.runs;
  for (let index = 0; index < total; index++) {
    const counted = index >= ctx.warmupRuns;
    const label = counted ? `run ${index - ctx.warmupRuns + 1}/${ctx.runs}` : `warm-up ${index + 1}/${ctx.warmupRuns}`;
    for (const run of runs.filter((r) => r.active)) {
      // One boot's tail (the killed QEMU exiting, an agent cleaning up) must not fall into the next one's time.
      await sleep(SETTLE_MS);
      try {
        const { ms, phases } = await run.variant.boot(index);
        if (counted) {
          run.result.samples.push(Math.round(ms * 10) / 10);
          if (phases) run.phases.push(phases);
        }
        run.failuresInARow = 0;
        ctx.log(`boot ${run.variant.name} ${label}: ${formatMs(ms)}`);
      } catch (err) {
        run.result.failures.push(`${label}: ${message(err)}`);
        run.failuresInARow++;
        ctx.log(`boot ${run.variant.name} ${label} failed: ${message(err)}`);
        if (run.failuresInARow >= MAX_FAILURES_IN_A_ROW) {
          run.active = false;
          run.result.reason = `stopped after ${MAX_FAILURES_IN_A_ROW} failed runs in a row`;
        }
      }
    }
  }
}

function finish(result: VariantResult): VariantResult {
  if (result.status === 'ok' && result.samples.length === 0) {
    result.status = 'failed';
    result.reason = `no counted run succeeded; last error: ${result.failures.at(-1) ?? 'none'}`;
  }
  return { ...result, ...summarize(result.samples) };
}

function missing(v: VariantResult): string {
  return `no samples for ${v.label} (${v.status}${v.reason ? `: ${v.reason}` : ''})`;
}

function ratioTarget(description: string, a: VariantResult, b: VariantResult, met: (ratio: number) => boolean): TargetResult {
  if (a.median === undefined || b.median === undefined) return { description, met: null, detail: missing(a.median === undefined ? a : b) };
  const ratio = a.median / b.median;
  return { description, met: met(ratio), detail: `${formatMs(a.median)} vs ${formatMs(b.median)} (${b.label}): ${ratio.toFixed(3)}×` };
}

function bootTarget(drover: VariantResult, limitMs: number): TargetResult {
  const description = `${drover.label}: median at most ${formatMs(limitMs)}`;
  if (drover.median === undefined) return { description, met: null, detail: missing(drover) };
  return { description, met: drover.median <= limitMs, detail: formatMs(drover.median) };
}

function targets(byName: Map<string, VariantResult>): TargetResult[] {
  const get = (name: string): VariantResult => byName.get(name) as VariantResult; // every name below is a variant of run()
  const drover = get('drover');
  // The guests that boot the image's kernel directly: the disk-booted one is another guest, reported beside them.
  const handRun = CONFIGURATIONS.filter((c) => c.devices === 'virtio' && !c.diskBoot).map((c) => get(c.name));
  const fastest = handRun.filter((v) => v.median !== undefined).sort((a, b) => (a.median as number) - (b.median as number))[0] ?? get('qemu');
  return [
    bootTarget(drover, BOOT_TARGET_MS.virtio),
    bootTarget(get('drover-emulated'), BOOT_TARGET_MS.emulated),
    ratioTarget(`Drover's median within ${QEMU_OVERHEAD_TARGET}× of the fastest hand-run QEMU configuration (virtio)`, drover, fastest, (r) => r <= QEMU_OVERHEAD_TARGET),
    ratioTarget("Drover's median faster than libvirt's", drover, get('libvirt'), (r) => r < 1),
  ];
}

/** One line per measured configuration: the median of each phase over the counted runs. */
function breakdownNotes(runs: VariantRun[]): string[] {
  const out: string[] = [];
  for (const run of runs.filter((r) => r.phases.length > 0)) {
    const phases = (Object.keys(PHASE_LABELS) as (keyof BootPhases)[]).map(
      (phase) => `${PHASE_LABELS[phase]} ${formatMs(median(run.phases.map((p) => p[phase])) ?? 0)}`,
    );
    out.push(`Where the time goes, ${run.variant.label} (medians of ${run.phases.length} runs, from the guest's kernel log): ${phases.join('; ')}.`);
  }
  return out;
}

function notes(variants: BootVariant[], runs: VariantRun[]): string[] {
  const byName = new Map(variants.map((v) => [v.name, v]));
  const out = [
    `Guest: the tiny image (direct kernel boot), ${GUEST.memoryMiB} MiB, ${GUEST.cpus} vCPU, virtio disk and NIC unless the variant says emulated (IDE disk, e1000 NIC); each run boots a fresh linked-clone overlay of the same root disk (creating it is not timed).`,
    'Drover: from POST /api/v1/vms/:name/start until POST /api/v1/vms/:name/wait-ready returns, through a `drover agent` process.',
    "Hand-run QEMU: from spawning qemu-system-x86_64 with QemuDriver's arguments (for the other configurations with -bios or -kernel changed) until the guest agent answers guest-ping.",
    "libvirt: from invoking `virsh create` until the guest agent answers guest-ping on the domain's agent channel; the domain uses Drover's firmware and kernel.",
    ...breakdownNotes(runs),
  ];
  for (const [drover, qemu] of [['drover', 'qemu'], ['drover-emulated', 'qemu-emulated']] as const) {
    const droverArgs = byName.get(drover)?.qemuArgs?.() ?? [];
    const qemuArgs = byName.get(qemu)?.qemuArgs?.() ?? [];
    if (droverArgs.length && qemuArgs.length) {
      const difference = commandLineDifference(droverArgs, qemuArgs);
      out.push(difference ? `${drover}'s QEMU arguments differ from ${qemu}'s at ${difference}.` : `${drover}'s QEMU arguments (read from /proc) equal ${qemu}'s, apart from per-VM paths, MAC and name.`);
    }
  }
  const qemuArgs = byName.get('qemu')?.qemuArgs?.() ?? [];
  if (qemuArgs.length) out.push(`Hand-run QEMU arguments, Drover's command line (last run): ${qemuArgs.join(' ')}`);
  return [...out, ...variants.flatMap((v) => v.notes())];
}

/** The boot benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'boot',
  title: 'Boot time: start to guest-agent ready',
  description:
    'Time from asking for a VM to start until qemu-guest-agent in the tiny guest answers guest-ping: Drover\'s host agent, the same QEMU command line run by hand, and an equivalent libvirt domain.',
  async run(ctx) {
    const variants = [
      droverVariant(ctx, 'virtio'),
      droverVariant(ctx, 'emulated'),
      ...CONFIGURATIONS.map((config) => qemuVariant(ctx, config)),
      libvirtVariant(ctx),
    ];
    const runs: VariantRun[] = variants.map((variant) => ({
      variant,
      result: { name: variant.name, label: variant.label, status: 'ok', unit: 'ms', samples: [], failures: [] },
      phases: [],
      active: false,
      failuresInARow: 0,
    }));
    try {
      await prepareAll(runs, ctx);
      await bootInterleaved(runs, ctx);
    } finally {
      for (const run of runs) await run.variant.close().catch((err: unknown) => ctx.log(`boot ${run.variant.name}: cleanup failed: ${message(err)}`));
    }
    const results = runs.map((r) => finish(r.result));
    return {
      runs: ctx.runs,
      warmupRuns: ctx.warmupRuns,
      variants: results,
      targets: targets(new Map(results.map((r) => [r.name, r]))),
      notes: notes(variants, runs),
    };
  },
};
