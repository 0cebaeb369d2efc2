/** How HA's words read in the console: which host liveness needs attention, which VM phase is a failover. */
import type { HaStatus, HaHostStatus, HostLiveness } from '../../api';

/** Liveness that is neither ok nor "not judged yet": the console shows it on the host's card and page. */
export function needsAttention(liveness: string): boolean {
  return liveness !== 'ok' && liveness !== 'unknown';
}

/**
 * Liveness for which the console offers "Confirm host is down": HA cannot be sure the host is off.
 * The controller still refuses (HA_HOST_NOT_DOWN) while the host renews its lease or writes its storage heartbeat.
 */
const CONFIRMABLE: readonly HostLiveness[] = ['suspect', 'isolated', 'failed'];
export function mayConfirmDown(liveness: string): boolean {
  return (CONFIRMABLE as readonly string[]).includes(liveness);
}

/** A VM in any phase but protected is in a failover (waiting, queued, starting, started) or failed one. */
export function inFailover(phase: string): boolean {
  return phase !== 'protected';
}

/** Each host's HA status by host name. */
export function hostsByName(status: HaStatus | null): ReadonlyMap<string, HaHostStatus> {
  return new Map((status?.hosts ?? []).map((host) => [host.name, host]));
}

/** What each liveness means, for a title or a notice. */
export const LIVENESS_TEXT: Record<string, string> = {
  ok: 'The host renews its lease.',
  suspect: 'Its lease renewals are late. Nothing happens yet: it may be a short network blip.',
  isolated: 'Its lease has expired, but it still writes its storage heartbeat: it is alive but cut off from the controller. Its VMs follow their isolation response.',
  failed: 'Neither its lease nor its storage heartbeat is renewed. HA powers it off through its fence device (or waits until it must have fenced itself), then restarts its VMs on other hosts.',
  fenced: 'Its fence device powered it off. HA restarts its VMs on other hosts.',
  'confirmed-down': 'An administrator confirmed it is powered off. HA restarts its VMs on other hosts.',
  unknown: 'HA has not judged the host yet.',
};

/** What a protected VM's phase means, for a title. */
export const PHASE_TEXT: Record<string, string> = {
  protected: 'Nothing to do: it runs where it should, or its user stopped it.',
  waiting: 'Its host is lost; HA waits until it may restart the VM elsewhere.',
  queued: 'HA restarts it once a host has room and the VMs of higher priority are up.',
  starting: 'HA is starting it on another host.',
  started: 'Started on another host; protected again once its guest answers.',
  failed: 'HA gave up restarting it.',
};

const WAITING_TEXT: Record<string, string> = {
  'fence-pending': 'its host to be fenced',
  'fence-failing': 'its host to be fenced (the fence device keeps failing)',
  'self-fence-deadline': 'the time by which its host must have fenced itself',
  'isolated-stop': 'its isolated host to stop it',
  'storage-unknown': 'a storage heartbeat reading, to tell a failed host from an isolated one',
  'confirm-down': 'an administrator to confirm its host is down',
  'host-unknown': 'HA to judge its host',
  tier: 'the VMs of higher priority',
  'no-host': 'a host with room for it',
};

/** What a failover waits for, in words, with the code HA gave; a code this console does not know shows as it is. */
export function waitingText(code: string): string {
  const text = WAITING_TEXT[code];
  return text ? `${text} (${code})` : code;
}
