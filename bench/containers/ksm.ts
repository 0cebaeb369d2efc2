/**
 * Kernel samepage merging, host-wide: turned on for a measurement (with a faster scan, so that it settles within
 * the benchmark's minute rather than the default's several) and put back exactly as it was afterwards, also on
 * failure and on Ctrl-C. QEMU marks guest RAM mergeable by default, so KSM acts on VMs as soon as it runs.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Teardown } from './teardown.js';

const KSM_DIR = '/sys/kernel/mm/ksm';
/** The settings the benchmark changes, and restores. */
const SETTINGS = ['run', 'pages_to_scan', 'sleep_millisecs'] as const;
type KsmSettings = Record<(typeof SETTINGS)[number], string>;
/** Pages scanned per wake-up while measuring: 5000 every 20 ms, about 1 GiB/s, instead of the default 100. */
const FAST_SCAN = { pages_to_scan: '5000', sleep_millisecs: '20' };

function read(name: string): string {
  return fs.readFileSync(`${KSM_DIR}/${name}`, 'utf8').trim();
}

/** True when this kernel has KSM. */
export function ksmAvailable(): boolean {
  return fs.existsSync(`${KSM_DIR}/run`);
}

/** Host-wide KSM counters: full scans done, and pages shared (kept) and sharing (saved). */
export function ksmCounters(): { fullScans: number; pagesShared: number; pagesSharing: number } {
  return { fullScans: Number(read('full_scans')), pagesShared: Number(read('pages_shared')), pagesSharing: Number(read('pages_sharing')) };
}

/**
 * Turns KSM on with the fast scan, registering the restore of the previous settings with `teardown`; resolves once it
 * has done at least `scans` full scans and pages_sharing has stopped growing (or `timeoutMs` passed), with the time
 * that took and the previous settings. Call the returned `restore` to put them back now.
 */
export async function runKsmUntilSettled(
  teardown: Teardown,
  opts: { scans: number; timeoutMs: number },
): Promise<{ settledSeconds: number; previous: KsmSettings; restore: () => Promise<void> }> {
  const previous = Object.fromEntries(SETTINGS.map((name) => [name, read(name)])) as KsmSettings;
  const putBack = (): void => {
    // run last: the scan settings are written while it is still on, as they were read.
    for (const name of ['pages_to_scan', 'sleep_millisecs', 'run'] as const) {
      try {
        fs.writeFileSync(`${KSM_DIR}/${name}`, previous[name]);
      } catch {
        // Left as it is; nothing else can be done here.
      }
    }
  };
  const restore = teardown.add(`KSM settings (run=${previous.run})`, async () => putBack(), putBack);
  const started = performance.now();
  fs.writeFileSync(`${KSM_DIR}/pages_to_scan`, FAST_SCAN.pages_to_scan);
  fs.writeFileSync(`${KSM_DIR}/sleep_millisecs`, FAST_SCAN.sleep_millisecs);
  fs.writeFileSync(`${KSM_DIR}/run`, '1');
  const firstScan = ksmCounters().fullScans;
  let sharing = -1;
  while (performance.now() - started < opts.timeoutMs) {
    await sleep(2_000);
    const now = ksmCounters();
    const stable = sharing >= 0 && Math.abs(now.pagesSharing - sharing) <= Math.max(64, sharing * 0.005);
    sharing = now.pagesSharing;
    if (now.fullScans - firstScan >= opts.scans && stable) break;
  }
  return { settledSeconds: (performance.now() - started) / 1000, previous, restore };
}
