/**
 * Part 2, density: N idle guests of each kind on this host, one kind at a time. Memory per guest is PSS summed over
 * every process of the guest: for a Drover container everything in its pids cgroup plus its conmon and its disk's
 * qemu-storage-daemon; for a hand-run runc container everything in its cgroup; for a VM its QEMU process. CPU per
 * guest is the CPU time those used over an idle window (cgroup cpuacct for containers, /proc/PID/stat otherwise).
 * Then the reclaim comparison (reclaim.ts): do idle VMs give memory back with a balloon or KSM.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TinyImage } from '../../src/images/tiny/build.js';
import type { ResultTable } from '../lib/types.js';
import { DroverContainers } from './drover-containers.js';
import { type Fleet, type FleetMeasurement, measureFleet } from './fleet.js';
import type { ContainerImage, ContainerImageName } from './images.js';
import { fixed, mean, medianMiB } from './numbers.js';
import { runReclaim } from './reclaim.js';
import { HandRunRunc, type PeerRootfs } from './runc-peer.js';
import type { Teardown } from './teardown.js';
import { DroverVms, HandRunQemu, type VmRunner } from './vms.js';

/** Guest size in this part: containers get this memory limit, VMs this much RAM. */
const MEMORY_MIB = 128;
/** Idle time after the last guest is ready before the CPU window opens: containers have nothing left to do, VMs finish their boot scripts. */
const CONTAINER_SETTLE_MS = 5_000;
const VM_SETTLE_MS = 10_000;
/** How long systemd containers get to finish booting before the window opens anyway. */
const SYSTEMD_BOOT_TIMEOUT_MS = 120_000;

export interface DensityInput {
  images: Partial<Record<ContainerImageName, ContainerImage | { missing: string }>>;
  tiny: TinyImage;
  accelerator: 'kvm' | 'tcg';
  density: number;
  densityDebian: number;
  densityVms: number;
  reclaimVms: number;
  idleSeconds: number;
  workDir: string;
  token: string;
  teardown: Teardown;
  log: (message: string) => void;
}

export interface DensityOutcome {
  tables: ResultTable[];
  notes: string[];
  data: Record<string, unknown>;
}

type ShellIn = (id: string, script: string) => Promise<string>;

/** Waits until systemd in every container says it is no longer starting; returns how they ended up (e.g. "degraded ×10"). */
async function settleSystemd(ids: string[], sh: ShellIn): Promise<string> {
  const deadline = Date.now() + SYSTEMD_BOOT_TIMEOUT_MS;
  const states = new Map<string, string>();
  for (const id of ids) {
    for (;;) {
      const state = (await sh(id, 'systemctl is-system-running 2>/dev/null; true').catch(() => 'unknown')).trim() || 'unknown';
      states.set(id, state);
      if (!['starting', 'initializing'].includes(state) || Date.now() > deadline) break;
      await sleep(1_000);
    }
  }
  await sleep(CONTAINER_SETTLE_MS);
  const counts = new Map<string, number>();
  for (const state of states.values()) counts.set(state, (counts.get(state) ?? 0) + 1);
  return `systemd: ${[...counts].map(([state, n]) => `${state} ×${n}`).join(', ')}`;
}

function droverContainerFleet(drover: DroverContainers, image: ContainerImage): Fleet {
  return {
    name: `drover-${image.name}`,
    label: `Drover containers, ${image.name}`,
    concurrency: 1,
    async startOne(index) {
      const spec = await drover.create(image, `dn-${index}`, { memoryMiB: MEMORY_MIB, cpus: 1 });
      try {
        await drover.startReady(spec);
      } catch (err) {
        await drover.remove(spec.id).catch(() => undefined);
        throw err;
      }
      return spec.id;
    },
    processes: (id) => drover.processes(id),
    helperProcesses: (id) => drover.helperProcesses(id),
    cpuSeconds: (id) => drover.cpuSeconds(id),
    settle: async (ids) => (image.systemd ? settleSystemd(ids, (id, script) => drover.sh(id, script)) : sleep(CONTAINER_SETTLE_MS).then(() => undefined)),
    removeOne: (id) => drover.remove(id),
  };
}

function runcFleet(peer: HandRunRunc, image: ContainerImage): Fleet {
  const rootfsOf = new Map<string, PeerRootfs>();
  return {
    name: `runc-${image.name}`,
    label: `Hand-run runc, ${image.name}`,
    concurrency: 1,
    async startOne(index) {
      const id = `dn-${image.name}-${index}`;
      const rootfs = await peer.rootfs(image, id);
      rootfsOf.set(id, rootfs);
      const bundle = await peer.bundle(image, id, `dn-${index}`, rootfs, { memoryMiB: MEMORY_MIB, cpus: 1 });
      try {
        await peer.run(id, bundle);
        await peer.waitExec(id, 60_000);
      } catch (err) {
        await peer.remove(id).catch(() => undefined);
        await rootfs.release().catch(() => undefined);
        rootfsOf.delete(id);
        throw err;
      }
      return id;
    },
    processes: (id) => peer.processes(id),
    cpuSeconds: (id) => peer.cpuSeconds(id),
    settle: async (ids) => (image.systemd ? settleSystemd(ids, (id, script) => peer.sh(id, script)) : sleep(CONTAINER_SETTLE_MS).then(() => undefined)),
    async removeOne(id) {
      await peer.remove(id);
      await rootfsOf.get(id)?.release();
      rootfsOf.delete(id);
    },
  };
}

function vmFleet(name: string, label: string, runner: VmRunner): Fleet {
  return {
    name,
    label,
    // One boot per core: TCG boots are CPU-bound.
    concurrency: 2,
    async startOne(index) {
      const spec = await runner.create(`dn-${index}`, { memoryMiB: MEMORY_MIB, devices: 'virtio' });
      try {
        await runner.startReady(spec);
      } catch (err) {
        await runner.remove(spec.id).catch(() => undefined);
        throw err;
      }
      return spec.id;
    },
    processes: (id) => {
      const pid = runner.pid(id);
      return pid ? [pid] : [];
    },
    cpuSeconds: (id) => runner.cpuSeconds(id),
    settle: async () => sleep(VM_SETTLE_MS).then(() => undefined),
    removeOne: (id) => runner.remove(id),
  };
}

function skipped(name: string, label: string, reason: string): FleetMeasurement {
  return { name, label, requested: 0, started: 0, failures: [reason], startSeconds: 0, pssMiB: [], rssMiB: [], cpuPercent: [], memAvailableDropMiB: 0, idleSeconds: 0, settleNote: `skipped: ${reason}` };
}

/** Part 2; see the file comment. */
export async function runDensityPart(input: DensityInput): Promise<DensityOutcome> {
  const { teardown, log } = input;
  const measurements: FleetMeasurement[] = [];
  const drover = DroverContainers.open(input.workDir, 'density-drover', teardown);
  const peer = HandRunRunc.open(input.workDir, teardown, `${input.token}-density`);
  for (const [name, count] of [['tiny-ct', input.density], ['debian-12-ct', input.densityDebian]] as const) {
    if (count === 0) continue;
    const image = input.images[name];
    if (!image || 'missing' in image) {
      const reason = image?.missing ?? `${name} was not looked up`;
      measurements.push(skipped(`drover-${name}`, `Drover containers, ${name}`, reason), skipped(`runc-${name}`, `Hand-run runc, ${name}`, reason));
      log(`containers density ${name}: skipped: ${reason}`);
      continue;
    }
    measurements.push(await measureFleet(droverContainerFleet(drover, image), count, input.idleSeconds, log));
    measurements.push(await measureFleet(runcFleet(peer, image), count, input.idleSeconds, log));
  }
  let qemuArgs: string[] = [];
  if (input.densityVms > 0) {
    const droverVms = DroverVms.open(input.workDir, 'dn-vms', input.tiny, input.accelerator, teardown);
    measurements.push(await measureFleet(vmFleet('drover-vms', 'Drover VMs (QEMU driver), tiny', droverVms), input.densityVms, input.idleSeconds, log));
    const handRun = HandRunQemu.open(input.workDir, 'dn-qemu', input.tiny, input.accelerator, teardown);
    measurements.push(await measureFleet(vmFleet('qemu', "Hand-run QEMU, Drover's command line, tiny", handRun), input.densityVms, input.idleSeconds, log));
    qemuArgs = handRun.lastArgs;
  }
  const tables: ResultTable[] = [densityTable(measurements)];
  const notes = [
    `Density: each kind on its own, one after the other: guests started (containers one at a time, VMs two at a time), a rest (containers ${CONTAINER_SETTLE_MS / 1000} s, systemd ones after \`systemctl is-system-running\` is no longer "starting"; VMs ${VM_SETTLE_MS / 1000} s), CPU time sampled over ${input.idleSeconds} s idle, memory read at the end of that window, then all removed. Containers have a ${MEMORY_MIB} MiB memory limit and 1 CPU's quota; VMs ${MEMORY_MIB} MiB and 1 vCPU under TCG, user-mode NIC.`,
    'PSS (proportional set size, /proc/PID/smaps_rollup) divides pages shared between processes among them: shared libraries and the executables of the same file. Drover containers each read their own filesystem (their own loop device), so nothing of their files is shared between them; the same holds for the hand-run ones (a copy each). Page cache that no process maps is in no PSS: "host MemAvailable drop" catches it, but it is host-wide and moves with whatever else runs on the host.',
    ...measurements.flatMap((m) => [...(m.settleNote ? [`${m.label}: ${m.settleNote}.`] : []), ...(m.failures.length && m.started ? [`${m.label}: ${m.failures.length} guest(s) failed to start; last: ${m.failures.at(-1)}`] : [])]),
    ...(qemuArgs.length ? [`Hand-run QEMU arguments (last VM): ${qemuArgs.join(' ')}`] : []),
  ];
  const data: Record<string, unknown> = { memoryMiB: MEMORY_MIB, fleets: measurements };
  if (input.reclaimVms > 0) {
    try {
      const reclaim = await runReclaim({ tiny: input.tiny, accelerator: input.accelerator, count: input.reclaimVms, workDir: input.workDir, teardown, log });
      tables.push(...reclaim.tables);
      notes.push(...reclaim.notes);
      data.reclaim = reclaim.data;
    } catch (err) {
      notes.push(`The reclaim comparison failed: ${err instanceof Error ? err.message : String(err)}`);
      log(`containers reclaim failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return { tables, notes, data };
}

function densityTable(measurements: FleetMeasurement[]): ResultTable {
  return {
    title: 'Idle guests on one host (per guest)',
    description: 'PSS and RSS: medians over the guests; CPU: mean over the guests of the CPU time used in the idle window, as a share of one core.',
    columns: ['Guests', 'Started', 'PSS', 'RSS', "of the PSS: Drover's conmon + storage daemon", 'CPU idle', 'Host MemAvailable drop', 'All ready after'],
    rows: measurements.map((m) =>
      m.started === 0
        ? [m.label, `0/${m.requested}`, '-', '-', '-', '-', '-', m.settleNote ?? m.failures.at(-1) ?? '-']
        : [
            m.label,
            `${m.started}/${m.requested}`,
            medianMiB(m.pssMiB),
            medianMiB(m.rssMiB),
            m.helperPssMiB ? medianMiB(m.helperPssMiB) : '-',
            fixed(mean(m.cpuPercent), 3, ' %'),
            fixed(m.memAvailableDropMiB, 1, ' MiB'),
            fixed(m.startSeconds, 1, ' s'),
          ],
    ),
  };
}

