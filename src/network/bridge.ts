import { isIP } from 'node:net';
import { DroverError } from '../shared/errors.js';
import { ip, linkInfo, validateInterfaceName, type NetnsOptions } from './commands.js';

export interface BridgeOptions extends NetnsOptions {
  /** Host address on the bridge in CIDR form, e.g. "10.0.0.1/24" or "fd00::1/64". */
  address?: string;
}

function validateCidr(cidr: string): void {
  const [address = '', prefix, extra] = cidr.split('/');
  const family = isIP(address);
  const bits = Number(prefix);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(prefix ?? '') || bits > max) {
    throw new DroverError('INVALID_ARGUMENT', `bridge address ${JSON.stringify(cidr)} is not an IPv4 or IPv6 CIDR`);
  }
}

function notABridge(name: string, kind: string | undefined): DroverError {
  return new DroverError('ALREADY_EXISTS', `interface ${name} exists and is ${kind ? `a ${kind}` : 'a physical NIC'}, not a bridge`);
}

/** True when a bridge called `name` exists in the namespace. */
export async function bridgeExists(name: string, opts: NetnsOptions = {}): Promise<boolean> {
  return (await linkInfo(name, opts))?.kind === 'bridge';
}

async function createBridge(name: string, opts: NetnsOptions): Promise<boolean> {
  const added = await ip(['link', 'add', 'name', name, 'type', 'bridge'], opts).then(
    () => true,
    async (err: unknown) => {
      // Another VM start may have created it a moment ago; that is as good as ours.
      if (await bridgeExists(name, opts)) return false;
      throw err;
    },
  );
  if (added) {
    // Pin the bridge MAC: otherwise the kernel swaps it for the lowest port MAC whenever a tap joins or leaves,
    // and neighbours of the host's bridge address see that address move.
    const created = await linkInfo(name, opts);
    if (created?.mac) await ip(['link', 'set', 'dev', name, 'address', created.mac], opts);
  }
  return added;
}

/** Makes bridge `name` exist, carry `address` (if given) and be up; idempotent, and safe to call concurrently. */
export async function ensureBridge(name: string, opts: BridgeOptions = {}): Promise<void> {
  validateInterfaceName(name);
  if (opts.address !== undefined) validateCidr(opts.address);
  const existing = await linkInfo(name, opts);
  if (existing && existing.kind !== 'bridge') throw notABridge(name, existing.kind);
  const created = existing ? false : await createBridge(name, opts);
  try {
    if (opts.address !== undefined) await ip(['address', 'replace', opts.address, 'dev', name], opts);
    await ip(['link', 'set', 'dev', name, 'up'], opts);
  } catch (err) {
    // Never leave a half-configured bridge we made; the original error is the one worth reporting.
    if (created) await ip(['link', 'delete', 'dev', name], opts).catch(() => undefined);
    throw err;
  }
}

/** Deletes bridge `name` if it exists (its ports are detached, not deleted); refuses a non-bridge of that name. */
export async function deleteBridge(name: string, opts: NetnsOptions = {}): Promise<void> {
  const existing = await linkInfo(name, opts);
  if (!existing) return;
  if (existing.kind !== 'bridge') throw notABridge(name, existing.kind);
  await ip(['link', 'delete', 'dev', name, 'type', 'bridge'], opts);
}
