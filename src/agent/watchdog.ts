/**
 * The host's watchdog: a timer outside the agent that resets the host unless the agent keeps
 * feeding it. HA relies on it to turn "this host stopped answering" into "this host is off" within
 * a known time, without a power switch. The agent feeds it only while it has done what its lease
 * requires (see src/ha/README.md, the agent's side of the contract).
 *
 * Two devices share this interface: the kernel's `/dev/watchdog` (hardware or softdog), and a
 * simulated one for the testbed, where the "hardware" is a process outside the host's namespace
 * that watches a feed file and powers the host off when it goes stale.
 */

/** What the agent was told to use: `--watchdog /dev/watchdog`, `--watchdog simulated:FILE`, or none. */
export type WatchdogSpec = { kind: 'device'; path: string } | { kind: 'simulated'; feedFile: string } | { kind: 'none' };

export interface Watchdog {
  /** Whether a device is armed: the controller may count on it to reset a host that stops feeding it. */
  readonly armed: boolean;
  /** Opens and arms the device with `timeoutSeconds`; throws a coded error when it cannot. */
  arm(timeoutSeconds: number): Promise<void>;
  /** Keeps the host from being reset for another timeout. */
  feed(): void;
  /** A clean stop: disarms (the magic close), so an agent stopped on purpose does not reset its host. */
  disarm(): void;
}

/** No watchdog: the host cannot be counted on to reset itself, so HA restarts its VMs only after a fence or an administrator's word. */
export const NO_WATCHDOG: Watchdog = Object.freeze({
  armed: false,
  async arm() {},
  feed() {},
  disarm() {},
});
