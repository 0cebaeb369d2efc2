import type { Command } from 'commander';
import { DroverError } from '../../shared/errors.js';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { integerIn } from '../parse.js';
import { printJson } from '../output.js';

/** Mints a one-time join token through the API; `ttlSeconds` defaults to the controller's (one hour). */
export async function createJoinToken(ttlSeconds?: number): Promise<{ token: string; expiresAt: string }> {
  return apiClient().request('POST', apiPath('hosts', 'join-tokens'), ttlSeconds === undefined ? {} : { ttlSeconds });
}

/**
 * `drover host join-token`, added to the `host` group (so it follows registerHostCommands in COMMAND_GROUPS).
 * Prints the token alone on stdout, so `$(drover host join-token)` works; the hint goes to stderr.
 */
export function registerHostJoinTokenCommand(program: Command): void {
  const host = program.commands.find((command) => command.name() === 'host');
  if (!host) throw new DroverError('INTERNAL', 'the host command group must be registered before join-token');
  const command = host
    .command('join-token')
    .description('Mint a one-time token a new host\'s agent joins with (valid one hour by default)')
    .option('--ttl <seconds>', 'how long the token may be used, 60 to 604800 seconds', integerIn(60, 7 * 86_400));
  withOutput(command).action(async (opts: OutputOptions & { ttl?: number }) => {
    const minted = await createJoinToken(opts.ttl);
    if (opts.output === 'json') return printJson(minted);
    process.stdout.write(`${minted.token}\n`);
    process.stderr.write(
      `Valid once, until ${minted.expiresAt}. On the new host run:\n  drover agent --controller ${apiClient().urls.join(',')} --join-token ${minted.token} --name NAME --listen ADDRESS:7701\n`,
    );
  });
}
