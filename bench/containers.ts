/**
 * Containers benchmark (`npm run bench -- containers [options]`), three parts in one result:
 *   1. start to ready: Drover's ContainerDriver against runc run by hand on a bundle from the same image, tiny-ct and
 *      debian-12-ct, with a breakdown of Drover's start (containers/start-time.ts, containers/phases.ts);
 *   2. density: memory (PSS) and idle CPU per guest for N idle guests of each kind: Drover containers, hand-run runc,
 *      Drover VMs, hand-run QEMU; and whether idle VMs give memory back with a balloon or KSM (containers/density.ts,
 *      containers/reclaim.ts);
 *   3. overhead: the same CPU, disk and network workloads on the host, in a container and in virtio and emulated VMs
 *      (containers/overhead.ts).
 * Everything it creates is registered with a teardown as it is made and removed at the end, also on failure and on
 * Ctrl-C; afterwards the benchmark looks for anything left and says so in the notes.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Benchmark, BenchmarkContext, BenchmarkOutcome, ResultTable, TargetResult, VariantResult } from './lib/types.js';
import { runDensityPart } from './containers/density.js';
import { CONTAINER_IMAGE_NAMES, type ContainerImage, type ContainerImageName, loadContainerImage } from './containers/images.js';
import { type ContainersOptions, OPTION_NAMES, parseOptions } from './containers/options.js';
import { runOverheadPart } from './containers/overhead.js';
import { runStartPart } from './containers/start-time.js';
import { Teardown, makeWorkDir, mountsBelow } from './containers/teardown.js';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What is left of the run after teardown: mounts, loop devices, processes, links or cgroups that name its token or directory. */
function leftovers(workDir: string, token: string): string[] {
  const found: string[] = [];
  if (fs.existsSync(workDir)) found.push(`directory ${workDir}`);
  found.push(...mountsBelow(workDir).map((m) => `mount ${m}`));
  for (const entry of fs.readdirSync('/sys/class/block')) {
    try {
      const backing = fs.readFileSync(`/sys/class/block/${entry}/loop/backing_file`, 'utf8').trim();
      if (backing.startsWith(workDir)) found.push(`loop device ${entry} on ${backing}`);
    } catch {
      // Not a loop device, or not bound.
    }
  }
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (Number(pid) !== process.pid && (cmdline.includes(workDir) || cmdline.includes(`drvbench-${token}`))) found.push(`process ${pid} (${cmdline.split('\0')[0]})`);
    } catch {
      // Exited meanwhile.
    }
  }
  if (fs.existsSync(`/sys/class/net/drvbc-${token}`)) found.push(`bridge drvbc-${token}`);
  for (const hierarchy of ['pids', 'memory', 'cpu', 'systemd']) {
    for (const entry of fs.readdirSync(`/sys/fs/cgroup/${hierarchy}`)) if (entry.startsWith(`drvbench-${token}`)) found.push(`cgroup ${hierarchy}/${entry}`);
  }
  return found;
}

function inotifyNote(options: ContainersOptions): string | undefined {
  try {
    const limit = Number(fs.readFileSync('/proc/sys/fs/inotify/max_user_instances', 'utf8').trim());
    return `fs.inotify.max_user_instances is ${limit}${limit < 8192 && options.densityDebian > 0 ? ' (scripts/setup raises it to 8192; systemd containers each take some)' : ''}.`;
  } catch {
    return undefined;
  }
}

async function runParts(ctx: BenchmarkContext, options: ContainersOptions, token: string, teardown: Teardown): Promise<BenchmarkOutcome & { workDir: string }> {
  const workDir = makeWorkDir(teardown, `drvbench-${token}`);
  const images = Object.fromEntries(CONTAINER_IMAGE_NAMES.map((name) => [name, loadContainerImage(name)])) as Record<ContainerImageName, ContainerImage | { missing: string }>;
  const variants: VariantResult[] = [];
  const targets: TargetResult[] = [];
  const tables: ResultTable[] = [];
  const notes: string[] = [];
  const data: Record<string, unknown> = { options };
  for (const [name, image] of Object.entries(images)) if ('missing' in image) notes.push(`${name}: ${image.missing}; the parts that need it are skipped.`);
  const part = async (name: string, body: () => Promise<void>): Promise<void> => {
    const started = Date.now();
    try {
      await body();
    } catch (err) {
      notes.push(`Part "${name}" failed: ${message(err)}`);
      ctx.log(`containers ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    data[`${name}Seconds`] = Math.round((Date.now() - started) / 1000);
    ctx.log(`containers ${name}: done in ${data[`${name}Seconds`]} s`);
  };

  if (options.parts.includes('start')) {
    await part('start', async () => {
      const outcome = await runStartPart({
        images: CONTAINER_IMAGE_NAMES.map((name) => {
          const image = images[name];
          return 'missing' in image ? { name, missing: image.missing } : image;
        }),
        trials: options.trials,
        warmupTrials: ctx.warmupRuns,
        workDir,
        token,
        teardown,
        log: ctx.log,
      });
      variants.push(...outcome.variants);
      targets.push(...outcome.targets);
      tables.push(...outcome.tables);
      notes.push(...outcome.notes);
      data.start = outcome.data;
    });
  }
  if (options.parts.includes('density')) {
    await part('density', async () => {
      const outcome = await runDensityPart({
        images,
        tiny: ctx.tiny,
        accelerator: ctx.accelerator.accelerator,
        density: options.density,
        densityDebian: options.densityDebian,
        densityVms: options.densityVms,
        reclaimVms: options.reclaimVms,
        idleSeconds: options.idleSeconds,
        workDir,
        token,
        teardown,
        log: ctx.log,
      });
      tables.push(...outcome.tables);
      notes.push(...outcome.notes);
      data.density = outcome.data;
    });
  }
  if (options.parts.includes('overhead')) {
    await part('overhead', async () => {
      const outcome = await runOverheadPart({
        image: images['tiny-ct'],
        tiny: ctx.tiny,
        accelerator: ctx.accelerator.accelerator,
        trials: options.overheadTrials,
        workDir,
        token,
        teardown,
        log: ctx.log,
      });
      tables.push(...outcome.tables);
      notes.push(...outcome.notes);
      data.overhead = outcome.data;
    });
  }
  const inotify = inotifyNote(options);
  if (inotify) notes.push(inotify);
  return {
    runs: options.trials,
    warmupRuns: ctx.warmupRuns,
    variants,
    targets,
    tables,
    notes,
    data,
    workDir,
    procedure: `Parts run: ${options.parts.join(', ')}. Start to ready: ${options.trials} counted trial(s) per variant and image after ${ctx.warmupRuns} warm-up trial(s), variants interleaved trial by trial. Density: ${options.density} tiny-ct and ${options.densityDebian} debian-12-ct containers each way, ${options.densityVms} VMs each way, ${options.reclaimVms} VMs per reclaim configuration, ${options.idleSeconds} s idle windows. Overhead: ${options.overheadTrials} trial(s) per workload and way.`,
    ownLoad: 'The guests being measured account for about 1 while one starts or works, and idle guests for a little each (the density table gives how much)',
  };
}

/** The containers benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'containers',
  title: 'System containers: start time, density and overhead',
  description:
    "Drover's system containers (runc, conmon, a qcow2 root disk over a FUSE export) against runc run by hand and against VMs: time from start until `runc exec` answers, memory (PSS) and CPU per idle guest with N guests on the host, whether idle VMs give memory back (balloon free page reporting, KSM), and the same CPU, disk and network workloads on the host, in a container and in VMs.",
  options: OPTION_NAMES,
  async run(ctx) {
    const options = parseOptions(ctx.args);
    const token = randomBytes(4).toString('hex');
    const teardown = new Teardown((m) => ctx.log(`containers: ${m}`));
    let outcome: (BenchmarkOutcome & { workDir: string }) | undefined;
    try {
      outcome = await runParts(ctx, options, token, teardown);
    } finally {
      await teardown.runAll();
    }
    const { workDir, ...result } = outcome;
    const left = leftovers(workDir, token);
    result.notes.push(left.length ? `Clean-up check: LEFT BEHIND: ${left.join('; ')}` : 'Clean-up check after teardown: no process, mount, loop device, bridge, cgroup or directory of this run is left.');
    if (left.length) ctx.log(`containers: left behind: ${left.join('; ')}`);
    return result;
  },
};
