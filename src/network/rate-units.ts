/**
 * NIC rate limits in the units people write them in. Drover keeps a limit as whole kbit/s (tc's unit,
 * 1 kbit = 1000 bit/s); the API takes megabits per second (`rateLimitMbit`); the CLI takes a number with
 * its unit: bits per second as tc and switches count them (`500kbit`, `10mbit`, `1gbit`), or megabytes
 * per second as Proxmox's `rate=` does (`2MB/s` = 16 Mbit/s). A bare number is refused, because a
 * Proxmox user means MB/s by it and a libvirt or tc user something else.
 */
import { DroverError } from '../shared/errors.js';

/** Lowest limit: 8 kbit/s (1 kB/s). */
export const MIN_RATE_KBIT = 8;
/** Highest limit: 100 Gbit/s. */
export const MAX_RATE_KBIT = 100_000_000;

const UNIT_KBIT: Record<string, number> = { kbit: 1, mbit: 1000, gbit: 1_000_000 };
const MEGABYTES = 'MB/s';

/** Whole kbit/s for `mbit` Mbit/s; throws INVALID_RATE_LIMIT outside 8 kbit/s..100 Gbit/s. */
export function mbitToKbit(mbit: number): number {
  const kbit = Math.round(mbit * 1000);
  if (!Number.isFinite(mbit) || kbit < MIN_RATE_KBIT || kbit > MAX_RATE_KBIT) {
    throw new DroverError('INVALID_RATE_LIMIT', `${String(mbit)} Mbit/s`);
  }
  return kbit;
}

/** The API's Mbit/s for a stored kbit/s limit. */
export function kbitToMbit(kbit: number): number {
  return kbit / 1000;
}

/** Parses `10mbit`, `500kbit`, `1gbit` or `2MB/s` into whole kbit/s; throws INVALID_RATE_LIMIT with the reason. */
export function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+(?:\/s)?)$/.exec(text.trim());
  const amount = match ? Number(match[1]) : NaN;
  const unit = match?.[2] ?? '';
  const perKbit = unit === MEGABYTES ? 8000 : UNIT_KBIT[unit.toLowerCase()];
  if (Number.isNaN(amount) || perKbit === undefined) {
    throw new DroverError('INVALID_RATE_LIMIT', `"${text}": write a number and a unit, e.g. 10mbit, 500kbit, 1gbit or 2MB/s`);
  }
  const kbit = Math.round(amount * perKbit);
  if (kbit < MIN_RATE_KBIT || kbit > MAX_RATE_KBIT) throw new DroverError('INVALID_RATE_LIMIT', `"${text}" is outside 8kbit..100gbit`);
  return kbit;
}

/** A limit for people: `8 Mbit/s`, `500 kbit/s`, `1.5 Gbit/s`. */
export function formatRate(kbit: number): string {
  if (kbit >= 1_000_000 && kbit % 10_000 === 0) return `${kbit / 1_000_000} Gbit/s`;
  if (kbit >= 1000 && kbit % 10 === 0) return `${kbit / 1000} Mbit/s`;
  return `${kbit} kbit/s`;
}
