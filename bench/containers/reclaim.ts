/**
 * Part 2b, do idle VMs give memory back? Hand-run QEMU with Drover's command line, with and without a virtio-balloon
 * device with free page reporting (`-device virtio-balloon-pci,free-page-reporting=on`), each with N VMs of Drover's
 * default size (256 MiB). Each VM's RSS and PSS, the resident part of its guest-RAM block, its transparent huge
 * pages and the pages KSM merged are read three times: idle after boot; after every guest wrote 96 MiB of random
 * bytes to its tmpfs and deleted them (a burst of memory that is then free, holding data as freed memory does) and
 * idled 10 s; and after KSM then ran until it settled. Only measured here: Drover's QEMU defaults are not changed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TinyImage } from '../../src/images/tiny/build.js';
import { median } from '../lib/stats.js';
import type { ResultTable } from '../lib/types.js';
import { ksmAvailable, runKsmUntilSettled } from './ksm.js';
import { fixed, inParallel } from './numbers.js';
import { anonHugeKiB, ksmMergingKiB, mappingRssKiB, setSizes, thpSplits } from './procfs.js';
import type { Teardown } from './teardown.js';
import { HandRunQemu } from './vms.js';

/** Drover's default VM size: big enough that the guest kernel's reporting threshold (see notes) leaves room to report. */
const MEMORY_MIB = 256;
const BURST_MIB = 96;
const BURST = `dd if=/dev/urandom of=/dev/shm/burst bs=1M count=${BURST_MIB} 2>/dev/null; rm -f /dev/shm/burst`;
const AFTER_BURST_MS = 10_000;
const SETTLE_MS = 10_000;
export const BALLOON_DEVICE = 'virtio-balloon-pci,id=balloon0,free-page-reporting=on';

/** `dir` names the runtime directory: short, as unix socket paths below it must fit in 108 bytes. */
const CONFIGURATIONS = [
  { name: 'drover-line', dir: 'rc-line', label: "Drover's command line (no balloon)", extraArgs: [] as string[] },
  { name: 'free-page-reporting', dir: 'rc-fpr', label: `Drover's line + -device ${BALLOON_DEVICE}`, extraArgs: ['-device', BALLOON_DEVICE] },
];

const STATES = ['idle after boot', `after a ${BURST_MIB} MiB burst in every guest, freed, +10 s`, 'then KSM on until settled'] as const;

interface StateFigures {
  rssMiB: number[];
  pssMiB: number[];
  guestRamMiB: number[];
  hugeMiB: number[];
  ksmMergingMiB: number[];
}

export interface ReclaimOutcome {
  tables: ResultTable[];
  notes: string[];
  data: Record<string, unknown>;
}

function read(runner: HandRunQemu, ids: string[]): StateFigures {
  const figures: StateFigures = { rssMiB: [], pssMiB: [], guestRamMiB: [], hugeMiB: [], ksmMergingMiB: [] };
  for (const id of ids) {
    const pid = runner.pid(id);
    const sizes = pid ? setSizes(pid) : undefined;
    if (!pid || !sizes) continue;
    figures.rssMiB.push(sizes.rssKiB / 1024);
    figures.pssMiB.push(sizes.pssKiB / 1024);
    figures.guestRamMiB.push((mappingRssKiB(pid, MEMORY_MIB) ?? 0) / 1024);
    figures.hugeMiB.push(anonHugeKiB(pid) / 1024);
    figures.ksmMergingMiB.push((ksmMergingKiB(pid) ?? 0) / 1024);
  }
  return figures;
}

/** Part 2b; see the file comment. */
export async function runReclaim(input: {
  tiny: TinyImage;
  accelerator: 'kvm' | 'tcg';
  count: number;
  workDir: string;
  teardown: Teardown;
  log: (message: string) => void;
}): Promise<ReclaimOutcome> {
  const { teardown, log } = input;
  const notes: string[] = [];
  const rows: string[][] = [];
  const data: Record<string, unknown> = {};
  if (!ksmAvailable()) notes.push('KSM: this kernel has no /sys/kernel/mm/ksm; the KSM rows are missing.');
  for (const configuration of CONFIGURATIONS) {
    const runner = HandRunQemu.open(input.workDir, configuration.dir, input.tiny, input.accelerator, teardown, configuration.extraArgs);
    const ids: string[] = [];
    const states: Array<{ state: string; figures: StateFigures; ksm?: { settledSeconds: number; thpSplits: number } }> = [];
    try {
      const specs = await Promise.all(Array.from({ length: input.count }, (_, i) => runner.create(`reclaim-${i}`, { memoryMiB: MEMORY_MIB, devices: 'virtio' })));
      await inParallel(specs, 2, async (spec) => {
        await runner.startReady(spec);
        ids.push(spec.id);
      });
      log(`containers reclaim ${configuration.name}: ${ids.length} VMs ready`);
      await sleep(SETTLE_MS);
      states.push({ state: STATES[0], figures: read(runner, ids) });
      await inParallel(ids, 2, (id) => runner.sh(id, BURST));
      await sleep(AFTER_BURST_MS);
      states.push({ state: STATES[1], figures: read(runner, ids) });
      if (ksmAvailable()) {
        const splitsBefore = thpSplits();
        const ksm = await runKsmUntilSettled(teardown, { scans: 2, timeoutMs: 120_000 });
        states.push({ state: STATES[2], figures: read(runner, ids), ksm: { settledSeconds: ksm.settledSeconds, thpSplits: thpSplits() - splitsBefore } });
        await ksm.restore();
        log(`containers reclaim ${configuration.name}: KSM settled in ${ksm.settledSeconds.toFixed(0)} s; restored run=${ksm.previous.run}`);
      }
    } finally {
      for (const id of ids) await runner.remove(id).catch(() => undefined);
    }
    data[configuration.name] = { label: configuration.label, vms: ids.length, states };
    for (const { state, figures, ksm } of states) {
      rows.push([
        configuration.label,
        state,
        String(figures.rssMiB.length),
        fixed(median(figures.rssMiB), 1, ' MiB'),
        fixed(median(figures.pssMiB), 1, ' MiB'),
        fixed(median(figures.guestRamMiB), 1, ' MiB'),
        fixed(median(figures.hugeMiB), 0, ' MiB'),
        ksm ? `${fixed(median(figures.ksmMergingMiB), 1, ' MiB')} (settled in ${ksm.settledSeconds.toFixed(0)} s; ${ksm.thpSplits} huge pages split host-wide)` : '-',
      ]);
    }
  }
  notes.push(
    `Reclaim: hand-run QEMU with Drover's command line (buildQemuArgs, user-mode NIC, ${MEMORY_MIB} MiB, 1 vCPU, TCG), ${input.count} VMs per configuration, started 2 at a time; RSS and PSS from /proc/PID/smaps_rollup, guest RAM resident = Rss of QEMU's ${MEMORY_MIB} MiB anonymous RAM block (/proc/PID/smaps), huge pages = AnonHugePages, KSM merged = ksm_merging_pages of /proc/PID/ksm_stat. The rest of a TCG QEMU's RSS is mostly its translated-code buffer (about 70 MiB, not mergeable) and the kernel file it maps, which neither balloon nor KSM touches. The burst: \`${BURST}\` in every guest.`,
    'Free page reporting: the guest reports free blocks of 2 MiB and up (page_reporting_order 9) about 2 s after they are freed, and only while its zone has more than its low watermark plus 64 MiB free (32 blocks); QEMU then drops them from its RSS. A 128 MiB guest (the density part\'s size) has about 35 MiB free after boot, below that threshold, so reporting returns nothing there; this comparison uses 256 MiB. Memory the guest never touched is not resident either way, so right after boot the two configurations hold the same.',
    'KSM: QEMU marks guest RAM mergeable (and asks for transparent huge pages) by default, so `echo 1 > /sys/kernel/mm/ksm/run` is all it takes. KSM splits the huge pages it scans, and since Linux 6.12 a split maps the zero-filled 4 KiB parts of a huge page to the shared zero page: on this kernel much of what the RSS loses when KSM runs comes from that, not from merging identical pages (the "KSM merged" column). Merged pages still count in each VM\'s RSS; PSS divides them among the sharers. The scan ran at 5000 pages per 20 ms during the measurement (default 100); run, pages_to_scan and sleep_millisecs were put back as they were afterwards.',
  );
  const table: ResultTable = {
    title: 'Do idle VMs give memory back? Virtio-balloon free page reporting and KSM (per VM, medians)',
    description: `Hand-run QEMU with Drover's command line, ${MEMORY_MIB} MiB guests, measured in three states one after the other.`,
    columns: ['Configuration', 'State', 'VMs', 'RSS', 'PSS', 'Guest RAM resident', 'Huge pages', 'KSM merged'],
    rows,
  };
  return { tables: [table], notes, data };
}
