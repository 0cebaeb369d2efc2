import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../src/shared/paths.js';
import { run, type RunResult } from '../../src/shared/exec.js';
import { jsonApi, type ApiCall } from './http.js';
import { cleanupDataDir } from './agent.js';

/** A `drover up` process started by a test: controller plus local agent on a temp data dir. */
export interface TestDrover {
  url: string;
  token: string;
  dataDir: string;
  configHome: string;
  process: ChildProcess;
  api: ApiCall;
  /** Waits for an operation to end and returns it. */
  waitOp: (id: string) => Promise<{ state: string; error: { code: string } | null; result: unknown }>;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

/**
 * Starts `drover up --port 0` from source on `dataDir` and waits until it prints its URL and token.
 * `listen` is passed as `--listen` when given (drover up's default is 127.0.0.1); `port` 0 picks a free one
 * (a controller restarted for agents that know its address needs the same port again).
 */
export async function startDrover(dataDir: string, configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'drv-cfg-')), listen?: string, port = 0): Promise<TestDrover> {
  const args = ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'up', '--data-dir', dataDir, '--port', String(port), ...(listen ? ['--listen', listen] : [])];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, XDG_CONFIG_HOME: configHome },
  });
  const { url, token } = await upBanner(child, 90_000);
  const api = jsonApi(url, token);
  const waitOp = async (id: string) => {
    for (let i = 0; i < 600; i++) {
      const op = (await api<{ state: string; error: { code: string } | null; result: unknown }>('GET', `/api/v1/operations/${id}?wait=10`)).body;
      if (['succeeded', 'failed', 'cancelled'].includes(op.state)) return op;
    }
    throw new Error(`operation ${id} did not finish`);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  return { url, token, dataDir, configHome, process: child, api, waitOp, stop };
}

/**
 * Waits until a spawned `drover up` prints its URL (http...) and admin token (drv_...) on stdout or stderr;
 * rejects with its output when it exits first or takes longer than `timeoutMs`.
 */
export function upBanner(child: ChildProcess, timeoutMs: number): Promise<{ url: string; token: string }> {
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`drover up did not start within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const url = /^URL: (http\S+)$/m.exec(output)?.[1];
      const token = /^Token: (drv_\S+)$/m.exec(output)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ url, token });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`drover up exited with ${code}:\n${output}`));
    });
  });
}

/** Deletes every VM the controller lists (forced, waiting for each deletion), for a suite's clean-up; no-op without a controller. */
export async function deleteEveryVm(drover: TestDrover | undefined): Promise<void> {
  for (const vm of (await drover?.api<{ vms: Array<{ name: string }> }>('GET', '/api/v1/vms').catch(() => undefined))?.body.vms ?? []) {
    const res = await drover?.api<{ operation: { id: string } }>('DELETE', `/api/v1/vms/${vm.name}?force=true`);
    if (res?.status === 202) await drover?.waitOp(res.body.operation.id);
  }
}

/** Kills the QEMU processes of a `drover up` data dir (by recorded pid) and removes it and the config home. */
export async function cleanupDrover(drover: TestDrover | undefined, dataDir: string): Promise<void> {
  await drover?.stop('SIGKILL');
  await cleanupDataDir(path.join(dataDir, 'host'));
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (drover) fs.rmSync(drover.configHome, { recursive: true, force: true });
}

/** Pids of live QEMU processes whose command line mentions `dir`. */
export function qemuPidsUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmdline.startsWith('qemu-system') && cmdline.includes(dir) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Runs the CLI from source against `drover`'s controller. */
export function droverCli(drover: () => TestDrover): (args: string[], timeoutMs?: number) => Promise<RunResult> {
  return (args, timeoutMs = 180_000) =>
    run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, DROVER_URL: drover().url, DROVER_TOKEN: drover().token, XDG_CONFIG_HOME: drover().configHome },
      allowFailure: true,
      timeoutMs,
    });
}

/** Polls `check` every 100 ms until it is true; false when `timeoutMs` passes first. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}
