import fs from 'node:fs';
import type { QemuDriver } from '../drivers/qemu/driver.js';
import type { VmRecords } from './records.js';

/** Usage figures for one running VM, as counters since its QEMU started. */
export interface VmStats {
  name: string;
  cpuSeconds: number;
  memoryRssBytes: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
}

const CLOCK_TICKS = 100;

function processUsage(pid: number): { cpuSeconds: number; rssBytes: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the state letter: utime and stime are fields 11 and 12, rss (pages) is field 21.
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    const rssBytes = Number(fields[21]) * 4096;
    return { cpuSeconds, rssBytes };
  } catch {
    return { cpuSeconds: 0, rssBytes: 0 };
  }
}

/** Collects CPU and memory from /proc, disk from QMP blockstats, network from the guest agent when it answers. */
export async function collectVmStats(records: VmRecords, driver: QemuDriver): Promise<VmStats[]> {
  const out: VmStats[] = [];
  for (const record of records.list()) {
    const status = driver.status(record.id);
    if (!status.pid || (status.state !== 'running' && status.state !== 'paused')) continue;
    const usage = processUsage(status.pid);
    const stats: VmStats = { name: record.name, cpuSeconds: usage.cpuSeconds, memoryRssBytes: usage.rssBytes, diskReadBytes: 0, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 };
    try {
      const qmp = await driver.qmp(record.id);
      const block = (await qmp.executeRaw('query-blockstats', undefined, { timeoutMs: 2_000 })) as Array<{ stats: { rd_bytes: number; wr_bytes: number } }>;
      for (const b of block) {
        stats.diskReadBytes += b.stats.rd_bytes;
        stats.diskWriteBytes += b.stats.wr_bytes;
      }
    } catch {
      // The monitor is busy or gone; the next round will have figures.
    }
    if (status.guestReady) {
      try {
        for (const nic of await driver.guestNetwork(record.id)) {
          if (nic.name === 'lo') continue;
          stats.netRxBytes += nic.statistics?.rxBytes ?? 0;
          stats.netTxBytes += nic.statistics?.txBytes ?? 0;
        }
      } catch {
        // The guest agent did not answer in time; network counters stay at zero this round.
      }
    }
    out.push(stats);
  }
  return out;
}
