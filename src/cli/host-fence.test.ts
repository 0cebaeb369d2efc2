/**
 * `drover host fence ...`: the option parser, and the commands parsed by commander and run
 * against an in-process controller listening on loopback, with the simulated fence agent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { testController } from '../controller/api/testing.js';
import { sampleHost } from '../controller/store/fixtures.js';
import { ownedTempDir } from '../fencing/test-support.js';
import { collectFenceOption } from './commands/host-fence.js';
import { registerHostCommands } from './commands/host.js';

test('--option takes key=value, keeps "=" in values and refuses a key given twice', () => {
  const options = ['ip=10.0.0.9', 'password=a=b', 'plug='].reduce<Record<string, string>>((all, value) => collectFenceOption(value, all), {});
  assert.deepEqual(options, { ip: '10.0.0.9', password: 'a=b', plug: '' });
  assert.throws(() => collectFenceOption('lanplus', {}), InvalidArgumentError);
  assert.throws(() => collectFenceOption('=x', {}), InvalidArgumentError);
  assert.throws(() => collectFenceOption('ip=10.0.0.8', { ip: '10.0.0.9' }), /given twice/);
  assert.deepEqual(Object.keys(collectFenceOption('__proto__=x', {})), ['__proto__'], 'an own key the controller will refuse, not a prototype');
});

/** Runs `drover ARGS` in-process against `env`'s controller; returns what it printed, or throws what it threw. */
async function drover(env: { url: string; token: string }, args: string[]): Promise<string> {
  const program = new Command('drover').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  registerHostCommands(program);
  let printed = '';
  const saved = { url: process.env.DROVER_URL, token: process.env.DROVER_TOKEN, write: process.stdout.write };
  process.env.DROVER_URL = env.url;
  process.env.DROVER_TOKEN = env.token;
  // Only for the command's run: the test runner reports after the test, through the real write.
  // The commands write strings only, so this one-signature stand-in covers write's overloads.
  process.stdout.write = ((chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = saved.write;
    if (saved.url === undefined) delete process.env.DROVER_URL;
    else process.env.DROVER_URL = saved.url;
    if (saved.token === undefined) delete process.env.DROVER_TOKEN;
    else process.env.DROVER_TOKEN = saved.token;
  }
  return printed;
}

test('drover host fence set, show, test and remove against a controller', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha' }));
  const url = await controller.app.listen({ host: '127.0.0.1', port: 0 });
  const env = { url, token: controller.secret };
  const stateDir = ownedTempDir(t);

  const set = JSON.parse(
    await drover(env, ['host', 'fence', 'set', 'alpha', '--agent', 'fence_drover_simulated', '--option', 'plug=alpha', '--option', `state-dir=${stateDir}`, '--option', 'password=s3=cret', '-o', 'json']),
  ) as { options: Record<string, string> };
  assert.deepEqual(set.options, { plug: 'alpha', 'state-dir': stateDir, password: '***' });
  assert.equal((await controller.store.hosts.get('h-alpha'))?.fenceDevice?.options.password, 's3=cret', 'the value after the first "=" is the password, whole');

  const shown = await drover(env, ['host', 'fence', 'show', 'alpha']);
  assert.match(shown, /^host: alpha\nagent: fence_drover_simulated\noptions: plug=alpha state-dir=\S+ password=\*\*\*\nset: \S+ by admin\n$/);
  assert.match(await drover(env, ['host', 'show', 'alpha']), /^fence: fence_drover_simulated \(set \S+\)$/m);

  assert.match(await drover(env, ['host', 'fence', 'test', 'alpha']), /^fence_drover_simulated answered status for host alpha: power on\n {2}Status: ON\n$/);
  assert.deepEqual(JSON.parse(await drover(env, ['host', 'fence', 'test', 'alpha', '-o', 'json'])), { host: 'alpha', agent: 'fence_drover_simulated', action: 'status', reachable: true, state: 'on', output: 'Status: ON' });

  assert.equal(await drover(env, ['host', 'fence', 'remove', 'alpha']), 'removed the fence device of host alpha\n');
  await assert.rejects(drover(env, ['host', 'fence', 'show', 'alpha']), (err: Error & { code?: string; status?: number }) => err.code === 'HOST_FENCE_NOT_SET' && err.status === 404);
  await assert.rejects(
    drover(env, ['host', 'fence', 'set', 'alpha', '--agent', 'fence_drover_simulated', '--option', 'plug=alpha', '--option', 'colour=red']),
    (err: Error & { code?: string }) => err.code === 'FENCE_OPTION_INVALID' && /colour/.test(err.message),
  );

  // Usage errors never reach the controller.
  const usage = async (args: string[], code: string) =>
    assert.rejects(drover(env, args), (err) => err instanceof CommanderError && err.code === code, args.join(' '));
  await usage(['host', 'fence', 'set', 'alpha', '--option', 'plug=alpha'], 'commander.missingMandatoryOptionValue');
  await usage(['host', 'fence', 'set', 'alpha', '--agent', 'fence_drover_simulated', '--option', 'lanplus'], 'commander.invalidArgument');
  await usage(['host', 'fence', 'show'], 'commander.missingArgument');
  await usage(['host', 'fence', 'reboot', 'alpha'], 'commander.unknownCommand');
});
