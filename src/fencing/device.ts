/**
 * A fence device as Drover stores it: which ClusterLabs fence agent to run and the options to hand
 * it on stdin. Everything here is checked before an agent runs, so a stored device can neither
 * inject extra stdin lines nor make the agent run or write a program or file of the caller's choosing,
 * and secrets can be kept out of errors and logs.
 */
import { Type, type Static } from '@fastify/type-provider-typebox';
import { DroverError } from '../shared/errors.js';
import { ERROR_CODE_KEYWORD } from '../shared/http-errors.js';

/** Agent names as Debian's fence-agents installs them (fence_ipmilan, fence_redfish, ...). */
export const FENCE_AGENT_NAME_PATTERN = '^fence_[a-z0-9_]+$';
/** Option keys: what fencing.py's stdin parser accepts as a name ("redfish-uri" has a "-"). */
export const FENCE_OPTION_KEY_PATTERN = '^[a-z][a-z0-9_-]{0,63}$';
/** Option values: one stdin line each, so no line breaks and no NUL. */
export const FENCE_OPTION_VALUE_PATTERN = '^[^\\r\\n\\u0000]*$';
const MAX_VALUE_LENGTH = 4096;
const MAX_OPTIONS = 64;

/**
 * A fence device: the agent and its options (without `action`, which Drover sets per call). As an
 * API body, a bad name or option fails with the same codes as checkAgentName and checkFenceOptions.
 */
export const FenceDevice = Type.Object(
  {
    agent: Type.String({ pattern: FENCE_AGENT_NAME_PATTERN, maxLength: 64, description: 'The fence agent program, e.g. fence_ipmilan.', [ERROR_CODE_KEYWORD]: 'FENCE_AGENT_NOT_FOUND' }),
    options: Type.Record(
      Type.String({ pattern: FENCE_OPTION_KEY_PATTERN }),
      Type.String({ pattern: FENCE_OPTION_VALUE_PATTERN, maxLength: MAX_VALUE_LENGTH, [ERROR_CODE_KEYWORD]: 'FENCE_OPTION_INVALID' }),
      {
        maxProperties: MAX_OPTIONS,
        additionalProperties: false,
        description: 'Agent options (ip, username, password, plug, ...), as `<agent> -o metadata` lists them.',
        [ERROR_CODE_KEYWORD]: 'FENCE_OPTION_INVALID',
      },
    ),
  },
  { additionalProperties: false },
);
export type FenceDevice = Static<typeof FenceDevice>;

const AGENT_NAME = new RegExp(FENCE_AGENT_NAME_PATTERN);
const OPTION_KEY = new RegExp(FENCE_OPTION_KEY_PATTERN);
const OPTION_VALUE = new RegExp(FENCE_OPTION_VALUE_PATTERN, 'u');

/**
 * Keys refused whatever the agent: `action`/`option` choose the action, which Drover sets per call
 * (a stored action=on would turn "off" into "on"); `help` and `version` make an agent print text
 * and exit 0 without touching the device, which would read as success; the rest name a program
 * the agent runs as root (ipmitool_path, password_script, ssh_options' ProxyCommand) or a file it
 * writes (debug_file). fencing.py maps "-" to "_", so both spellings are refused.
 */
function refusedKeyReason(key: string): string | undefined {
  const name = key.replaceAll('-', '_');
  if (name === 'action' || name === 'option') return 'Drover sets the action itself';
  if (name === 'help' || name === 'version') return 'it makes the agent print text and exit without acting';
  if (name.endsWith('_path') || name.endsWith('_script') || name === 'ssh_options') return 'it names a program for the agent to run';
  if (name === 'debug' || name === 'debug_file') return 'it names a file for the agent to write';
  return undefined;
}

/** Throws FENCE_AGENT_NOT_FOUND unless `name` looks like a fence agent's program name. */
export function checkAgentName(name: string): void {
  if (!AGENT_NAME.test(name) || name.length > 64) {
    throw new DroverError('FENCE_AGENT_NOT_FOUND', `"${name.slice(0, 64)}" is not a fence agent name (fence_ and lowercase letters, digits, "_")`);
  }
}

/** Throws FENCE_OPTION_INVALID for the first option that could inject or misdirect; the detail never holds a value. */
export function checkFenceOptions(options: Record<string, string>): void {
  const keys = Object.keys(options);
  if (keys.length > MAX_OPTIONS) throw new DroverError('FENCE_OPTION_INVALID', `at most ${MAX_OPTIONS} options`);
  for (const key of keys) {
    // Printed with JSON.stringify so a key with a line break cannot forge lines of an error or log.
    if (!OPTION_KEY.test(key)) throw new DroverError('FENCE_OPTION_INVALID', `option name ${JSON.stringify(key.slice(0, 64))} is not lowercase letters, digits, "_" and "-"`);
    const refused = refusedKeyReason(key);
    if (refused) throw new DroverError('FENCE_OPTION_INVALID', `option ${key} is not accepted: ${refused}`);
    const value: unknown = options[key];
    if (typeof value !== 'string') throw new DroverError('FENCE_OPTION_INVALID', `option ${key} must be a string`);
    if (value.length > MAX_VALUE_LENGTH) throw new DroverError('FENCE_OPTION_INVALID', `option ${key} is longer than ${MAX_VALUE_LENGTH} characters`);
    if (!OPTION_VALUE.test(value)) throw new DroverError('FENCE_OPTION_INVALID', `option ${key} contains a line break or NUL`);
    // fencing.py strips each stdin line and a pair of surrounding double quotes, so such a value
    // would reach the device changed (a password with a trailing space would silently fail login).
    if (value.trim() !== value) throw new DroverError('FENCE_OPTION_INVALID', `option ${key} starts or ends with whitespace, which the agents strip`);
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      throw new DroverError('FENCE_OPTION_INVALID', `option ${key} is wrapped in double quotes, which the agents strip`);
    }
  }
}

/** Throws unless `device` has a valid agent name and options (the checks of checkAgentName and checkFenceOptions). */
export function checkFenceDevice(device: FenceDevice): void {
  checkAgentName(device.agent);
  checkFenceOptions(device.options);
}

/**
 * True for options whose value is a secret: passwords (password, passwd, snmp_priv_passwd), keys
 * (secret_key, access_key, apikey, IPMI's hexadecimal_kg), tokens and SNMP communities. Matching
 * a few harmless ones too (password_script, token_file) only hides a path.
 */
export function isSecretOption(key: string): boolean {
  const name = key.toLowerCase().replaceAll('-', '_');
  return /pass|secret|key|token|community|credential|auth_string/.test(name) || name === 'kg' || name.endsWith('_kg');
}

/** `options` with every secret value replaced by "***", for logs and API answers. */
export function redactOptions(options: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(options).map(([key, value]) => [key, isSecretOption(key) && value !== '' ? '***' : value]));
}

/**
 * `text` with every secret option value removed, also as JSON and URL escaping would write it.
 * Agents do echo them: pexpect-based agents log what they type at a login prompt when verbose.
 */
export function redactText(text: string, options: Record<string, string>): string {
  const secrets = new Set<string>();
  for (const [key, value] of Object.entries(options)) {
    if (!isSecretOption(key) || value === '') continue;
    secrets.add(value);
    secrets.add(JSON.stringify(value).slice(1, -1));
    secrets.add(encodeURIComponent(value));
  }
  let out = text;
  // Longest first, so a secret that contains another is removed whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.replaceAll(secret, '***');
  return out;
}
