/**
 * The commands the CLI benchmark times: the drover CLI and curl asking the controller the same thing, plus
 * Node.js and `drover --version` alone for the startup share. Each checks its own output, so a run that printed
 * an error instead of the answer counts as failed rather than as fast.
 */
import path from 'node:path';

/** What a timed command needs to know about the controller it asks. */
export interface Target {
  url: string;
  token: string;
  vmCount: number;
}

/** One timed command; `args` gets the VM this round asks about (the same for drover and curl). */
export interface TimedCommand {
  name: string;
  label: string;
  file: string;
  args: (vm: string) => string[];
  env?: NodeJS.ProcessEnv;
  /** Undefined when `stdout` is the expected answer, else what is wrong with it. */
  check: (stdout: string, vm: string) => string | undefined;
}

function parse(stdout: string): unknown {
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    return undefined;
  }
}

function checkList(expected: number): (stdout: string) => string | undefined {
  return (stdout) => {
    const value = parse(stdout);
    // The API wraps the list ({ vms: [...] }); `drover vm list -o json` prints the array.
    const list = Array.isArray(value) ? value : (value as { vms?: unknown } | undefined)?.vms;
    if (!Array.isArray(list)) return `not a JSON list of VMs: ${stdout.slice(0, 120)}`;
    return list.length === expected ? undefined : `listed ${list.length} VMs, expected ${expected}`;
  };
}

function checkShow(stdout: string, vm: string): string | undefined {
  const name = (parse(stdout) as { name?: unknown } | undefined)?.name;
  return name === vm ? undefined : `not VM ${vm} as JSON: ${stdout.slice(0, 120)}`;
}

/** The commands, in the order each round runs them. */
export function timedCommands(repoRoot: string, target: Target): TimedCommand[] {
  const drover = path.join(repoRoot, 'bin', 'drover');
  const env = { ...process.env, DROVER_URL: target.url, DROVER_TOKEN: target.token };
  const curl = (route: (vm: string) => string) => (vm: string) => ['-sS', '--fail', '-H', `Authorization: Bearer ${target.token}`, `${target.url}${route(vm)}`];
  return [
    { name: 'node', label: "node -e '' (Node.js startup alone)", file: process.execPath, args: () => ['-e', ''], check: () => undefined },
    {
      name: 'drover-version',
      label: 'drover --version (CLI startup)',
      file: drover,
      args: () => ['--version'],
      check: (stdout) => (/^\d+\.\d+\.\d+/.test(stdout.trim()) ? undefined : `not a version: ${stdout.slice(0, 120)}`),
    },
    { name: 'drover-list', label: 'drover vm list -o json', file: drover, args: () => ['vm', 'list', '-o', 'json'], env, check: checkList(target.vmCount) },
    { name: 'curl-list', label: 'curl /api/v1/vms', file: 'curl', args: curl(() => '/api/v1/vms'), check: checkList(target.vmCount) },
    { name: 'drover-show', label: 'drover vm show NAME -o json', file: drover, args: (vm) => ['vm', 'show', vm, '-o', 'json'], env, check: checkShow },
    { name: 'curl-show', label: 'curl /api/v1/vms/NAME', file: 'curl', args: curl((vm) => `/api/v1/vms/${vm}`), check: checkShow },
  ];
}

/** Pairs whose median difference is the CLI's overhead over a plain HTTP client, as [drover, curl] names. */
export const OVERHEAD_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['drover-list', 'curl-list'],
  ['drover-show', 'curl-show'],
];
