/** Memory and CPU figures read from /proc and the cgroup v1 hierarchies, for the processes that make up one guest. */
import fs from 'node:fs';
import os from 'node:os';

/** Resident and proportional set size of a process, in KiB (smaps_rollup). */
export interface SetSizes {
  rssKiB: number;
  pssKiB: number;
}

/** The clock ticks /proc/PID/stat counts CPU time in. */
const TICKS_PER_SECOND = 100;

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** RSS and PSS of `pid` from /proc/PID/smaps_rollup; undefined when it has exited. */
export function setSizes(pid: number): SetSizes | undefined {
  const text = readText(`/proc/${pid}/smaps_rollup`);
  if (text === undefined) return undefined;
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKiB: field('Rss'), pssKiB: field('Pss') };
}

/** RSS and PSS summed over `pids` (those that have exited count nothing). */
export function sumSetSizes(pids: number[]): SetSizes {
  const total = { rssKiB: 0, pssKiB: 0 };
  for (const pid of pids) {
    const sizes = setSizes(pid);
    if (!sizes) continue;
    total.rssKiB += sizes.rssKiB;
    total.pssKiB += sizes.pssKiB;
  }
  return total;
}

/** User + system CPU seconds `pid` has used (all its threads), from /proc/PID/stat; 0 when it has exited. */
export function processCpuSeconds(pid: number): number {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return 0;
  // Fields after the parenthesised command name, which may itself hold spaces; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** The pids in cgroup `cgroupPath` (e.g. /drover-ct/ID) of the v1 `controller` hierarchy, its sub-cgroups included. */
export function cgroupPids(controller: string, cgroupPath: string): number[] {
  const pids: number[] = [];
  const walk = (dir: string): void => {
    for (const line of (readText(`${dir}/cgroup.procs`) ?? '').split('\n')) if (line.trim()) pids.push(Number(line));
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) walk(`${dir}/${entry.name}`);
  };
  walk(`/sys/fs/cgroup/${controller}${cgroupPath}`);
  return pids;
}

/** CPU seconds every process of cgroup `cgroupPath` has used, exited ones included (cpuacct.usage). */
export function cgroupCpuSeconds(cgroupPath: string): number {
  return Number(readText(`/sys/fs/cgroup/cpuacct${cgroupPath}/cpuacct.usage`) ?? 0) / 1e9;
}

/** The host's MemAvailable in KiB. */
export function memAvailableKiB(): number {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(readText('/proc/meminfo') ?? '')?.[1] ?? os.freemem() / 1024);
}

/**
 * The resident size of the largest anonymous mapping of `pid` whose size is `sizeMiB`: a QEMU guest's RAM block
 * (the part balloon reporting and KSM act on). Undefined when no such mapping is found.
 */
export function mappingRssKiB(pid: number, sizeMiB: number): number | undefined {
  const text = readText(`/proc/${pid}/smaps`);
  if (!text) return undefined;
  let best: number | undefined;
  let current: { size: number; anonymous: boolean } | undefined;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const size = (parseInt(header[2] as string, 16) - parseInt(header[1] as string, 16)) / 1024 / 1024;
      current = { size, anonymous: !header[3] };
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && current?.anonymous && Math.abs(current.size - sizeMiB) < 1) best = Math.max(best ?? 0, Number(rss[1]));
  }
  return best;
}

/** Pages of `pid` that KSM has merged with others (/proc/PID/ksm_stat), in KiB; undefined when the kernel does not say. */
export function ksmMergingKiB(pid: number): number | undefined {
  const match = /^ksm_merging_pages (\d+)/m.exec(readText(`/proc/${pid}/ksm_stat`) ?? '');
  return match ? Number(match[1]) * 4 : undefined;
}

/** Transparent huge pages mapped by `pid` (AnonHugePages in smaps_rollup), in KiB. */
export function anonHugeKiB(pid: number): number {
  return Number(/^AnonHugePages:\s+(\d+) kB/m.exec(readText(`/proc/${pid}/smaps_rollup`) ?? '')?.[1] ?? 0);
}

/** The host's count of transparent huge pages split so far (/proc/vmstat thp_split_page). */
export function thpSplits(): number {
  return Number(/^thp_split_page (\d+)/m.exec(readText('/proc/vmstat') ?? '')?.[1] ?? 0);
}
