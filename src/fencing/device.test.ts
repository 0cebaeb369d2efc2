import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import {
  FENCE_AGENT_NAME_PATTERN,
  FENCE_OPTION_KEY_PATTERN,
  FENCE_OPTION_VALUE_PATTERN,
  FenceDevice,
  checkAgentName,
  checkFenceOptions,
  isSecretOption,
  redactOptions,
  redactText,
} from './device.js';

function refusal(options: Record<string, string>): string {
  try {
    checkFenceOptions(options);
  } catch (err) {
    assert.ok(isDroverError(err, 'FENCE_OPTION_INVALID'), String(err));
    return err.detail ?? '';
  }
  assert.fail(`options ${Object.keys(options).join(',')} were accepted`);
}

test('ordinary agent options pass, including fence_redfish\'s hyphenated names', () => {
  checkFenceOptions({ ip: '10.0.0.5', username: 'admin', password: 'p@ss w=rd"x', plug: '3', 'redfish-uri': '/redfish/v1', lanplus: '1' });
  checkFenceOptions({});
});

test('a value cannot add stdin lines: line breaks and NUL are refused, and the value is not echoed', () => {
  for (const value of ['x\naction=on', 'x\rplug=9', 'x\u0000y']) {
    const detail = refusal({ password: value });
    assert.match(detail, /password/);
    assert.ok(!detail.includes('action=on') && !detail.includes('plug=9'), detail);
  }
});

test('malformed keys are refused, printed so they cannot forge a log line', () => {
  for (const key of ['Ip', '1ip', 'ip addr', 'ip=1', 'a\nb', '', '_x', 'x'.repeat(65)]) refusal({ [key]: 'v' });
  assert.match(refusal({ 'a\nb': 'v' }), /"a\\nb"/);
});

test('keys that pick the action, print help, or name a program or file to run or write are refused in both spellings', () => {
  for (const key of ['action', 'option', 'help', 'version', 'ipmitool_path', 'ssh-path', 'password_script', 'passwd-script', 'ssh_options', 'debug', 'debug-file']) {
    assert.match(refusal({ [key]: '1' }), new RegExp(key));
  }
});

test('values the agents would change on the way in are refused: edge whitespace and surrounding quotes', () => {
  refusal({ password: 'secret ' });
  refusal({ password: '\tsecret' });
  refusal({ password: '"secret"' });
  checkFenceOptions({ password: '"', username: 'a"b"' });
});

test('too many options or too long a value are refused', () => {
  refusal(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])));
  refusal({ password: 'x'.repeat(4097) });
});

test('agent names must look like fence_<lowercase>', () => {
  checkAgentName('fence_ipmilan');
  for (const name of ['ipmilan', 'fence_', 'fence_IPMI', '../fence_x', 'fence_x/..', 'fence_x y', `fence_${'a'.repeat(64)}`]) {
    assert.throws(() => checkAgentName(name), (err) => isDroverError(err, 'FENCE_AGENT_NOT_FOUND'));
  }
});

test('secrets are recognised by name across the agents\' spellings', () => {
  for (const key of ['password', 'passwd', 'snmp_priv_passwd', 'secret_key', 'access_key', 'apikey', 'hexadecimal_kg', 'community', 'token']) {
    assert.ok(isSecretOption(key), key);
  }
  for (const key of ['ip', 'username', 'plug', 'ipport', 'lanplus', 'method']) assert.ok(!isSecretOption(key), key);
});

test('redaction removes secret values, also JSON- and URL-escaped, and keeps the rest', () => {
  const options = { username: 'admin', password: 'pa"ss/wörd', community: 'private' };
  assert.deepEqual(redactOptions(options), { username: 'admin', password: '***', community: '***' });
  const text = 'user admin pw pa"ss/wörd json "pa\\"ss/wörd" url pa%22ss%2Fw%C3%B6rd snmp private';
  const redacted = redactText(text, options);
  assert.equal(redacted, 'user admin pw *** json "***" url *** snmp ***');
  assert.equal(redactText('nothing secret', { password: '' }), 'nothing secret');
});

test('the TypeBox schema uses the same patterns as the checks', () => {
  // TypeBox's static types leave the JSON schema keywords (pattern, patternProperties) out.
  const schema = FenceDevice as unknown as { properties: { agent: { pattern: string }; options: { patternProperties: Record<string, { pattern: string }> } } };
  assert.equal(schema.properties.agent.pattern, FENCE_AGENT_NAME_PATTERN);
  const options = schema.properties.options;
  assert.deepEqual(Object.keys(options.patternProperties), [FENCE_OPTION_KEY_PATTERN]);
  assert.equal(options.patternProperties[FENCE_OPTION_KEY_PATTERN]?.pattern, FENCE_OPTION_VALUE_PATTERN);
});
