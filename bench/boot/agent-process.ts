/** A real Drover host agent in its own process (`drover agent`), driven over its authenticated HTTP API. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from '../lib/process.js';

const START_TIMEOUT_MS = 120_000;
const LOG_TAIL_LINES = 20;

/** A running agent: its base URL and bearer token, and the process this benchmark owns. */
export class AgentProcess {
  private constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly child: ChildProcess,
    private readonly output: string[],
  ) {}

  /** Starts `drover agent --data-dir DIR --listen 127.0.0.1:0 [extraArgs]` from the repository and waits until it listens. */
  static async start(repoRoot: string, dataDir: string, extraArgs: string[] = []): Promise<AgentProcess> {
    const args = ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'agent', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...extraArgs];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const collect = (chunk: Buffer): void => {
      output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      output.splice(0, Math.max(output.length - 200, 0));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('error', (err) => output.push(`spawn failed: ${err.message}`));
    const deadline = Date.now() + START_TIMEOUT_MS;
    try {
      while (Date.now() < deadline) {
        const url = output.map((line) => /drover agent listening on (http:\/\/\S+)/.exec(line)?.[1]).find(Boolean);
        if (url) return new AgentProcess(url, fs.readFileSync(path.join(dataDir, 'agent.token'), 'utf8').trim(), child, output);
        if (child.exitCode !== null || child.signalCode !== null) break;
        await sleep(100);
      }
    } catch (err) {
      await stopChild(child);
      throw err;
    }
    await stopChild(child);
    throw new Error(`the host agent did not start: ${output.slice(-LOG_TAIL_LINES).join(' / ') || 'no output'}`);
  }

  /** Calls the agent API; resolves with the parsed JSON body (undefined for 204), throws with the error body otherwise. */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
    const response = await fetch(`${this.baseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route}: HTTP ${response.status}: ${text.trim()}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The agent's recent output, for error reports. */
  logTail(lines = LOG_TAIL_LINES): string {
    return this.output.slice(-lines).join('\n');
  }

  /** Asks the agent to stop (SIGTERM), SIGKILL after 10 s; the VMs it started keep running, so stop them first. */
  async stop(): Promise<void> {
    await stopChild(this.child, 'SIGTERM', 10_000);
  }

  /** The bearer token, e.g. to hand to another agent as a migration destination. */
  get apiToken(): string {
    return this.token;
  }

  /** The agent's pid, for interrupt cleanup. */
  get pid(): number | undefined {
    return this.child.pid;
  }
}
