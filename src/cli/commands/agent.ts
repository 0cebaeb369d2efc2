import os from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { DroverError } from '../../shared/errors.js';
import { defaultDataDir } from '../../shared/paths.js';
import { TAG_PATTERN } from '../../shared/names.js';
import { ratioIn } from '../parse.js';
import { controllerUrlsOption } from '../options.js';
import { parseWatchdogSpec, type WatchdogSpec } from '../../agent/watchdog.js';

interface AgentCommandOptions {
  dataDir: string;
  listen: string;
  controller?: string;
  joinToken?: string;
  name?: string;
  advertise?: string;
  tag: string[];
  cpuOvercommit?: number;
  memoryOvercommit?: number;
  sharedStorage?: string;
  watchdog?: WatchdogSpec;
}

/** Commander accumulator for a repeatable --tag (`key=value` or a plain `key`). */
export function collectTag(value: string, previous: string[] = []): string[] {
  if (!TAG_PATTERN.test(value)) throw new InvalidArgumentError('expected key=value or key (letters, digits, ".", "_", "/", "-")');
  return previous.includes(value) ? previous : [...previous, value];
}

/** Commander parser for --watchdog: a bad spec is a usage error naming the flag. */
function watchdogOption(value: string): WatchdogSpec {
  try {
    return parseWatchdogSpec(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof DroverError && err.detail ? err.detail : (err as Error).message);
  }
}

/** This machine's host name as a Drover name (lowercase letters, digits and "-"). */
function defaultHostName(): string {
  return os.hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

/** `drover agent`: runs a host agent in the foreground, optionally joining a controller with a one-time token. */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('Run a host agent in the foreground (VMs it starts keep running when it stops)')
    .option('--data-dir <dir>', 'where VM disks, images and runtime state live', defaultDataDir())
    .option('--listen <addr>', 'host:port to serve the agent API on', '127.0.0.1:7701')
    .option('--controller <urls>', 'controller to join at start (with --join-token); several URLs separated by commas are tried in order, for the join and the HA lease')
    .option('--join-token <token>', 'one-time join token from `drover host join-token`')
    .option('--name <name>', 'host name to join as (default: this machine\'s host name)')
    .option('--advertise <url>', 'URL the controller reaches this agent at (default: the --listen address)')
    .option('--tag <tag>', 'host tag, key=value or key; repeatable', collectTag, [])
    .option('--cpu-overcommit <ratio>', 'vCPUs that may be placed per physical CPU (default 1.0)', ratioIn(0.1, 64))
    .option('--memory-overcommit <ratio>', 'VM memory that may be placed per byte of host memory (default 1.0)', ratioIn(0.1, 16))
    .option('--shared-storage <dir>', 'a directory every host sees at the same path (NAS/NFS), for shared storage')
    .option('--watchdog <spec>', 'the watchdog that resets this host when the agent stops feeding it (HA): /dev/watchdogN, simulated:FILE (testbed hosts) or none', watchdogOption)
    .action(async (_own: AgentCommandOptions, command: Command) => {
      // `drover`'s global --controller takes the flag wherever it is written; it means the same here.
      const opts = command.optsWithGlobals<AgentCommandOptions>();
      if (opts.controller !== undefined) opts.controller = controllerUrlsOption(opts.controller);
      if ((opts.controller === undefined) !== (opts.joinToken === undefined)) {
        throw new DroverError('INVALID_ARGUMENT', '--controller and --join-token go together');
      }
      const join = opts.controller && opts.joinToken
        ? {
            controller: opts.controller,
            joinToken: opts.joinToken,
            name: opts.name ?? defaultHostName(),
            ...(opts.advertise ? { advertise: opts.advertise } : {}),
            tags: opts.tag,
            ...(opts.cpuOvercommit !== undefined ? { cpuOvercommit: opts.cpuOvercommit } : {}),
            ...(opts.memoryOvercommit !== undefined ? { memoryOvercommit: opts.memoryOvercommit } : {}),
          }
        : undefined;
      // Loaded only here: every other command would pay for the agent's start-up otherwise.
      const { runAgent } = await import('../../agent/main.js');
      await runAgent({
        dataDir: opts.dataDir,
        listen: opts.listen,
        ...(join ? { join } : {}),
        ...(opts.sharedStorage ? { sharedStorageDir: opts.sharedStorage } : {}),
        ...(opts.watchdog ? { watchdog: opts.watchdog } : {}),
      });
    });
}
