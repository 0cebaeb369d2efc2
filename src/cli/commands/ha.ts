import { InvalidArgumentError, type Command } from 'commander';
import type { HaSettingsChange, HaStatus } from '../../controller/ha/service.js';
import type { HaConfig } from '../../ha/timings.js';
import { DEFAULT_HA_TIMINGS, DEFAULT_GUEST_MONITORING } from '../../ha/timings.js';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { printJson, printObject, printTable } from '../output.js';

/** An age in milliseconds for a table: `0.4s`, or `-` when never seen. */
function age(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`;
}

/** A duration for `ha settings set`: `6s`, `1500ms`, `2m`, or plain milliseconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`"${text}" is not a duration: give 6s, 1500ms, 2m or milliseconds`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms'] ?? 1;
  return Math.round(Number(match[1]) * factor);
}

/** Collects `KEY=VALUE` pairs of `ha settings set` into the change they make; unknown keys are refused with the known ones. */
export function collectSetting(pair: string, change: HaSettingsChange = {}): HaSettingsChange {
  const at = pair.indexOf('=');
  if (at < 1) throw new InvalidArgumentError(`"${pair}" is not KEY=VALUE`);
  const key = pair.slice(0, at);
  const value = pair.slice(at + 1);
  if (key === 'relocationLimit') {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError('relocationLimit is a whole number');
    return { ...change, relocationLimit: Number(value) };
  }
  if (key in DEFAULT_HA_TIMINGS) return { ...change, timings: { ...change.timings, [key]: parseDurationMs(value) } };
  if (key in DEFAULT_GUEST_MONITORING) {
    const parsed = key === 'maxResets' ? Number(value) : parseDurationMs(value);
    if (!Number.isInteger(parsed)) throw new InvalidArgumentError('maxResets is a whole number');
    return { ...change, guestMonitoring: { ...change.guestMonitoring, [key]: parsed } };
  }
  throw new InvalidArgumentError(`unknown setting ${key}; known: ${[...Object.keys(DEFAULT_HA_TIMINGS), ...Object.keys(DEFAULT_GUEST_MONITORING), 'relocationLimit'].join(', ')}`);
}

/** Prints the HA configuration: one `key: value` line each, durations in seconds. */
function printSettings(config: HaConfig): void {
  const seconds = (ms: number) => `${ms / 1000} s`;
  printObject(
    {
      ...Object.fromEntries(Object.entries(config.timings).map(([k, v]) => [k, seconds(v)])),
      ...Object.fromEntries(Object.entries(config.guestMonitoring).map(([k, v]) => [k, k === 'maxResets' ? v : seconds(v)])),
      relocationLimit: config.relocationLimit,
    },
    'table',
  );
}

/** `drover ha status`, `drover ha settings show|set`. */
export function registerHaCommands(program: Command): void {
  const ha = program.command('ha').description('High availability: host liveness, fencing and protected VMs');
  withOutput(ha.command('status').description('Each host\'s lease and storage heartbeat, fencing, the protected VMs, failovers in progress and the admission figures')).action(
    async (opts: OutputOptions) => {
      const status = await apiClient().request<HaStatus>('GET', apiPath('ha', 'status'));
      if (opts.output === 'json') return printJson(status);
      printTable(
        status.hosts,
        {
          host: (h) => h.name,
          liveness: (h) => h.liveness,
          lease: (h) => age(h.leaseAgeMs),
          'storage heartbeat': (h) => age(h.storageHeartbeatAgeMs),
          watchdog: (h) => (h.watchdog ? 'yes' : 'no'),
          'fence device': (h) => (h.fenceDevice ? 'yes' : 'no'),
          fence: (h) => h.fence,
        },
        'table',
      );
      process.stdout.write('\n');
      printTable(
        status.vms,
        {
          vm: (v) => v.name,
          host: (v) => v.host ?? '-',
          priority: (v) => v.priority,
          isolation: (v) => v.isolation,
          phase: (v) => v.phase + (v.waiting ? ` (${v.waiting})` : ''),
          generation: (v) => v.generation,
          failed: (v) => v.failedReason ?? '',
        },
        'table',
      );
      const a = status.admission;
      process.stdout.write(`\nadmission: ${a.haHostFailures === 0 ? 'off (cluster policy --ha-host-failures 0)' : `${a.admitted ? 'ok' : 'VIOLATED'} for ${a.haHostFailures} host failure(s): ${a.reason}`}\n`);
    },
  );

  const settings = ha.command('settings').description('HA timings, guest monitoring and the relocation limit');
  withOutput(settings.command('show').description('Show the HA configuration in force')).action(async (opts: OutputOptions) => {
    const config = await apiClient().request<HaConfig>('GET', apiPath('ha', 'settings'));
    if (opts.output === 'json') return printJson(config);
    printSettings(config);
  });
  withOutput(
    settings
      .command('set')
      .description('Change HA settings: KEY=VALUE pairs, durations as 6s, 1500ms or 2m (e.g. leaseExpiryMs=8s selfFenceMs=8s noAnswerResetMs=30s)')
      .argument('<setting...>', 'KEY=VALUE', (pair: string, previous: HaSettingsChange | undefined) => collectSetting(pair, previous)),
  ).action(async (change: HaSettingsChange, opts: OutputOptions) => {
    const config = await apiClient().request<HaConfig>('PUT', apiPath('ha', 'settings'), change);
    if (opts.output === 'json') return printJson(config);
    printSettings(config);
  });
}
