import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../src/shared/paths.js';
import { destroyContainers } from '../../src/drivers/container/driver.js';
import { jsonApi, type ApiCall } from './http.js';

/** A host agent process started by a test, on its own temp data dir. */
export interface TestAgent {
  url: string;
  token: string;
  dataDir: string;
  process: ChildProcess;
  /** Calls the agent API; returns status and parsed JSON (or text). */
  api: ApiCall;
  /** Stops the agent process only (its VMs keep running). */
  stopProcess: (signal?: NodeJS.Signals) => Promise<void>;
}

/** Makes a temp data dir with a short path (unix socket paths are limited to 108 bytes). */
export function makeDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drv-'));
}

/** Starts `drover agent` from source on 127.0.0.1 with a free port and waits until it serves. */
export async function startAgent(dataDir: string, opts: { sharedStorage?: string } = {}): Promise<TestAgent> {
  const extra = opts.sharedStorage ? ['--shared-storage', opts.sharedStorage] : [];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'agent', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...extra],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start:\n${output}`)), 60_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code}:\n${output}`));
    });
  });
  const token = fs.readFileSync(path.join(dataDir, 'agent.token'), 'utf8').trim();
  const api = jsonApi(url, token);
  const stopProcess = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  return { url, token, dataDir, process: child, api, stopProcess };
}

/** Kills every QEMU and container this data dir's agent started (by the pids it recorded) and removes the dir. */
export async function cleanupDataDir(dataDir: string): Promise<void> {
  await destroyContainers(path.join(dataDir, 'containers'));
  const runDir = path.join(dataDir, 'run');
  if (fs.existsSync(runDir)) {
    for (const id of fs.readdirSync(runDir)) {
      const pidFile = path.join(runDir, id, 'qemu.pid');
      const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : NaN;
      if (!Number.isInteger(pid)) continue;
      try {
        // Only our own QEMU: its command line names this VM's runtime directory.
        if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join(runDir, id))) process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}

/** A suite's agent: started on a fresh data dir before the suite; `agent` may be replaced by a restart. */
export interface AgentSuite {
  dataDir: string;
  agent: TestAgent;
}

/** Starts an agent before the suite, and after it stops the agent, kills its QEMUs and removes the data dir. */
export function useAgent(): AgentSuite {
  const suite = { dataDir: makeDataDir() } as AgentSuite;
  before(async () => {
    suite.agent = await startAgent(suite.dataDir);
  });
  after(async () => {
    await suite.agent?.stopProcess();
    await cleanupDataDir(suite.dataDir);
  });
  return suite;
}
