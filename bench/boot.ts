/**
 * Boot benchmark: how long from "start this VM" until the guest agent inside answers, for Drover's host agent,
 * Drover's own QEMU command line run by hand, and an equivalent libvirt domain. Runs are interleaved (Drover 1,
 * QEMU 1, libvirt 1, Drover 2, ...) so that drift in the machine's speed affects every variant alike.
 */
import { formatMs } from './lib/report.js';
import { summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';
import { commandLineDifference } from './boot/compare.js';
import { droverVariant } from './boot/drover.js';
import { type BootVariant, GUEST, VariantUnavailable } from './boot/guest.js';
import { libvirtVariant } from './boot/libvirt.js';
import { qemuVariant } from './boot/qemu.js';

/** A variant that fails this many runs in a row is given up on, rather than waiting out every boot timeout. */
const MAX_FAILURES_IN_A_ROW = 2;
/** Drover may take at most this multiple of hand-run QEMU's median. */
const QEMU_OVERHEAD_TARGET = 1.15;

interface VariantRun {
  variant: BootVariant;
  result: VariantResult;
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
      try {
        const ms = await run.variant.boot(index);
        if (counted) run.result.samples.push(Math.round(ms * 10) / 10);
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

function targets(drover: VariantResult, qemu: VariantResult, libvirt: VariantResult): TargetResult[] {
  const overhead: TargetResult = { description: `Drover's median within ${QEMU_OVERHEAD_TARGET}× of hand-run QEMU's`, met: null, detail: '' };
  if (drover.median === undefined || qemu.median === undefined) overhead.detail = missing(drover.median === undefined ? drover : qemu);
  else {
    const ratio = drover.median / qemu.median;
    overhead.met = ratio <= QEMU_OVERHEAD_TARGET;
    overhead.detail = `${formatMs(drover.median)} vs ${formatMs(qemu.median)}: ${ratio.toFixed(3)}×`;
  }
  const libvirtTarget: TargetResult = { description: "Drover's median faster than libvirt's", met: null, detail: '' };
  if (drover.median === undefined || libvirt.median === undefined) libvirtTarget.detail = missing(drover.median === undefined ? drover : libvirt);
  else {
    libvirtTarget.met = drover.median < libvirt.median;
    libvirtTarget.detail = `${formatMs(drover.median)} vs ${formatMs(libvirt.median)}: ${(drover.median / libvirt.median).toFixed(3)}×`;
  }
  return [overhead, libvirtTarget];
}

function notes(drover: BootVariant, qemu: BootVariant, libvirt: BootVariant): string[] {
  const out = [
    `Guest: the tiny image (direct kernel boot), ${GUEST.memoryMiB} MiB, ${GUEST.cpus} vCPU, virtio disk and NIC; each run boots a fresh linked-clone overlay of the same root disk (creating it is not timed).`,
    'Drover: from POST /api/v1/vms/:name/start until POST /api/v1/vms/:name/wait-ready returns, through a `drover agent` process.',
    'Hand-run QEMU: from spawning qemu-system-x86_64 with QemuDriver.commandLine()\'s arguments until the guest agent answers guest-ping.',
    'libvirt: from invoking `virsh create` until the guest agent answers guest-ping on the domain\'s agent channel.',
  ];
  const droverArgs = drover.qemuArgs?.() ?? [];
  const qemuArgs = qemu.qemuArgs?.() ?? [];
  if (droverArgs.length && qemuArgs.length) {
    const difference = commandLineDifference(droverArgs, qemuArgs);
    out.push(difference ? `Drover's QEMU arguments differ from the hand-run ones at ${difference}.` : "Drover's QEMU arguments (read from /proc) equal the hand-run ones, apart from per-VM paths, MAC and name.");
  }
  if (qemuArgs.length) out.push(`Hand-run QEMU arguments (last run): ${qemuArgs.join(' ')}`);
  return [...out, ...drover.notes(), ...qemu.notes(), ...libvirt.notes()];
}

/** The boot benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'boot',
  title: 'Boot time: start to guest-agent ready',
  description:
    'Time from asking for a VM to start until qemu-guest-agent in the tiny guest answers guest-ping: Drover\'s host agent, the same QEMU command line run by hand, and an equivalent libvirt domain.',
  async run(ctx) {
    const variants = [droverVariant(ctx), qemuVariant(ctx), libvirtVariant(ctx)];
    const runs: VariantRun[] = variants.map((variant) => ({
      variant,
      result: { name: variant.name, label: variant.label, status: 'ok', unit: 'ms', samples: [], failures: [] },
      active: false,
      failuresInARow: 0,
    }));
    try {
      await prepareAll(runs, ctx);
      await bootInterleaved(runs, ctx);
    } finally {
      for (const run of runs) await run.variant.close().catch((err: unknown) => ctx.log(`boot ${run.variant.name}: cleanup failed: ${message(err)}`));
    }
    const [drover, qemu, libvirt] = runs.map((r) => finish(r.result)) as [VariantResult, VariantResult, VariantResult];
    return {
      runs: ctx.runs,
      warmupRuns: ctx.warmupRuns,
      variants: [drover, qemu, libvirt],
      targets: targets(drover, qemu, libvirt),
      notes: notes(variants[0] as BootVariant, variants[1] as BootVariant, variants[2] as BootVariant),
    };
  },
};
