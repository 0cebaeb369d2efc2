/**
 * The testbed's simulated hardware: what stands outside a real host and keeps working when the host
 * hangs. One daemon per testbed (`drover testbed hardware --dir DIR --id ID`, hidden from help),
 * started by `testbed up` in the root namespace, so freezing a host does not freeze it. Every tick
 * (250 ms) it does, for each host:
 * - power switch (--fence simulated): notices that the switch powered the host off (its record says
 *   off, or the switch acted and the agent is gone: a reboot), kills what the switch missed and
 *   records the host off, so `testbed fault HOST power-on` works; while the host is on, lists its
 *   agent and QEMUs in `fence/<host>.pids`, so a fence kills exactly what runs on it;
 * - watchdog (--watchdog simulated): when the host's armed feed file has not changed for its
 *   timeout, powers the host off as `testbed fault power-off` does and counts a watchdog reset.
 * A host it powers off also has its watchdog disarmed, as a reset clears the real one. It exits by
 * itself once the state file is gone or belongs to another testbed.
 */
import { isAlive } from '../drivers/qemu/process.js';
import { readSimulatedWatchdogRecord, writeSimulatedWatchdogRecord, type SimulatedWatchdogRecord } from '../agent/watchdog.js';
import { readSimulatedPower, writeSimulatedHostPids } from '../fencing/simulated-device.js';
import { hostProcesses, killHostProcesses } from './processes.js';
import { hostFaults, readState, updateHost, type PowerCut, type TestbedHost, type TestbedState } from './state.js';

/** How often the hardware looks; a watchdog fires at most two ticks after its timeout. */
export const HARDWARE_TICK_MS = 250;
/** The line the daemon logs once it runs; `testbed up` waits for it. */
export const HARDWARE_STARTED_LINE = 'drover testbed hardware started';

/** What the simulated watchdog remembers of a host's feed file: the last feed it saw, and when by its own clock. */
export interface WatchdogMemory {
  armedAt: string;
  feeds: number;
  seenAtMs: number;
}

/** The watchdog's verdict on one tick: expired, or not yet with what to remember until the next. */
export type WatchdogJudgement = { expired: false; memory: WatchdogMemory | undefined } | { expired: true; timeoutSeconds: number; silentMs: number };

/**
 * Whether a host's watchdog has expired at `nowMs` (a monotonic clock): the feed file is armed and
 * has not changed (same armedAt and feed count) for its timeout since this watchdog first saw it so.
 * It counts from when it saw a feed, not from the time written in the file, as hardware counts down
 * from the last write; so it never fires early, and a file already stale when first seen gets a full timeout.
 */
export function judgeWatchdog(record: SimulatedWatchdogRecord | undefined, memory: WatchdogMemory | undefined, nowMs: number): WatchdogJudgement {
  if (!record?.armed) return { expired: false, memory: undefined };
  if (!memory || memory.armedAt !== record.armedAt || memory.feeds !== record.feeds) {
    return { expired: false, memory: { armedAt: record.armedAt, feeds: record.feeds, seenAtMs: nowMs } };
  }
  const silentMs = nowMs - memory.seenAtMs;
  return silentMs >= record.timeoutSeconds * 1000 ? { expired: true, timeoutSeconds: record.timeoutSeconds, silentMs } : { expired: false, memory };
}

/**
 * Whether the simulated switch has cut a host's power that the testbed still has on: its record says off,
 * or it was written since the last look (`switchActed`) while the host's agent is gone (a reboot: the switch
 * kills and records on again, and a testbed host does not boot by itself).
 */
export function switchCutPower(record: 'on' | 'off', switchActed: boolean, agentAlive: boolean): boolean {
  return record === 'off' || (switchActed && !agentAlive);
}

/** A power cycle resets the simulated watchdog: an armed feed file is replaced by a disarmed record saying `reason`. */
export function resetSimulatedWatchdog(feedFile: string, reason: string): void {
  if (readSimulatedWatchdogRecord(feedFile)?.armed) writeSimulatedWatchdogRecord(feedFile, { version: 1, armed: false, disarmedAt: new Date().toISOString(), reason });
}

/** What the daemon remembers between ticks, per host name. */
export interface HardwareMemory {
  watchdogs: Map<string, WatchdogMemory>;
  /** The switch's power record's mtime when last looked at; null: no record yet. */
  switchRecords: Map<string, number | null>;
}

export function newHardwareMemory(): HardwareMemory {
  return { watchdogs: new Map(), switchRecords: new Map() };
}

/**
 * Powers `host` off as `testbed fault power-off` does (SIGKILL by recorded pids), disarms its watchdog
 * (the reset clears it) and records what cut the power; returns the pids it killed.
 */
async function cutPower(state: TestbedState, host: TestbedHost, by: PowerCut): Promise<number[]> {
  const pids = await killHostProcesses(host);
  if (host.watchdogFile) resetSimulatedWatchdog(host.watchdogFile, `reset: the host lost power (${by})`);
  await updateHost(state.dir, host.name, (h) => {
    h.faults = { ...hostFaults(h), poweredOff: true, frozen: false };
    h.poweredOffBy = by;
    if (by === 'watchdog') h.watchdogResets = (h.watchdogResets ?? 0) + 1;
  });
  return pids;
}

/** One look at one host; see the file comment. */
async function tickHost(state: TestbedState, host: TestbedHost, memory: HardwareMemory, nowMs: number, log: (line: string) => void): Promise<void> {
  const poweredOff = hostFaults(host).poweredOff;
  if (state.fenceDir) {
    const record = readSimulatedPower(state.fenceDir, host.name);
    // The first look only learns the record: what the switch did before the daemon ran is not a change.
    const switchActed = memory.switchRecords.has(host.name) && memory.switchRecords.get(host.name) !== record.mtimeMs;
    memory.switchRecords.set(host.name, record.mtimeMs);
    // Alive is enough: a just-restarted agent's command line can read empty while it execs into node.
    const agentAlive = host.pid !== null && isAlive(host.pid);
    if (!poweredOff && switchCutPower(record.state, switchActed, agentAlive)) {
      const pids = await cutPower(state, host, 'fence');
      memory.watchdogs.delete(host.name);
      log(`${host.name}: the simulated fence switch cut its power (record ${record.state}); killed what it missed: ${pids.join(', ') || 'nothing'}; the host is off`);
      return;
    }
  }
  if (poweredOff) {
    memory.watchdogs.delete(host.name);
    return;
  }
  if (host.watchdogFile) {
    const record = readSimulatedWatchdogRecord(host.watchdogFile);
    const judgement = judgeWatchdog(record, memory.watchdogs.get(host.name), nowMs);
    if (judgement.expired) {
      memory.watchdogs.delete(host.name);
      const pids = await cutPower(state, host, 'watchdog');
      log(`${host.name}: watchdog expired (timeout ${judgement.timeoutSeconds} s, not fed for ${(judgement.silentMs / 1000).toFixed(1)} s); powered off, killed ${pids.join(', ') || 'nothing'}`);
      return;
    }
    if (judgement.memory) memory.watchdogs.set(host.name, judgement.memory);
    else memory.watchdogs.delete(host.name);
  }
  if (state.fenceDir) writeSimulatedHostPids(state.fenceDir, host.name, hostProcesses(host));
}

/** One tick over every host of `state`; a failure with one host is logged and does not stop the others. */
export async function tickHardware(state: TestbedState, memory: HardwareMemory, nowMs: number, log: (line: string) => void): Promise<void> {
  for (const host of state.hosts) {
    try {
      await tickHost(state, host, memory, nowMs, log);
    } catch (err) {
      log(`${host.name}: ${(err as Error).message}`);
    }
  }
}

/**
 * Runs the simulated hardware of testbed `id` in `dir` until SIGTERM/SIGINT, or until the state file is
 * gone or names another testbed. Logs a line per event (by default to stdout: the testbed's hardware.log).
 */
export async function runHardware(dir: string, id: string, options: { tickMs?: number; log?: (line: string) => void } = {}): Promise<void> {
  const log = options.log ?? ((line: string): void => void process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const memory = newHardwareMemory();
  log(`${HARDWARE_STARTED_LINE} for testbed ${id} in ${dir}, pid ${process.pid}`);
  try {
    while (!stopping) {
      let state: TestbedState | undefined | null = null;
      try {
        state = readState(dir);
      } catch (err) {
        // An unreadable file is not a vanished one: look again next tick.
        log(`reading the state: ${(err as Error).message}`);
      }
      if (state === undefined || (state && state.id !== id)) {
        log(state ? `${dir} now holds testbed ${state.id}; exiting` : 'the testbed is gone; exiting');
        return;
      }
      if (state) await tickHardware(state, memory, performance.now(), log);
      await new Promise((resolve) => setTimeout(resolve, options.tickMs ?? HARDWARE_TICK_MS));
    }
    log('stopped');
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
