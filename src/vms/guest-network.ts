/**
 * Gives a guest the addresses of its virtual-network NICs. The controller assigns them; once the guest
 * agent answers after a start or a reset (a reboot from inside the guest or `vm reboot`), the host runs one
 * shell script in the guest (guest-exec) that finds each NIC by its MAC and sets its MTU and address. A
 * migrated guest keeps its own configuration, and nothing in the guest has to know about Drover.
 */
import { DroverError } from '../shared/errors.js';
import type { NicSpec } from './spec.js';

type NetworkNic = Extract<NicSpec, { mode: 'network' }>;

/** How long the guest agent has to answer after a start before the address setup gives up. */
export const GUEST_NETWORK_TIMEOUT_MS = 5 * 60_000;

// Arguments come in triples (MAC, address/prefix, MTU), so no value is ever spliced into the script text.
// A NIC whose driver is still loading is waited for up to 20 s: a guest's agent may answer before its NIC drivers
// have bound (a distribution that starts qemu-ga early in parallel with udev). The gratuitous ARP lets the other
// hosts' bridges learn where the address lives at once.
const SCRIPT = `
status=0
while [ $# -ge 3 ]; do
  mac=$1 address=$2 mtu=$3
  shift 3
  found= tries=0
  while :; do
    for dev in /sys/class/net/*; do
      [ "$(cat "$dev/address")" = "$mac" ] && found=\${dev##*/}
    done
    [ -n "$found" ] || [ "$tries" -ge 200 ] && break
    tries=$((tries + 1))
    sleep 0.1
  done
  if [ -z "$found" ]; then echo "no interface has MAC $mac" >&2; status=1; continue; fi
  ip link set dev "$found" mtu "$mtu" up || status=1
  ip -4 address flush dev "$found"
  ip address add "$address" dev "$found" || status=1
  arping -q -U -c 1 -I "$found" "\${address%/*}" >/dev/null 2>&1 || true
done
exit $status
`;

/** The virtual-network NICs of a VM, in order. */
export function networkNics(nics: readonly NicSpec[]): NetworkNic[] {
  return nics.filter((n): n is NetworkNic => n.mode === 'network');
}

/** The guest-exec command that configures `nics` in the guest: `/bin/sh -c SCRIPT sh MAC ADDRESS MTU ...`. */
export function guestNetworkCommand(nics: readonly NetworkNic[]): { command: string; args: string[] } {
  return { command: '/bin/sh', args: ['-c', SCRIPT, 'sh', ...nics.flatMap((n) => [n.mac, n.address, String(n.mtu)])] };
}

/** What configureGuestNetwork needs of the host: wait for the guest agent, run a command in the guest. */
export interface GuestRunner {
  waitReady(id: string, timeoutMs: number): Promise<void>;
  exec(id: string, command: string, args: string[], opts: { timeoutMs?: number }): Promise<{ exitCode: number; stderr: string }>;
}

/** Waits for VM `id`'s guest agent, then sets its virtual-network NICs' addresses; NETWORK_ERROR when the guest refuses. */
export async function configureGuestNetwork(runner: GuestRunner, id: string, nics: readonly NetworkNic[]): Promise<void> {
  if (nics.length === 0) return;
  await runner.waitReady(id, GUEST_NETWORK_TIMEOUT_MS);
  const { command, args } = guestNetworkCommand(nics);
  const result = await runner.exec(id, command, args, { timeoutMs: 30_000 });
  if (result.exitCode !== 0) throw new DroverError('NETWORK_ERROR', `configuring the guest's virtual-network addresses: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
}

/**
 * The address setups of the VMs on one host, by VM name: one after each start, another after each guest reset.
 * waitReady waits for the latest, so "ready" includes the addresses. Failures are kept for that wait, never thrown.
 */
export class GuestNetworkSetups {
  private readonly setups = new Map<string, Promise<void>>();

  constructor(private readonly runner: GuestRunner) {}

  /** After a start: configures VM `id`'s virtual-network NICs in the background (nothing when it has none). */
  afterStart(name: string, id: string, nics: readonly NicSpec[]): void {
    this.track(name, configureGuestNetwork(this.runner, id, networkNics(nics)), nics);
  }

  /**
   * After a guest reset: the rebooted guest lost its addresses, so they are set again once its agent answers.
   * It runs after any setup still going, since two waits at once on one guest-agent channel reset each other.
   */
  afterReset(name: string, id: string, nics: readonly NicSpec[]): void {
    const previous = this.setups.get(name)?.catch(() => undefined) ?? Promise.resolve();
    this.track(name, previous.then(() => configureGuestNetwork(this.runner, id, networkNics(nics))), nics);
  }

  /** The latest setup of VM `name`, if one was started; it rejects with the setup's error. */
  latest(name: string): Promise<void> | undefined {
    return this.setups.get(name);
  }

  /** Drops VM `name` (deleted or moved away). */
  forget(name: string): void {
    this.setups.delete(name);
  }

  private track(name: string, setup: Promise<void>, nics: readonly NicSpec[]): void {
    if (networkNics(nics).length === 0) return;
    // Handled here so a failure nobody waits for is not an unhandled rejection; latest() still sees it.
    setup.catch(() => undefined);
    this.setups.set(name, setup);
  }
}
