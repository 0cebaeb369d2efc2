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
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';

/** What the agent was told to use: `--watchdog /dev/watchdog`, `--watchdog simulated:FILE`, or none. */
export type WatchdogSpec = { kind: 'device'; path: string } | { kind: 'simulated'; feedFile: string } | { kind: 'none' };

export interface Watchdog {
  /** Whether the host has a device at all (`--watchdog` other than none). */
  readonly present: boolean;
  /** Whether a device is armed: the controller may count on it to reset a host that stops feeding it. */
  readonly armed: boolean;
  /** Opens and arms the device with `timeoutSeconds`; throws a coded error when it cannot. */
  arm(timeoutSeconds: number): Promise<void>;
  /** Keeps the host from being reset for another timeout. */
  feed(): void;
  /** A clean stop: disarms (the magic close), so an agent stopped on purpose does not reset its host. */
  disarm(): void;
}

const SIMULATED_PREFIX = 'simulated:';
/** Kernel watchdogs take whole seconds; an hour is far beyond any HA self-fence time. */
const MAX_TIMEOUT_SECONDS = 3600;

/** Parses `--watchdog`: `none`, an absolute device path (`/dev/watchdog0`), or `simulated:FILE` with FILE absolute. */
export function parseWatchdogSpec(text: string): WatchdogSpec {
  const value = text.trim();
  if (value === 'none') return { kind: 'none' };
  if (value.startsWith(SIMULATED_PREFIX)) {
    const feedFile = value.slice(SIMULATED_PREFIX.length);
    // Absolute only: the simulated hardware watches the file from outside the agent's working directory.
    if (!path.isAbsolute(feedFile)) throw new DroverError('INVALID_ARGUMENT', `--watchdog ${text}: the simulated watchdog's feed file must be an absolute path`);
    return { kind: 'simulated', feedFile: path.normalize(feedFile) };
  }
  if (path.isAbsolute(value)) return { kind: 'device', path: path.normalize(value) };
  throw new DroverError('INVALID_ARGUMENT', `--watchdog ${text}: expected none, a device path such as /dev/watchdog0, or simulated:FILE`);
}

/** The `--watchdog` argument that parses back to `spec`. */
export function formatWatchdogSpec(spec: WatchdogSpec): string {
  if (spec.kind === 'none') return 'none';
  return spec.kind === 'device' ? spec.path : `${SIMULATED_PREFIX}${spec.feedFile}`;
}

/** Refuses a timeout a kernel watchdog could not take. */
function checkTimeout(timeoutSeconds: number): void {
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > MAX_TIMEOUT_SECONDS) {
    throw new DroverError('INVALID_ARGUMENT', `a watchdog timeout is 1-${MAX_TIMEOUT_SECONDS} whole seconds, not ${timeoutSeconds}`);
  }
}

/** No watchdog (`--watchdog none`): never armed, and arming is refused, so HA cannot count on one. */
export class NoWatchdog implements Watchdog {
  readonly present = false;
  readonly armed = false;

  /** Always refuses: there is nothing to arm. */
  async arm(_timeoutSeconds: number): Promise<void> {
    throw new DroverError('WATCHDOG_UNAVAILABLE', 'this agent runs without a watchdog (--watchdog none)');
  }

  feed(): void {}

  disarm(): void {}
}

/**
 * A kernel watchdog device (`/dev/watchdogN`, hardware or softdog). Opening it starts the timer;
 * any write feeds it; writing 'V' just before closing disarms it (the magic close), unless the
 * driver was loaded with nowayout, in which case the host is reset after the close anyway.
 *
 * Node cannot issue the WDIOC_SETTIMEOUT ioctl without native code, so the device keeps its own
 * timeout (the driver's default or module parameter, or `wdctl --settimeout` before the agent
 * starts). arm() reads it from /sys/class/watchdog/watchdogN/timeout before opening the device and
 * refuses one longer than asked for: HA counts on a reset within the time it asked for.
 */
export class DeviceWatchdog implements Watchdog {
  readonly devicePath: string;
  /** The device's own timeout, known once armed: feed more often than this. */
  timeoutSeconds: number | undefined;
  readonly #timeoutFile: string;
  #fd: number | undefined;

  /**
   * Checks that `devicePath` is a character device; opens nothing yet (opening arms it).
   * `timeoutFile` is where its timeout is read; by default the device's sysfs `timeout`.
   */
  constructor(devicePath: string, options: { timeoutFile?: string } = {}) {
    const stat = fs.statSync(devicePath, { throwIfNoEntry: false });
    if (!stat) throw new DroverError('WATCHDOG_UNAVAILABLE', `${devicePath} does not exist (is a watchdog driver such as softdog loaded?)`);
    if (!stat.isCharacterDevice()) throw new DroverError('WATCHDOG_UNAVAILABLE', `${devicePath} is not a character device`);
    this.devicePath = devicePath;
    this.#timeoutFile = options.timeoutFile ?? sysfsTimeoutFile(devicePath);
  }

  readonly present = true;

  get armed(): boolean {
    return this.#fd !== undefined;
  }

  /** Opens the device if its own timeout is at most `timeoutSeconds`; when already armed, checks again and feeds. */
  async arm(timeoutSeconds: number): Promise<void> {
    checkTimeout(timeoutSeconds);
    const deviceTimeout = this.#readDeviceTimeout();
    if (deviceTimeout > timeoutSeconds) {
      throw new DroverError('WATCHDOG_UNAVAILABLE', `${this.devicePath} resets after ${deviceTimeout} s, longer than the ${timeoutSeconds} s asked for; set its timeout first (wdctl --settimeout ${timeoutSeconds} ${this.devicePath})`);
    }
    this.timeoutSeconds = deviceTimeout;
    if (this.#fd !== undefined) return this.feed();
    try {
      // Write-only without O_CREAT: a missing device must fail, not become a regular file.
      this.#fd = fs.openSync(this.devicePath, fs.constants.O_WRONLY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EBUSY' ? 'another program (a watchdog daemon?) holds it open' : (err as Error).message;
      throw new DroverError('WATCHDOG_UNAVAILABLE', `opening ${this.devicePath}: ${why}`, { cause: err });
    }
  }

  /** Any byte but 'V' feeds it; nothing to do while it is not armed. */
  feed(): void {
    if (this.#fd === undefined) return;
    try {
      fs.writeSync(this.#fd, '\n');
    } catch (err) {
      throw new DroverError('WATCHDOG_UNAVAILABLE', `feeding ${this.devicePath}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The magic close: 'V', then close; a no-op when not armed. */
  disarm(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      fs.writeSync(fd, 'V');
    } finally {
      fs.closeSync(fd);
    }
  }

  #readDeviceTimeout(): number {
    let text: string;
    try {
      text = fs.readFileSync(this.#timeoutFile, 'utf8');
    } catch (err) {
      throw new DroverError('WATCHDOG_UNAVAILABLE', `cannot read ${this.devicePath}'s timeout from ${this.#timeoutFile}: ${(err as Error).message}`, { cause: err });
    }
    const seconds = Number(text.trim());
    if (!Number.isInteger(seconds) || seconds < 1) throw new DroverError('WATCHDOG_UNAVAILABLE', `${this.#timeoutFile} holds ${JSON.stringify(text.trim())}, not a timeout in seconds`);
    return seconds;
  }
}

/** /sys/class/watchdog/watchdogN/timeout for `/dev/watchdogN` (or a link to it); `/dev/watchdog` is watchdog0. */
function sysfsTimeoutFile(devicePath: string): string {
  const name = path.basename(fs.realpathSync(devicePath));
  return path.join('/sys/class/watchdog', name === 'watchdog' ? 'watchdog0' : name, 'timeout');
}

/**
 * The simulated watchdog's feed file, as the agent writes it and the testbed's simulated hardware
 * reads it. Every write replaces the whole file atomically. The hardware counts the timeout from
 * when it last saw `feeds` (or `armedAt`) change, on its own clock, as a real watchdog counts down
 * from the last write; the times are for people.
 */
export type SimulatedWatchdogRecord =
  | {
      version: 1;
      armed: true;
      timeoutSeconds: number;
      /** When it was (last) armed, ISO time. */
      armedAt: string;
      /** When it was last fed (or armed), ISO time. */
      fedAt: string;
      /** Counts every arm and feed by this writer; a change is a feed. */
      feeds: number;
      /** The process that armed it. */
      pid: number;
    }
  | {
      version: 1;
      armed: false;
      disarmedAt: string;
      /** Why: the agent's clean stop, or the simulated host's power cycle resetting the hardware. */
      reason: string;
    };

/** Replaces the feed file with `record` atomically (a temp file renamed over it). */
export function writeSimulatedWatchdogRecord(feedFile: string, record: SimulatedWatchdogRecord): void {
  const temporary = `${feedFile}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(record)}\n`);
  fs.renameSync(temporary, feedFile);
}

/** The record in `text`, or undefined when it is not one. */
export function parseSimulatedWatchdogRecord(text: string): SimulatedWatchdogRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.version !== 1) return undefined;
  if (record.armed === false) return typeof record.disarmedAt === 'string' && typeof record.reason === 'string' ? (record as SimulatedWatchdogRecord) : undefined;
  const armed =
    record.armed === true &&
    typeof record.timeoutSeconds === 'number' && Number.isInteger(record.timeoutSeconds) && record.timeoutSeconds >= 1 &&
    typeof record.armedAt === 'string' && typeof record.fedAt === 'string' &&
    typeof record.feeds === 'number' && typeof record.pid === 'number';
  // Checked field by field just above.
  return armed ? (record as SimulatedWatchdogRecord) : undefined;
}

/** The record in `feedFile`; undefined when there is none (never armed) or it is not a record. */
export function readSimulatedWatchdogRecord(feedFile: string): SimulatedWatchdogRecord | undefined {
  try {
    return parseSimulatedWatchdogRecord(fs.readFileSync(feedFile, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The testbed's watchdog: arm, feed and disarm write SimulatedWatchdogRecords to the feed file, and
 * the testbed's simulated hardware (`drover testbed hardware`, outside the host's namespace, so a
 * frozen host does not freeze it) powers the host off when an armed file stops changing.
 */
export class SimulatedWatchdog implements Watchdog {
  readonly feedFile: string;
  #armed: { timeoutSeconds: number; armedAt: string } | undefined;
  #feeds = 0;

  constructor(feedFile: string) {
    this.feedFile = feedFile;
  }

  readonly present = true;

  get armed(): boolean {
    return this.#armed !== undefined;
  }

  /** Writes an armed record; arming again changes the timeout and counts as a feed. */
  async arm(timeoutSeconds: number): Promise<void> {
    checkTimeout(timeoutSeconds);
    const armed = { timeoutSeconds, armedAt: new Date().toISOString() };
    this.#write(armed, armed.armedAt);
    this.#armed = armed;
  }

  /** Writes the record again with the next feed count; nothing to do while it is not armed. */
  feed(): void {
    if (this.#armed) this.#write(this.#armed, new Date().toISOString());
  }

  /** Writes a disarmed record; a no-op when not armed. */
  disarm(): void {
    if (!this.#armed) return;
    this.#armed = undefined;
    this.#guarded(() => writeSimulatedWatchdogRecord(this.feedFile, { version: 1, armed: false, disarmedAt: new Date().toISOString(), reason: 'disarmed by the agent' }));
  }

  #write(armed: { timeoutSeconds: number; armedAt: string }, fedAt: string): void {
    this.#feeds++;
    const record = { version: 1, armed: true, ...armed, fedAt, feeds: this.#feeds, pid: process.pid } as const;
    this.#guarded(() => writeSimulatedWatchdogRecord(this.feedFile, record));
  }

  #guarded(write: () => void): void {
    try {
      write();
    } catch (err) {
      throw new DroverError('WATCHDOG_UNAVAILABLE', `writing the simulated watchdog's feed file ${this.feedFile}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** The watchdog `spec` names; a device is checked (it exists) but not opened, so nothing is armed yet. */
export function createWatchdog(spec: WatchdogSpec): Watchdog {
  switch (spec.kind) {
    case 'none':
      return new NoWatchdog();
    case 'device':
      return new DeviceWatchdog(spec.path);
    case 'simulated':
      return new SimulatedWatchdog(spec.feedFile);
  }
}
