/**
 * Fencing a host through its fence device, testing a device, and describing an agent's options.
 * The rule throughout: a host counts as fenced only when its device has reported it off after
 * Drover asked for off. A successful `off`, a timeout or an unreadable status are not enough
 * (FenceAgentAPI.md: "Verifiable operation", "Timeout is a failure, not success"; fence_ipmilan's
 * own metadata warns it "might report success before the node is powered off").
 */
import { DroverError, isDroverError } from '../shared/errors.js';
import { abortedFenceError, runFenceAgent, type FenceAgentLookup, type PowerState } from './agent.js';
import { checkFenceDevice, type FenceDevice } from './device.js';
import { checkOptionsAgainstAgent, parseFenceMetadata, type FenceAgentDescription } from './metadata.js';

export interface FenceHostOptions extends FenceAgentLookup {
  /** The whole fence, off and every status check, must finish within this; default 60 s. */
  timeoutMs?: number;
  /** Pause between status checks while the device still says on; default 1 s. */
  pollMs?: number;
  /** Aborting kills the agent call in flight and stops the status checks; the fence then fails (see abortedFenceError). */
  signal?: AbortSignal;
}

/** How a fence went: always a confirmed off, or fenceHost throws. */
export interface FenceOutcome {
  state: 'off';
  /** How many status calls it took to see off (1 when the first one did). */
  statusChecks: number;
  elapsedMs: number;
  /** What the agent printed for off and for the confirming status, secrets removed. */
  offOutput: string;
  statusOutput: string;
}

const DEFAULT_FENCE_TIMEOUT_MS = 60_000;
const DEFAULT_POLL_MS = 1000;
/** Below this much time left, another agent call could not finish; fail instead of starting one. */
const MIN_CALL_MS = 100;

/** Waits `ms`, or less when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function joined(result: { stdout: string; stderr: string }): string {
  return [result.stdout, result.stderr].filter(Boolean).join('\n');
}

/**
 * Powers the device's host off and waits for the device to report it off. Resolves only on a
 * confirmed off. Throws FENCE_AGENT_FAILED / FENCE_AGENT_TIMEOUT when off itself fails,
 * FENCE_NOT_CONFIRMED when status never says off in time (its detail holds what status last said),
 * and FENCE_CANCELLED (or FENCE_AGENT_TIMEOUT, for a timeout signal) when `signal` aborts.
 */
export async function fenceHost(device: FenceDevice, options: FenceHostOptions = {}): Promise<FenceOutcome> {
  checkFenceDevice(device);
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? DEFAULT_FENCE_TIMEOUT_MS);
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const signal = options.signal;
  const lookup = { agentDirs: options.agentDirs, signal };
  const remaining = (): number => deadline - Date.now();

  // Not retried: a failed off may have done part of its work, and the caller (HA) decides what next.
  const off = await runFenceAgent(device.agent, device.options, 'off', { ...lookup, timeoutMs: remaining() });

  let statusChecks = 0;
  // What status last answered, and why a check after it gave no answer. A check cut short by the
  // deadline must not hide that the device had answered "on": that is the reason the fence failed.
  let lastAnswer: string | undefined;
  let lastFailure: string | undefined;
  while (remaining() >= MIN_CALL_MS) {
    if (signal?.aborted) throw abortedFenceError(signal, `${device.agent} status`);
    statusChecks++;
    try {
      const status = await runFenceAgent(device.agent, device.options, 'status', { ...lookup, timeoutMs: remaining() });
      if (status.state === 'off') {
        return { state: 'off', statusChecks, elapsedMs: Date.now() - started, offOutput: joined(off), statusOutput: joined(status) };
      }
      lastAnswer = 'status still reports on';
      lastFailure = undefined;
    } catch (err) {
      // An unreadable status is not an off; keep asking until the deadline, as the device may be busy switching.
      if (!isDroverError(err, 'FENCE_AGENT_FAILED') && !isDroverError(err, 'FENCE_AGENT_TIMEOUT')) throw err;
      lastFailure = err.detail ?? err.message;
    }
    const pause = Math.min(pollMs, remaining() - MIN_CALL_MS);
    if (pause > 0) await sleep(pause, signal);
  }
  const said = [lastAnswer, lastFailure && (lastAnswer ? `then ${lastFailure}` : lastFailure)].filter(Boolean).join('; ')
    || 'no status check could run before the deadline';
  throw new DroverError('FENCE_NOT_CONFIRMED', `${device.agent} accepted off, but after ${statusChecks} status checks in ${Date.now() - started} ms: ${said}`);
}

/** What `drover host fence test` reports: which action was asked and what the device said. */
export type DeviceTestResult =
  | { action: 'status'; state: PowerState; output: string }
  | { action: 'monitor'; reachable: true; state?: 'off'; output: string };

/**
 * Checks that the device answers, without changing its power: `status` when the agent offers it
 * (it also proves the plug exists), else `monitor`. Throws the agent's error when it does not answer.
 */
export async function testDevice(device: FenceDevice, options: FenceAgentLookup & { timeoutMs?: number } = {}): Promise<DeviceTestResult> {
  checkFenceDevice(device);
  const description = await describeAgent(device.agent, options);
  const run = { agentDirs: options.agentDirs, timeoutMs: options.timeoutMs };
  if (description.actions.includes('status')) {
    const status = await runFenceAgent(device.agent, device.options, 'status', run);
    return { action: 'status', state: status.state, output: joined(status) };
  }
  if (description.actions.includes('monitor')) {
    const monitor = await runFenceAgent(device.agent, device.options, 'monitor', run);
    return { action: 'monitor', reachable: true, ...(monitor.state ? { state: monitor.state } : {}), output: joined(monitor) };
  }
  throw new DroverError('FENCE_AGENT_FAILED', `${device.agent} offers neither status nor monitor, so it cannot be tested without fencing`);
}

/** The agent's parameters and actions, from its `metadata` output; `action` is left out (Drover sets it). */
export async function describeAgent(name: string, options: FenceAgentLookup & { timeoutMs?: number } = {}): Promise<FenceAgentDescription> {
  const { xml } = await runFenceAgent(name, {}, 'metadata', { agentDirs: options.agentDirs, timeoutMs: options.timeoutMs ?? 15_000 });
  return parseFenceMetadata(xml);
}

/**
 * For `drover host fence set`: throws FENCE_OPTION_INVALID unless the device's options are safe to
 * pass and fit what its agent declares (known names, required ones present, valid choices); a
 * device that can power hosts off and on needs `off` and `status`. Returns the agent's description.
 */
export async function checkDeviceAgainstAgent(device: FenceDevice, options: FenceAgentLookup = {}): Promise<FenceAgentDescription> {
  checkFenceDevice(device);
  const description = await describeAgent(device.agent, options);
  const problems = checkOptionsAgainstAgent(description, device.options);
  for (const action of ['off', 'status']) {
    if (!description.actions.includes(action)) problems.push(`${device.agent} has no ${action} action, so Drover could not confirm a fence`);
  }
  if (problems.length > 0) throw new DroverError('FENCE_OPTION_INVALID', problems.join('; '));
  return description;
}
