/**
 * IPv4 subnets and address assignment for virtual networks: parsing and checking CIDRs, and picking
 * free addresses. Pure functions; the controller keeps which addresses are taken.
 */
import { isIPv4 } from 'node:net';
import { DroverError } from '../shared/errors.js';

/** A parsed IPv4 subnet: `network` is the address with every host bit zero, as a 32-bit number. */
export interface Subnet {
  network: number;
  prefixLength: number;
  /** Canonical text, e.g. "10.60.0.0/24". */
  cidr: string;
}

/** The shortest and longest prefixes accepted: /29 still leaves 5 VM addresses. */
const MIN_PREFIX = 8;
const MAX_PREFIX = 29;
/** QEMU user-mode networking's own subnet: every VM's first NIC routes it, so an overlay there would collide. */
const USER_MODE_SUBNET = '10.0.2.0/24';

/** The 32-bit number of dotted-quad `address`; undefined when it is not one. */
export function addressToNumber(address: string): number | undefined {
  if (!isIPv4(address)) return undefined;
  return address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
}

/** Dotted-quad text of a 32-bit number. */
export function numberToAddress(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function hostCount(prefixLength: number): number {
  return 2 ** (32 - prefixLength);
}

/** Parses `cidr` ("10.60.0.0/24"); INVALID_SUBNET when it is not an IPv4 network address with a /8../29 prefix. */
export function parseSubnet(cidr: string): Subnet {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  const network = match ? addressToNumber(match[1] ?? '') : undefined;
  const prefixLength = Number(match?.[2]);
  if (network === undefined || !Number.isInteger(prefixLength) || prefixLength < MIN_PREFIX || prefixLength > MAX_PREFIX) {
    throw new DroverError('INVALID_SUBNET', JSON.stringify(cidr));
  }
  const size = hostCount(prefixLength);
  if (network % size !== 0) {
    const canonical = `${numberToAddress(network - (network % size))}/${prefixLength}`;
    throw new DroverError('INVALID_SUBNET', `${cidr} has host bits set; did you mean ${canonical}?`);
  }
  return { network, prefixLength, cidr: `${numberToAddress(network)}/${prefixLength}` };
}

/** True when the two subnets share any address. */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  return a.network < b.network + hostCount(b.prefixLength) && b.network < a.network + hostCount(a.prefixLength);
}

/** Throws INVALID_SUBNET for a subnet a VM could not use next to its user-mode NIC. */
export function checkSubnetUsable(subnet: Subnet): void {
  if (subnetsOverlap(subnet, parseSubnet(USER_MODE_SUBNET))) {
    throw new DroverError('INVALID_SUBNET', `${subnet.cidr} overlaps ${USER_MODE_SUBNET}, the user-mode network every VM's first NIC is on`);
  }
}

/** The first and last address a VM may get: the network address, the first host (kept for a gateway) and broadcast are reserved. */
export function usableRange(subnet: Subnet): { first: number; last: number } {
  return { first: subnet.network + 2, last: subnet.network + hostCount(subnet.prefixLength) - 2 };
}

/** Checks that `address` is a usable VM address of `subnet` (ADDRESS_OUT_OF_SUBNET otherwise) and returns its number. */
export function checkAddress(subnet: Subnet, address: string): number {
  const value = addressToNumber(address);
  if (value === undefined) throw new DroverError('INVALID_ARGUMENT', `IP address ${JSON.stringify(address)} is not dotted-quad IPv4`);
  const { first, last } = usableRange(subnet);
  if (value < first || value > last) {
    throw new DroverError('ADDRESS_OUT_OF_SUBNET', `${address} is not in ${numberToAddress(first)}-${numberToAddress(last)} of ${subnet.cidr}`);
  }
  return value;
}

/**
 * The address for a new NIC: `wanted` when given (checked, and ADDRESS_TAKEN when in `taken`), else the lowest
 * free usable address (NETWORK_FULL when there is none).
 */
export function assignAddress(subnet: Subnet, taken: ReadonlySet<string>, wanted?: string): string {
  if (wanted !== undefined) {
    checkAddress(subnet, wanted);
    if (taken.has(wanted)) throw new DroverError('ADDRESS_TAKEN', `${wanted} on ${subnet.cidr}`);
    return wanted;
  }
  const { first, last } = usableRange(subnet);
  for (let value = first; value <= last; value++) {
    const address = numberToAddress(value);
    if (!taken.has(address)) return address;
  }
  throw new DroverError('NETWORK_FULL', subnet.cidr);
}
