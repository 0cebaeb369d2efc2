/**
 * Part 1, start to ready: from asking for a container until `runc exec ... true` succeeds inside it. Drover's
 * ContainerDriver on a fresh linked-clone overlay (a first start, which shifts the image's files to the container's
 * id range) and again on the same disk (a restart, nothing to shift), against runc run by hand on a bundle made from
 * the same image (runc-peer.ts). Trials are interleaved (Drover, runc, Drover restart, the phase probe) so that drift
 * in the machine's speed hits every variant alike.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { formatMs } from '../lib/report.js';
import { median, percentile, summarize } from '../lib/stats.js';
import type { ResultTable, TargetResult, VariantResult } from '../lib/types.js';
import { DroverContainers } from './drover-containers.js';
import { type ContainerImage, type ContainerImageName } from './images.js';
import { DroverPhaseProbe, PHASE_LABELS, type StartPhases } from './phases.js';
import { HandRunRunc } from './runc-peer.js';
import type { Teardown } from './teardown.js';

/** Drover may take at most this multiple of hand-run runc's median. */
export const START_RATIO_TARGET = 1.2;
/** Guest size in this part (the limits are the same for both). */
const MEMORY_MIB = 128;
/** The pause before each timed start, so one start's tail does not fall into the next. */
const SETTLE_MS = 300;
/** A variant that fails this many trials in a row is given up on. */
const MAX_FAILURES_IN_A_ROW = 3;

export interface StartPartInput {
  images: Array<ContainerImage | { name: ContainerImageName; missing: string }>;
  trials: number;
  warmupTrials: number;
  workDir: string;
  token: string;
  teardown: Teardown;
  log: (message: string) => void;
}

export interface StartPartOutcome {
  variants: VariantResult[];
  targets: TargetResult[];
  tables: ResultTable[];
  notes: string[];
  data: Record<string, unknown>;
}

interface Tracked {
  result: VariantResult;
  failuresInARow: number;
}

function variant(name: string, label: string): Tracked {
  return { result: { name, label, status: 'ok', unit: 'ms', samples: [], failures: [] }, failuresInARow: 0 };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs `trial` unless the variant was given up on; records its time (when counted) or its failure. */
async function attempt(tracked: Tracked, counted: boolean, label: string, log: (m: string) => void, trial: () => Promise<number>): Promise<void> {
  if (tracked.failuresInARow >= MAX_FAILURES_IN_A_ROW) return;
  await sleep(SETTLE_MS);
  try {
    const ms = await trial();
    if (counted) tracked.result.samples.push(Math.round(ms * 10) / 10);
    tracked.failuresInARow = 0;
    log(`containers start ${tracked.result.name} ${label}: ${formatMs(ms)}`);
  } catch (err) {
    tracked.result.failures.push(`${label}: ${message(err)}`);
    tracked.failuresInARow++;
    log(`containers start ${tracked.result.name} ${label} failed: ${message(err)}`);
    if (tracked.failuresInARow >= MAX_FAILURES_IN_A_ROW) tracked.result.reason = `stopped after ${MAX_FAILURES_IN_A_ROW} failed trials in a row`;
  }
}

function finish(tracked: Tracked): VariantResult {
  const result = tracked.result;
  if (result.status === 'ok' && result.samples.length === 0) {
    result.status = 'failed';
    result.reason = `no counted trial succeeded; last error: ${result.failures.at(-1) ?? 'none'}`;
  }
  const p95 = percentile(result.samples, 0.95);
  return { ...result, ...summarize(result.samples), ...(p95 !== undefined ? { p95 } : {}) };
}

function ratioTarget(description: string, drover: VariantResult, runc: VariantResult): TargetResult {
  if (drover.median === undefined || runc.median === undefined) {
    const missing = drover.median === undefined ? drover : runc;
    return { description, met: null, detail: `no samples for ${missing.label} (${missing.status}${missing.reason ? `: ${missing.reason}` : ''})` };
  }
  const ratio = drover.median / runc.median;
  return { description, met: ratio <= START_RATIO_TARGET, detail: `${formatMs(drover.median)} vs ${formatMs(runc.median)}: ${ratio.toFixed(2)}×` };
}

/** Part 1; see the file comment. */
export async function runStartPart(input: StartPartInput): Promise<StartPartOutcome> {
  const { teardown, log } = input;
  const drover = DroverContainers.open(input.workDir, 'start-drover', teardown);
  const peer = HandRunRunc.open(input.workDir, teardown, `${input.token}-start`);
  const probe = new DroverPhaseProbe(`${input.workDir}/start-probe`, teardown);
  const variants: VariantResult[] = [];
  const targets: TargetResult[] = [];
  const phaseColumns: Array<{ image: string; phases: StartPhases[]; driverMedian?: number; runcRun: number[] }> = [];
  const notes: string[] = [];

  for (const image of input.images) {
    const first = variant(`drover-${image.name}-first`, `Drover ContainerDriver, ${image.name}, first start (fresh overlay)`);
    const restart = variant(`drover-${image.name}-restart`, `Drover ContainerDriver, ${image.name}, restart (same disk)`);
    const runc = variant(`runc-${image.name}`, `Hand-run runc, ${image.name}`);
    const all = [first, restart, runc];
    if ('missing' in image) {
      for (const v of all) Object.assign(v.result, { status: 'unavailable', reason: image.missing });
      variants.push(...all.map((v) => v.result));
      log(`containers start ${image.name}: skipped: ${image.missing}`);
      continue;
    }
    const phases: StartPhases[] = [];
    const runcRun: number[] = [];
    let rootfs: Awaited<ReturnType<HandRunRunc['rootfs']>> | undefined;
    try {
      rootfs = await peer.rootfs(image, `start-${image.name}`);
    } catch (err) {
      Object.assign(runc.result, { status: 'failed', reason: `the bundle could not be made: ${message(err)}` });
      runc.failuresInARow = MAX_FAILURES_IN_A_ROW;
    }
    for (let index = 0; index < input.warmupTrials + input.trials; index++) {
      const counted = index >= input.warmupTrials;
      const label = counted ? `trial ${index - input.warmupTrials + 1}/${input.trials}` : `warm-up ${index + 1}/${input.warmupTrials}`;
      const spec = await drover.create(image, `st-${index}`, { memoryMiB: MEMORY_MIB, cpus: 1 });
      let firstStarted = false;
      await attempt(first, counted, label, log, async () => {
        const ms = await drover.startReady(spec);
        firstStarted = true;
        return ms;
      });
      await drover.kill(spec.id).catch((err: unknown) => log(`containers start: killing ${spec.name} failed: ${message(err)}`));
      if (rootfs) {
        const peerRootfs = rootfs;
        await attempt(runc, counted, label, log, async () => {
          const id = `hr-${image.name}-${index}`;
          const bundle = await peer.bundle(image, id, `hr-${index}`, peerRootfs, { memoryMiB: MEMORY_MIB, cpus: 1 });
          try {
            const started = performance.now();
            await peer.run(id, bundle);
            const ran = performance.now();
            await peer.waitExec(id, 60_000);
            if (counted) runcRun.push(ran - started);
            return performance.now() - started;
          } finally {
            await peer.remove(id);
          }
        });
      }
      // A restart needs a disk whose files were shifted by a first start.
      if (firstStarted) await attempt(restart, counted, label, log, () => drover.startReady(spec));
      await drover.remove(spec.id).catch((err: unknown) => log(`containers start: removing ${spec.name} failed: ${message(err)}`));
      await sleep(SETTLE_MS);
      try {
        const measured = await probe.measure(image, `probe-${index}`, MEMORY_MIB);
        if (counted) phases.push(measured);
      } catch (err) {
        log(`containers start: phase probe ${label} failed: ${message(err)}`);
      }
    }
    await rootfs?.release();
    const results = all.map(finish);
    variants.push(...results);
    const [firstResult, restartResult, runcResult] = results as [VariantResult, VariantResult, VariantResult];
    targets.push(
      ratioTarget(`${image.name}: Drover's first start within ${START_RATIO_TARGET}× of hand-run runc (medians)`, firstResult, runcResult),
      ratioTarget(`${image.name}: Drover's restart within ${START_RATIO_TARGET}× of hand-run runc (medians)`, restartResult, runcResult),
    );
    phaseColumns.push({ image: image.name, phases, ...(firstResult.median !== undefined ? { driverMedian: firstResult.median } : {}), runcRun });
  }

  const tables = phaseColumns.length ? [phaseTable(phaseColumns)] : [];
  if (phaseColumns.length) {
    notes.push(
      'Breakdown: the driver does not time its own steps, so a probe runs them one by one with the same exported functions and arguments ContainerDriver.launch() uses (bench/containers/phases.ts), once per trial, on a fresh overlay; the sum is set beside the driver\'s own median.',
    );
  }
  notes.push(
    `Both sides run the same container: ${MEMORY_MIB} MiB memory limit, 1 CPU's worth of quota, a user namespace mapping 65536 ids, the same mounts and capabilities (Drover's ociConfig); the hand-run one has no terminal and no NIC, and neither has a NIC here.`,
    'Hand-run runc: `runc spec`\'s config.json with Drover\'s container settings, `runc run -d` on a loop-mounted raw copy of the image whose files were shifted to the id range beforehand (untimed, as a hand-run bundle is prepared once); timed from spawning `runc run` until `runc exec ID true` succeeds.',
    'Drover: ContainerDriver.start() then waitReady() in the benchmark\'s process (what the host agent calls; no HTTP), which polls the same `runc exec ID true`. A first start exports the qcow2 overlay over FUSE with qemu-storage-daemon, loop-mounts it, and shifts every file to the container\'s id range; a restart of the same disk finds the files shifted already.',
  );
  return { variants, targets, tables, notes, data: { phases: phaseColumns } };
}

function phaseTable(columns: Array<{ image: string; phases: StartPhases[]; driverMedian?: number; runcRun: number[] }>): ResultTable {
  const cell = (values: number[]): string => {
    const mid = median(values);
    return mid === undefined ? '-' : formatMs(mid);
  };
  const rows: string[][] = (Object.keys(PHASE_LABELS) as Array<keyof typeof PHASE_LABELS>).map((phase) => [
    PHASE_LABELS[phase],
    ...columns.map((c) => cell(c.phases.map((p) => p[phase]))),
  ]);
  rows.push(['sum of the steps', ...columns.map((c) => cell(c.phases.map((p) => Object.keys(PHASE_LABELS).reduce((sum, key) => sum + p[key as keyof typeof PHASE_LABELS], 0))))]);
  rows.push(["the driver's own first start (median, from the table above)", ...columns.map((c) => (c.driverMedian === undefined ? '-' : formatMs(c.driverMedian)))]);
  rows.push(['resize2fs alone, run again on the mounted disk (part of "disk")', ...columns.map((c) => cell(c.phases.map((p) => p.resizeAgain)))]);
  rows.push(['files shifted', ...columns.map((c) => String(median(c.phases.map((p) => p.filesShifted)) ?? '-'))]);
  rows.push(['hand-run: `runc run -d` returns (of its start to ready)', ...columns.map((c) => cell(c.runcRun))]);
  return {
    title: 'Where a Drover first start goes (medians of the probe\'s steps)',
    description: 'Each step of ContainerDriver.launch() run and timed on its own, once per trial (see the notes).',
    columns: ['Step', ...columns.map((c) => c.image)],
    rows,
  };
}
