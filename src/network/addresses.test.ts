import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDroverError } from '../shared/errors.js';
import { addressToNumber, assignAddress, checkSubnetUsable, numberToAddress, parseSubnet, subnetsOverlap, usableRange } from './addresses.js';

const code = (c: string) => (err: unknown) => isDroverError(err) && err.code === c;

test('subnets parse to their canonical form; bad ones are INVALID_SUBNET with a hint', () => {
  assert.deepEqual(parseSubnet('10.60.0.0/24'), { network: addressToNumber('10.60.0.0'), prefixLength: 24, cidr: '10.60.0.0/24' });
  assert.equal(parseSubnet('172.16.0.0/12').cidr, '172.16.0.0/12');
  for (const bad of ['10.60.0.0', '10.60.0.0/33', '10.60.0.0/7', '10.60.0.0/30', '10.600.0.0/24', 'fd00::/64', '10.60.0.0/24/1', '', 'x/24', '10.60.0.0/-1']) {
    assert.throws(() => parseSubnet(bad), code('INVALID_SUBNET'), bad);
  }
  assert.throws(() => parseSubnet('10.60.0.5/24'), (err: unknown) => code('INVALID_SUBNET')(err) && /did you mean 10\.60\.0\.0\/24/.test((err as Error & { detail?: string }).detail ?? ''));
});

test('address numbers round-trip, and overlap is symmetric', () => {
  for (const address of ['0.0.0.0', '10.61.0.10', '255.255.255.255', '192.168.1.254']) assert.equal(numberToAddress(addressToNumber(address) ?? -1), address);
  assert.equal(addressToNumber('10.0.0.256'), undefined);
  const a = parseSubnet('10.60.0.0/16');
  const b = parseSubnet('10.60.5.0/24');
  const c = parseSubnet('10.61.0.0/24');
  assert.equal(subnetsOverlap(a, b), true);
  assert.equal(subnetsOverlap(b, a), true);
  assert.equal(subnetsOverlap(a, c), false);
  assert.throws(() => checkSubnetUsable(parseSubnet('10.0.0.0/16')), code('INVALID_SUBNET'), 'overlaps the user-mode 10.0.2.0/24');
  checkSubnetUsable(c);
});

test('assignment: lowest free host address, .1 reserved; a wanted address is checked', () => {
  const subnet = parseSubnet('10.61.0.0/29');
  assert.deepEqual([usableRange(subnet).first, usableRange(subnet).last].map(numberToAddress), ['10.61.0.2', '10.61.0.6']);
  assert.equal(assignAddress(subnet, new Set()), '10.61.0.2');
  assert.equal(assignAddress(subnet, new Set(['10.61.0.2', '10.61.0.3'])), '10.61.0.4');
  assert.equal(assignAddress(subnet, new Set(['10.61.0.2']), '10.61.0.6'), '10.61.0.6');
  assert.throws(() => assignAddress(subnet, new Set(['10.61.0.5']), '10.61.0.5'), code('ADDRESS_TAKEN'));
  for (const outside of ['10.61.0.0', '10.61.0.1', '10.61.0.7', '10.61.1.2', '10.62.0.3']) {
    assert.throws(() => assignAddress(subnet, new Set(), outside), code('ADDRESS_OUT_OF_SUBNET'), outside);
  }
  assert.throws(() => assignAddress(subnet, new Set(), '10.61.0.x'), code('INVALID_ARGUMENT'));
  const full = new Set(['10.61.0.2', '10.61.0.3', '10.61.0.4', '10.61.0.5', '10.61.0.6']);
  assert.throws(() => assignAddress(subnet, full), code('NETWORK_FULL'));
});
