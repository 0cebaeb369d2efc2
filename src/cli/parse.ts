/**
 * Parsers for command-line values. They throw commander's InvalidArgumentError, so a bad value
 * is a usage error (exit code 2) with the flag named in the message.
 */
import { InvalidArgumentError } from 'commander';
import { parseRate } from '../network/rate-units.js';
import { DroverError } from '../shared/errors.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * Turns `--since`/`--until` values into an ISO 8601 UTC timestamp: either an absolute time
 * (`2024-05-01T10:00:00Z`, `2024-05-01`) or a duration before `now` (`30s`, `10m`, `2h`, `1d`, `1w`).
 */
export function parseTime(value: string, now: Date = new Date()): string {
  const relative = /^(\d+)\s*([smhdw])$/.exec(value.trim());
  if (relative) {
    const [, amount, unit] = relative;
    return new Date(now.getTime() - Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS]).toISOString();
  }
  // Date.parse accepts loose forms like "5"; insist on something that starts like an ISO date.
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError(`"${value}" is neither an ISO time (2024-05-01T10:00:00Z) nor a duration like 30s, 10m, 2h, 1d`);
  }
  return new Date(ms).toISOString();
}

/** A port forward as the API takes it. */
export interface PortForward {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  guestPort: number;
}

/** Parses `tcp:HOST:GUEST` (or `udp:...`, or `HOST:GUEST` meaning tcp), e.g. `tcp:2222:22`. */
export function parsePortForward(value: string): PortForward {
  const parts = value.split(':');
  const [protocol, host, guest] = parts.length === 2 ? ['tcp', ...parts] : parts;
  if (parts.length < 2 || parts.length > 3 || (protocol !== 'tcp' && protocol !== 'udp')) {
    throw new InvalidArgumentError(`"${value}" is not PROTOCOL:HOST_PORT:GUEST_PORT, e.g. tcp:2222:22`);
  }
  return { protocol, hostPort: port(host, value), guestPort: port(guest, value) };
}

function port(text: string | undefined, whole: string): number {
  const n = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new InvalidArgumentError(`"${whole}": ports are 1-65535`);
  return n;
}

/** Commander accumulator for a repeatable --port-forward. */
export function collectPortForward(value: string, previous: PortForward[] = []): PortForward[] {
  return [...previous, parsePortForward(value)];
}

/** Commander accumulator for a repeatable string option. */
export function collectString(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Returns an option parser for a whole number in [min, max]. */
export function integerIn(min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected a whole number >= ${min}` : `expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** Seconds (whole or fractional, >= 0) to milliseconds, for --timeout flags. */
export function secondsToMs(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
  if (Number.isNaN(n)) throw new InvalidArgumentError('expected a number of seconds, e.g. 30');
  return Math.round(n * 1000);
}

/**
 * True when the command line asks for JSON output (`-o json`, `-ojson`, `--output json`,
 * `--output=json`) before any `--`. Used to print errors that happen before options are parsed.
 */
export function wantsJson(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return false;
    if ((arg === '-o' || arg === '--output') && argv[i + 1] === 'json') return true;
    if (arg === '-ojson' || arg === '--output=json') return true;
  }
  return false;
}

/** A default snapshot name from the time: `snap-20240501-103000`. */
export function defaultSnapshotName(now: Date = new Date()): string {
  const iso = now.toISOString();
  return `snap-${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}

/** One `--network NAME[,ip=A.B.C.D][,rate=10mbit]` value of `vm create`. */
export interface NetworkAttachment {
  network: string;
  address?: string;
  /** The NIC's cap in Mbit/s, each direction, as the API takes it. */
  rateLimitMbit?: number;
}

/** A NIC rate limit (`10mbit`, `500kbit`, `1gbit`, `2MB/s`) in the API's Mbit/s; a usage error otherwise. */
export function parseRateMbit(value: string): number {
  try {
    return parseRate(value) / 1000;
  } catch (err) {
    throw new InvalidArgumentError(err instanceof DroverError && err.detail ? err.detail : `"${value}" is not a rate such as 10mbit`);
  }
}

/** Parses `NAME` plus optional `,ip=A.B.C.D` and `,rate=10mbit` in any order; the controller checks name and address. */
export function parseNetworkAttachment(value: string): NetworkAttachment {
  const [network = '', ...rest] = value.split(',');
  if (network === '' || network.includes('=')) throw new InvalidArgumentError(`"${value}" is not NAME[,ip=A.B.C.D][,rate=10mbit]`);
  const attachment: NetworkAttachment = { network };
  for (const option of rest) {
    const [key, text] = option.split(/=(.*)/s);
    if (key === 'ip' && text && attachment.address === undefined) attachment.address = text;
    else if (key === 'rate' && text && attachment.rateLimitMbit === undefined) attachment.rateLimitMbit = parseRateMbit(text);
    else throw new InvalidArgumentError(`"${value}": options are ip=A.B.C.D and rate=RATE (e.g. rate=10mbit or rate=2MB/s), each at most once`);
  }
  return attachment;
}

/** Collects repeated `--network` values, in order. */
export function collectNetworkAttachment(value: string, previous: NetworkAttachment[] = []): NetworkAttachment[] {
  return [...previous, parseNetworkAttachment(value)];
}

/** Returns an option parser for a ratio in [min, max], such as an overcommit ratio. */
export function ratioIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
    if (Number.isNaN(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
    return n;
  };
}

