import { DroverError } from '../shared/errors.js';
import { bridgeExists } from './bridge.js';
import { ip, linkInfo, validateInterfaceName, type NetnsOptions } from './commands.js';
import { applyRateLimit, clearRateLimit, validateRateKbit } from './rate-limit.js';

export interface TapOptions extends NetnsOptions {
  /** Bridge the tap joins; it must already exist (see ensureBridge). */
  bridge: string;
  /**
   * Host-side MAC of the tap, not the guest's (QEMU sets that with -device mac=). Libvirt's convention is
   * the guest MAC with the first octet FE, which keeps it unique on the bridge.
   */
  mac?: string;
  /** Cap in kbit/s (1000 bit/s) for each direction; absent means unlimited. */
  rateLimitKbit?: number;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function validateMac(mac: string): void {
  // The low bit of the first octet marks multicast, which no interface may carry.
  const multicast = (parseInt(mac.slice(0, 2), 16) & 1) === 1;
  if (!MAC.test(mac) || multicast || mac === '00:00:00:00:00:00') {
    throw new DroverError('INVALID_ARGUMENT', `MAC address ${JSON.stringify(mac)}: use six hex octets, unicast`);
  }
}

/**
 * Creates persistent tap `name` (for QEMU's `-netdev tap,ifname=NAME,script=no`) on `opts.bridge`, limited
 * when asked, then up. Refuses a name already in use (deleteTap clears a stale one); removes the tap if a step fails.
 */
export async function createTap(name: string, opts: TapOptions): Promise<void> {
  validateInterfaceName(name);
  validateInterfaceName(opts.bridge);
  if (opts.mac !== undefined) validateMac(opts.mac);
  if (opts.rateLimitKbit !== undefined) validateRateKbit(opts.rateLimitKbit);
  if (await linkInfo(name, opts)) throw new DroverError('ALREADY_EXISTS', `network interface ${name} already exists`);
  if (!(await bridgeExists(opts.bridge, opts))) throw new DroverError('NOT_FOUND', `bridge ${opts.bridge} does not exist`);
  await ip(['tuntap', 'add', 'dev', name, 'mode', 'tap'], opts);
  try {
    if (opts.mac !== undefined) await ip(['link', 'set', 'dev', name, 'address', opts.mac], opts);
    await ip(['link', 'set', 'dev', name, 'master', opts.bridge], opts);
    // Limit before up, so no unshaped packet ever passes.
    if (opts.rateLimitKbit !== undefined) await applyRateLimit(name, opts.rateLimitKbit, opts);
    await ip(['link', 'set', 'dev', name, 'up'], opts);
  } catch (err) {
    // The original error is the one worth reporting; a leftover is cleared by the next deleteTap.
    await deleteTap(name, opts).catch(() => undefined);
    throw err;
  }
}

/**
 * Deletes tap `name` and its rate limit; a no-op when it is already gone. Call it after QEMU exits: while a
 * process still holds the tap open, the kernel keeps the device until that process closes it.
 */
export async function deleteTap(name: string, opts: NetnsOptions = {}): Promise<void> {
  const existing = await linkInfo(name, opts);
  if (existing && !(existing.kind === 'tun' && existing.tunType === 'tap')) {
    throw new DroverError('INVALID_ARGUMENT', `interface ${name} is not a tap (kind ${existing.kind ?? 'physical'}); not deleting it`);
  }
  if (existing) await ip(['tuntap', 'delete', 'dev', name, 'mode', 'tap'], opts);
  // Also removes an IFB left behind by an earlier deleteTap that failed half-way.
  await clearRateLimit(name, opts);
}

/** Sets tap `name`'s cap to `kbit` kbit/s both ways, or removes it when `kbit` is undefined; applies live. */
export async function setRateLimit(name: string, kbit: number | undefined, opts: NetnsOptions = {}): Promise<void> {
  const existing = await linkInfo(name, opts);
  if (!existing) throw new DroverError('NOT_FOUND', `tap ${name} does not exist`);
  if (kbit === undefined) await clearRateLimit(name, opts);
  else await applyRateLimit(name, kbit, opts);
}
