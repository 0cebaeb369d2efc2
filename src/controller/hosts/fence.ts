/**
 * Each host's fence device: set (checked against the agent's own metadata before anything is
 * stored), shown, tested and removed by an administrator, and used by HA through `powerOff` to cut
 * a failed host's power before its VMs start elsewhere. Running agents is src/fencing's work; this
 * file only decides which device, when, and what gets recorded.
 */
import type { HostFencer } from '../ha/service.js';
import type { FenceAgentLookup } from '../../fencing/agent.js';
import { redactOptions, type FenceDevice } from '../../fencing/device.js';
import { checkDeviceAgainstAgent, fenceHost, testDevice, type DeviceTestResult } from '../../fencing/fence.js';
import { DroverError, isDroverError } from '../../shared/errors.js';
import type { Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import { now, type FenceDeviceRecord, type HostRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { hostByName } from './service.js';

export interface FenceServiceOptions extends FenceAgentLookup {
  /** The most one powerOff may take, off and every status check; default 60 s. HA may give up sooner through its signal. */
  powerOffTimeoutMs?: number;
  /** Pause between status checks while the device still says on; default 1 s. */
  pollMs?: number;
  /** How long `test` waits for the agent's status or monitor; default 20 s. */
  testTimeoutMs?: number;
}

/** HA's answer from a fence: `off` only when the device's status confirmed the power is off. */
export interface PowerOffResult {
  outcome: 'off' | 'failed';
  /** What happened, for the host.fenced / host.fence-failed event; no secret. */
  detail: string;
}

const DEFAULT_POWER_OFF_TIMEOUT_MS = 60_000;
const DEFAULT_TEST_TIMEOUT_MS = 20_000;

/** The device stored for `host`; HOST_FENCE_NOT_SET when it has none. */
export function fenceDeviceOf(host: HostRecord): FenceDeviceRecord {
  if (!host.fenceDevice) throw new DroverError('HOST_FENCE_NOT_SET', `host ${host.name}`);
  return host.fenceDevice;
}

/** Sets, shows, tests and removes hosts' fence devices, and powers hosts off through them for HA. */
export class FenceService implements HostFencer {
  /** Hosts with a powerOff running or queued: one fence at a time per host, and no test meanwhile. */
  private readonly fencesInFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly options: FenceServiceOptions = {},
  ) {}

  /** True when the host has a fence device HA can power it off with. */
  hasDevice(host: HostRecord): boolean {
    return host.fenceDevice !== null;
  }

  /**
   * Stores `device` as the host's fence device, replacing any other. Refused before anything is
   * stored when the agent is not installed (FENCE_AGENT_NOT_FOUND) or its metadata does not accept
   * the options (FENCE_OPTION_INVALID); the host.fence-set event shows secrets redacted.
   */
  async set(hostName: string, device: FenceDevice, actor: Actor): Promise<{ host: HostRecord; device: FenceDeviceRecord }> {
    // A missing host is NOT_FOUND before any agent runs.
    await hostByName(this.store, hostName);
    await checkDeviceAgainstAgent(device, this.lookup());
    // A plain copy: the request's object is not kept, and no key can come from a prototype.
    const options = Object.fromEntries(Object.entries(device.options));
    return this.store.transaction(async (tx) => {
      const host = await hostByName(tx, hostName);
      const record: FenceDeviceRecord = { agent: device.agent, options, setAt: now(), setBy: actor.name };
      const updated = await tx.hosts.update(host.id, { fenceDevice: record });
      await this.events.record(
        {
          actor,
          objectType: 'host',
          objectId: host.id,
          objectName: host.name,
          action: 'host.fence-set',
          hostId: host.id,
          result: 'success',
          detail: { agent: device.agent, options: redactOptions(options), replaced: host.fenceDevice?.agent ?? null },
        },
        tx,
      );
      return { host: updated, device: record };
    });
  }

  /** The host and its fence device; HOST_FENCE_NOT_SET when it has none. Callers show the options through redactOptions. */
  async show(hostName: string): Promise<{ host: HostRecord; device: FenceDeviceRecord }> {
    const host = await hostByName(this.store, hostName);
    return { host, device: fenceDeviceOf(host) };
  }

  /**
   * Asks the device for the host's power state (`status`, else `monitor`) without changing it, and
   * records a host.fence-tested event either way. Throws the agent's coded error when it does not
   * answer, and HOST_BEING_FENCED while the host is being fenced.
   */
  async test(hostName: string, actor: Actor): Promise<{ host: HostRecord; device: FenceDeviceRecord; result: DeviceTestResult }> {
    const host = await hostByName(this.store, hostName);
    const device = fenceDeviceOf(host);
    if (this.fencesInFlight.has(host.id)) throw new DroverError('HOST_BEING_FENCED', `host ${host.name}`);
    const event = { actor, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.fence-tested', hostId: host.id };
    let result: DeviceTestResult;
    try {
      result = await testDevice(device, { ...this.lookup(), timeoutMs: this.options.testTimeoutMs ?? DEFAULT_TEST_TIMEOUT_MS });
    } catch (err) {
      await this.events.record({ ...event, result: 'failure', detail: { agent: device.agent, error: failureOf(err) } });
      throw err;
    }
    const { output: _output, ...answer } = result;
    await this.events.record({ ...event, result: 'success', detail: { agent: device.agent, ...answer } });
    return { host, device, result };
  }

  /** Forgets the host's fence device; HOST_FENCE_NOT_SET when it has none. HA can then no longer fence the host. */
  async remove(hostName: string, actor: Actor): Promise<HostRecord> {
    return this.store.transaction(async (tx) => {
      const host = await hostByName(tx, hostName);
      const device = fenceDeviceOf(host);
      const updated = await tx.hosts.update(host.id, { fenceDevice: null });
      await this.events.record(
        { actor, objectType: 'host', objectId: host.id, objectName: host.name, action: 'host.fence-removed', hostId: host.id, result: 'success', detail: { agent: device.agent } },
        tx,
      );
      return updated;
    });
  }

  /**
   * For HA: powers host `hostId` off through its fence device and waits for its status to say off.
   * Never throws: a missing device, an agent failure, a timeout or an aborted `signal` all answer
   * `failed` with the reason. Fences of one host run one after another. Records no event; HA
   * records host.fenced or host.fence-failed from the answer.
   */
  powerOff(hostId: string, signal?: AbortSignal): Promise<PowerOffResult> {
    const queued = (this.fencesInFlight.get(hostId) ?? Promise.resolve()).then(() => this.fenceOnce(hostId, signal));
    // fenceOnce never rejects, but a queue entry that could would stall every later fence of the host.
    const settled = queued.then(
      () => undefined,
      () => undefined,
    );
    this.fencesInFlight.set(hostId, settled);
    void settled.then(() => {
      if (this.fencesInFlight.get(hostId) === settled) this.fencesInFlight.delete(hostId);
    });
    return queued;
  }

  private async fenceOnce(hostId: string, signal: AbortSignal | undefined): Promise<PowerOffResult> {
    let host: HostRecord | undefined;
    try {
      host = await this.store.hosts.get(hostId);
    } catch (err) {
      return { outcome: 'failed', detail: `could not read host ${hostId}: ${failureOf(err)}` };
    }
    if (!host) return { outcome: 'failed', detail: `no host has id ${hostId}` };
    if (!host.fenceDevice) return { outcome: 'failed', detail: `host ${host.name} has no fence device` };
    const { agent, options } = host.fenceDevice;
    try {
      const fenced = await fenceHost(
        { agent, options },
        { ...this.lookup(), timeoutMs: this.options.powerOffTimeoutMs ?? DEFAULT_POWER_OFF_TIMEOUT_MS, ...(this.options.pollMs !== undefined ? { pollMs: this.options.pollMs } : {}), ...(signal ? { signal } : {}) },
      );
      const checks = `${fenced.statusChecks} status check${fenced.statusChecks === 1 ? '' : 's'}`;
      // One line: the status answer ("Status: OFF") without whatever else a verbose agent printed.
      const said = fenced.statusOutput.split('\n')[0];
      return { outcome: 'off', detail: `${agent} powered ${host.name} off, confirmed by ${checks} in ${fenced.elapsedMs} ms${said ? ` (${said})` : ''}` };
    } catch (err) {
      return { outcome: 'failed', detail: `${agent} did not fence ${host.name}: ${failureOf(err)}` };
    }
  }

  private lookup(): FenceAgentLookup {
    return this.options.agentDirs ? { agentDirs: this.options.agentDirs } : {};
  }
}

/** An error as one line for an event or a fence answer: its code and detail (fencing errors carry no secret). */
function failureOf(err: unknown): string {
  if (isDroverError(err)) return err.detail ? `${err.code}: ${err.detail}` : err.code;
  return err instanceof Error ? err.message : String(err);
}
