/**
 * The overhead part's network: a bridge of the benchmark's own (drvbc-<token>) with a host address in a /24 no
 * interface or route on this host uses, which the container's veth and the VMs' taps join; and the host side of
 * the transfer, an HTTP download from the guest (busybox httpd sends the file with sendfile()) by curl on the host.
 */
import { runChecked } from '../lib/process.js';
import { type Teardown, quietly } from './teardown.js';

export interface BenchBridge {
  name: string;
  hostAddress: string;
  /** The address of guest `n` (1..250) on the bridge's /24. */
  guestAddress: (n: number) => string;
}

/** The third octets of 10.254.X.0/24 already in use on the host (addresses and routes). */
async function usedSubnets(): Promise<Set<number>> {
  const used = new Set<number>();
  const text = (await runChecked('ip', ['-4', 'address', 'show'])) + (await runChecked('ip', ['-4', 'route', 'show', 'table', 'all']));
  for (const match of text.matchAll(/\b10\.254\.(\d{1,3})\./g)) used.add(Number(match[1]));
  // A wider route over 10.254.0.0 (or all of 10/8) would swallow any /24 in it.
  if (/\b10\.(254\.0\.0\/(?:1[6-9]|2[0-3])|0\.0\.0\/[89])\b/.test(text)) throw new Error('10.254.0.0/16 is routed on this host already; no free /24 for the benchmark bridge');
  return used;
}

/** Creates the bridge, registered for deletion with `teardown`. */
export async function createBridge(token: string, teardown: Teardown): Promise<BenchBridge> {
  const name = `drvbc-${token.slice(0, 8)}`;
  const used = await usedSubnets();
  const free = Array.from({ length: 240 }, (_, i) => i + 10).filter((octet) => !used.has(octet));
  const octet = free[Math.floor(Math.random() * free.length)];
  if (octet === undefined) throw new Error('no free 10.254.X.0/24 for the benchmark bridge');
  await runChecked('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
  teardown.add(`bridge ${name}`, () => runChecked('ip', ['link', 'delete', name]).then(() => undefined), () => quietly('ip', ['link', 'delete', name]));
  await runChecked('ip', ['address', 'add', `10.254.${octet}.1/24`, 'dev', name]);
  await runChecked('ip', ['link', 'set', name, 'up']);
  return { name, hostAddress: `10.254.${octet}.1`, guestAddress: (n) => `10.254.${octet}.${n + 1}` };
}

/**
 * Downloads `url` to nowhere with curl; resolves with the bytes received and curl's total time. curl, because a
 * Node client tops out at a few hundred MiB/s here and would measure itself rather than the path.
 */
export async function download(url: string, timeoutMs = 120_000): Promise<{ bytes: number; seconds: number }> {
  const out = await runChecked('curl', ['--silent', '--show-error', '--fail', '--max-time', String(timeoutMs / 1000), '--output', '/dev/null', '--write-out', '%{size_download} %{time_total}', url], { timeoutMs: timeoutMs + 5_000 });
  const [bytes, seconds] = out.trim().split(' ').map(Number);
  if (bytes === undefined || seconds === undefined || !Number.isFinite(seconds)) throw new Error(`curl ${url}: unexpected output ${JSON.stringify(out)}`);
  return { bytes, seconds };
}
