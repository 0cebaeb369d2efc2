import crypto from 'node:crypto';
import { DroverError } from '../shared/errors.js';
import { ip, linkInfo, tc, validateInterfaceName, type NetnsOptions } from './commands.js';

/*
 * How a limit is applied to interface DEV, both directions at the same rate:
 *   - DEV's egress (for a tap: host → guest) goes through a tbf root qdisc on DEV.
 *   - DEV's ingress (for a tap: guest → host) is redirected by an ingress qdisc + u32 filter with
 *     `action mirred egress redirect` to an IFB device of its own, whose root tbf qdisc shapes it.
 * The IFB is used instead of an ingress `police` filter because act_police is missing from some
 * kernels (this testbed's among them) while ifb and act_mirred are not, and because shaping queues the
 * excess where policing drops it, so TCP through the guest settles at the set rate instead of below it.
 */

// Highest accepted rate: 100 Gbit/s. tc counts "kbit" as 1000 bit/s.
import { MAX_RATE_KBIT } from './rate-units.js';
export { MAX_RATE_KBIT };

// Bound on queueing delay: a saturated NIC adds at most ~50 ms rather than building a deep queue.
const LATENCY = '50ms';
const MIN_BURST_BYTES = 16 * 1024;

/**
 * tbf bucket size for `kbit`: 10 ms of traffic, so even a 100 Hz kernel timer refills the bucket between
 * ticks without losing tokens (tc-tbf(8) asks for at least rate/HZ), and never under 16 KiB (about ten
 * full-size frames) so slow limits still let a TCP window's first few segments through back to back.
 * The burst lets at most that many bytes pass above the rate after an idle spell.
 */
export function burstBytes(kbit: number): number {
  return Math.max(MIN_BURST_BYTES, Math.ceil((kbit * 1000) / 8 / 100));
}

/** The IFB device that shapes DEV's ingress: deterministic, so it can be found again after a restart. */
export function ingressShaperName(dev: string): string {
  return `ifb${crypto.createHash('sha256').update(dev).digest('hex').slice(0, 12)}`;
}

/** Throws INVALID_ARGUMENT unless `kbit` is a whole number of kbit/s in 1..MAX_RATE_KBIT. */
export function validateRateKbit(kbit: unknown): asserts kbit is number {
  if (typeof kbit === 'number' && Number.isInteger(kbit) && kbit >= 1 && kbit <= MAX_RATE_KBIT) return;
  throw new DroverError('INVALID_ARGUMENT', `rate limit ${String(kbit)} kbit/s: use a whole number from 1 to ${MAX_RATE_KBIT}`);
}

function tbfArgs(dev: string, kbit: number): string[] {
  return ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', String(burstBytes(kbit)), 'latency', LATENCY];
}

interface Qdisc {
  kind?: unknown;
  root?: unknown;
}

interface Filter {
  options?: { actions?: { kind?: unknown; to_dev?: unknown }[] };
}

async function tcJson<T>(args: string[], opts: NetnsOptions): Promise<T[]> {
  const parsed: unknown = JSON.parse((await tc(['-j', ...args], opts)) || '[]');
  // tc -j prints an array of objects; fields are checked where they are read.
  return Array.isArray(parsed) ? (parsed as T[]) : [];
}

async function redirectsTo(dev: string, shaper: string, opts: NetnsOptions): Promise<boolean> {
  const filters = await tcJson<Filter>(['filter', 'show', 'dev', dev, 'ingress'], opts);
  const actions = filters.flatMap((f) => {
    const list = f.options?.actions;
    return Array.isArray(list) ? list : [];
  });
  return actions.some((a) => a.kind === 'mirred' && a.to_dev === shaper);
}

async function ensureShaperDevice(dev: string, shaper: string, opts: NetnsOptions): Promise<void> {
  const existing = await linkInfo(shaper, opts);
  if (existing && existing.kind !== 'ifb') {
    throw new DroverError('ALREADY_EXISTS', `interface ${shaper} (ingress shaper for ${dev}) exists and is not an ifb`);
  }
  if (!existing) await ip(['link', 'add', 'name', shaper, 'type', 'ifb'], opts);
  await ip(['link', 'set', 'dev', shaper, 'alias', `drover ingress shaper for ${dev}`], opts);
  await ip(['link', 'set', 'dev', shaper, 'up'], opts);
}

/** Caps DEV at `kbit` kbit/s both ways (replacing its root and ingress qdiscs) or changes the cap live; idempotent, so retries converge. */
export async function applyRateLimit(dev: string, kbit: number, opts: NetnsOptions = {}): Promise<void> {
  validateInterfaceName(dev);
  validateRateKbit(kbit);
  if (!(await linkInfo(dev, opts))) throw new DroverError('NOT_FOUND', `interface ${dev} does not exist`);
  const shaper = ingressShaperName(dev);
  // The shaper is up and limited before any traffic is redirected into it.
  await ensureShaperDevice(dev, shaper, opts);
  await tc(tbfArgs(shaper, kbit), opts);
  await tc(tbfArgs(dev, kbit), opts);
  if (await redirectsTo(dev, shaper, opts)) return;
  // An ingress qdisc without our redirect (a leftover, or someone else's) is replaced as a whole.
  const present = await tcJson<Qdisc>(['qdisc', 'show', 'dev', dev], opts);
  if (present.some((q) => q.kind === 'ingress')) await tc(['qdisc', 'delete', 'dev', dev, 'ingress'], opts);
  await tc(['qdisc', 'add', 'dev', dev, 'handle', 'ffff:', 'ingress'], opts);
  await tc(
    ['filter', 'add', 'dev', dev, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0',
      'action', 'mirred', 'egress', 'redirect', 'dev', shaper],
    opts,
  );
}

/** Removes any limit applyRateLimit set on DEV, including its IFB; a no-op for parts (or a DEV) already gone. */
export async function clearRateLimit(dev: string, opts: NetnsOptions = {}): Promise<void> {
  validateInterfaceName(dev);
  if (await linkInfo(dev, opts)) {
    const present = await tcJson<Qdisc>(['qdisc', 'show', 'dev', dev], opts);
    // Stop redirecting before the shaper goes, so no packet is sent to a vanished device.
    if (present.some((q) => q.kind === 'ingress')) await tc(['qdisc', 'delete', 'dev', dev, 'ingress'], opts);
    if (present.some((q) => q.kind === 'tbf' && q.root === true)) await tc(['qdisc', 'delete', 'dev', dev, 'root'], opts);
  }
  const shaper = ingressShaperName(dev);
  if ((await linkInfo(shaper, opts))?.kind === 'ifb') await ip(['link', 'delete', 'dev', shaper], opts);
}
