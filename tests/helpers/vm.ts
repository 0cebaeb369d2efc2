import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestAgent } from './agent.js';
import type { ApiCall } from './http.js';

/** Anything with the guest routes (an agent or the controller). */
export interface GuestApi {
  api: ApiCall;
}

export interface VmView {
  id: string;
  name: string;
  state: string;
  guestReady: boolean;
  cpuModel?: string;
  startedAt?: string;
  pid?: number;
  crashReason?: string;
  disks: Array<{ name: string; path: string; readOnly: boolean }>;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Boot under TCG takes seconds; give readiness generous room on a loaded 2-core machine. */
export const READY_TIMEOUT_MS = 120_000;

/** Creates a VM from the tiny image and asserts success. */
export async function createVm(agent: TestAgent, body: Record<string, unknown>): Promise<VmView> {
  const res = await agent.api<VmView>('POST', '/api/v1/vms', { image: 'tiny', memoryMiB: 256, ...body });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Starts a VM and waits until its guest agent answers. */
export async function startReady(agent: TestAgent, name: string): Promise<VmView> {
  const started = await agent.api<VmView>('POST', `/api/v1/vms/${name}/start`);
  assert.equal(started.status, 200, JSON.stringify(started.body));
  const ready = await agent.api<VmView>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: READY_TIMEOUT_MS });
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
  assert.equal(ready.body.guestReady, true);
  return ready.body;
}

/** Runs a shell command in the guest and returns its result. */
export async function sh(agent: GuestApi, name: string, script: string, timeoutMs = 60_000): Promise<ExecResult> {
  const res = await agent.api<ExecResult>('POST', `/api/v1/vms/${name}/exec`, { command: '/bin/sh', args: ['-c', script], timeoutMs });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** Runs a shell command in the guest and returns stdout, asserting exit code 0. */
export async function shOk(agent: GuestApi, name: string, script: string, timeoutMs = 60_000): Promise<string> {
  const result = await sh(agent, name, script, timeoutMs);
  assert.equal(result.exitCode, 0, `guest command failed: ${script}\n${result.stderr}`);
  return result.stdout;
}

/**
 * Runs a shell command in the guest (each try up to 30 s) until it exits 0, for up to `timeoutMs`; returns its
 * stdout, or fails with `what` and the last result.
 */
export async function shUntilOk(agent: GuestApi, name: string, script: string, what: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: ExecResult | undefined;
  while (Date.now() < deadline) {
    last = await sh(agent, name, script, 30_000);
    if (last.exitCode === 0) return last.stdout;
    await delay(1_000);
  }
  assert.fail(`${what}: ${JSON.stringify(last)}`);
}

/** Polls until `check` passes or the timeout expires. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return await check();
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
  throw lastError;
}
