/**
 * The `drover` CLI given several controller URLs, the first of them down: its real entry point
 * (src/cli/main.ts, in a child process) against an in-process controller listening on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testController } from '../controller/api/testing.js';
import { ApiClient, apiPath } from './client.js';
import { sampleHost } from '../controller/store/fixtures.js';
import { closedPort } from '../shared/network-test-support.js';
import { repoRoot } from '../shared/paths.js';

const MAIN = path.join(repoRoot, 'src', 'cli', 'main.ts');

/** Runs `drover ARGS` through its main module with `env` on top of a config-less environment. */
function drover(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('drover host list moves on when the first controller URL is down', async (t) => {
  const controller = await testController();
  t.after(() => controller.close());
  await controller.store.hosts.insert(sampleHost({ id: 'h-alpha', name: 'alpha' }));
  const url = await controller.app.listen({ host: '127.0.0.1', port: 0 });
  const down = `http://127.0.0.1:${await closedPort()}`;
  const configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-cli-config-'));
  t.after(() => fs.rmSync(configHome, { recursive: true, force: true }));
  const env = { XDG_CONFIG_HOME: configHome, DROVER_TOKEN: controller.secret };

  const viaFlag = await drover(['--controller', `${down},${url}`, 'host', 'list', '-o', 'json'], env);
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  assert.deepEqual((JSON.parse(viaFlag.stdout) as { name: string }[]).map((h) => h.name), ['alpha']);

  const flagAfterCommand = await drover(['host', 'list', '-o', 'json', '--controller', `${down},${url}`], { ...env, DROVER_URL: down });
  assert.equal(flagAfterCommand.code, 0, `--controller after the command overrides DROVER_URL: ${flagAfterCommand.stderr}`);

  const viaEnvironment = await drover(['host', 'list', '-o', 'json'], { ...env, DROVER_URL: `${down}, ${url}/` });
  assert.equal(viaEnvironment.code, 0, viaEnvironment.stderr);

  fs.mkdirSync(path.join(configHome, 'drover'));
  fs.writeFileSync(path.join(configHome, 'drover', 'config.json'), JSON.stringify({ url: `${down},${url}`, token: controller.secret }));
  const viaConfig = await drover(['host', 'list', '-o', 'json'], { XDG_CONFIG_HOME: configHome });
  assert.equal(viaConfig.code, 0, viaConfig.stderr);
});

test('drover names every controller URL and why when none answers, and refuses a malformed one', async (t) => {
  const configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-cli-config-'));
  t.after(() => fs.rmSync(configHome, { recursive: true, force: true }));
  const first = `http://127.0.0.1:${await closedPort()}`;
  const second = `http://127.0.0.1:${await closedPort()}`;
  const env = { XDG_CONFIG_HOME: configHome, DROVER_TOKEN: 'unused' };
  const down = await drover(['--controller', `${first},${second}`, 'vm', 'list', '-o', 'json'], env);
  assert.equal(down.code, 1);
  const error = JSON.parse(down.stderr) as { code: string; detail: string };
  assert.equal(error.code, 'CONTROLLER_UNREACHABLE');
  assert.match(error.detail, new RegExp(`${first} refused the connection; ${second} refused the connection`));

  const malformed = await drover(['--controller', `${first},ftp://x`, 'vm', 'list'], env);
  assert.equal(malformed.code, 2, 'a usage error');
  assert.match(malformed.stderr, /must start with http:\/\/ or https:\/\//);
});

test('the event stream and the console WebSocket also start on a controller that answers', async (t) => {
  const controller = await testController({ eventStreamHeartbeatMs: 50 });
  t.after(() => controller.close());
  const url = await controller.app.listen({ host: '127.0.0.1', port: 0 });
  const down = `http://127.0.0.1:${await closedPort()}`;

  const streaming = new ApiClient({ urls: [down, url], token: controller.secret });
  const stop = new AbortController();
  t.after(() => stop.abort());
  const res = await streaming.stream(apiPath('events', 'stream'), {}, stop.signal);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = res.body?.getReader();
  const first = await reader?.read();
  assert.ok(first && !first.done && first.value.byteLength > 0, 'the stream flows');
  stop.abort();
  await assert.rejects(async () => {
    // What had arrived before the abort may still be read; then the read fails with the abort, as fetch's body does.
    for (;;) if ((await reader?.read())?.done !== false) throw new Error('the stream ended without the abort');
  }, { name: 'AbortError' });

  const consoleClient = new ApiClient({ urls: [down, url], token: controller.secret });
  assert.equal(await consoleClient.workingUrl(), url, 'the console WebSocket opens on the controller that answered /healthz');
});
