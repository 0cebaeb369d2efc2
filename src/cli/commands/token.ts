import { Option, type Command } from 'commander';
import type { TokenWire } from '../../controller/auth/schema.js';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { printJson, printObject, printTable } from '../output.js';

/** `drover token create|list|revoke`. */
export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens: each script, person or tool gets its own');

  const create = token
    .command('create')
    .description('Create a token; its secret is shown this once')
    .argument('<name>', 'token name: lowercase letters, digits and "-"')
    .addOption(new Option('--role <role>', 'what the token may do').choices(['admin']));
  withOutput(create).action(async (name: string, opts: OutputOptions & { role?: string }) => {
    const created = await apiClient().request<{ token: TokenWire; secret: string }>('POST', apiPath('tokens'), { name, ...(opts.role ? { role: opts.role } : {}) });
    if (opts.output === 'json') return printJson(created);
    printObject({ name: created.token.name, role: created.token.role, secret: created.secret }, 'table');
    process.stderr.write('Store the secret now: it is not shown again. Use it as DROVER_TOKEN.\n');
  });

  withOutput(token.command('list').description('List tokens (never their secrets)')).action(async (opts: OutputOptions) => {
    const { tokens } = await apiClient().request<{ tokens: TokenWire[] }>('GET', apiPath('tokens'));
    printTable(
      tokens,
      { name: (t) => t.name, role: (t) => t.role, created: (t) => t.createdAt, 'last used': (t) => t.lastUsedAt ?? 'never', revoked: (t) => t.revokedAt },
      opts.output,
    );
  });

  withOutput(token.command('revoke').description('Revoke a token: it stops working at once').argument('<name>', 'token name')).action(
    async (name: string, opts: OutputOptions) => {
      const revoked = await apiClient().request<TokenWire>('DELETE', apiPath('tokens', name));
      if (opts.output === 'json') printJson(revoked);
      else process.stdout.write(`revoked token ${name}\n`);
    },
  );
}
