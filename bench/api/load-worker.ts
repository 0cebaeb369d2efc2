/**
 * The load generator, run in its own process (see load.ts) so that it never competes with the controller for the
 * controller's event loop. It receives one LoadRequest over IPC, answers with one LoadReply and exits.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { LoadReply, LoadRequest } from './load.js';

/** No request of the benchmark should take this long; one that does is recorded as a failure. */
const REQUEST_TIMEOUT_MS = 30_000;

interface Sample {
  ms: number;
  error?: string;
}

function get(agent: http.Agent, url: URL, token: string): Promise<Sample> {
  return new Promise((resolve) => {
    const started = performance.now();
    const request = http.get(url, { agent, headers: { authorization: `Bearer ${token}` }, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => {
        const ms = performance.now() - started;
        resolve(response.statusCode === 200 && bytes > 0 ? { ms } : { ms, error: `HTTP ${response.statusCode ?? '?'} (${bytes} bytes)` });
      });
      response.on('error', (err) => resolve({ ms: performance.now() - started, error: err.message }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', (err) => resolve({ ms: performance.now() - started, error: err.message }));
  });
}

/** Sends every path, `concurrency` at a time, and returns the samples in completion order. */
async function drive(agent: http.Agent, load: LoadRequest, paths: readonly string[]): Promise<Sample[]> {
  const samples: Sample[] = [];
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < paths.length) {
      const path = paths[next++] as string; // next < length was checked before the increment
      samples.push(await get(agent, new URL(path, load.url), load.token));
    }
  };
  await Promise.all(Array.from({ length: load.concurrency }, loop));
  return samples;
}

async function run(load: LoadRequest): Promise<LoadReply> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: load.concurrency });
  try {
    await drive(agent, load, load.warmupPaths);
    const started = performance.now();
    const samples = await drive(agent, load, load.paths);
    const wallMs = performance.now() - started;
    return {
      samples: samples.filter((s) => s.error === undefined).map((s) => Math.round(s.ms * 100) / 100),
      failures: samples.flatMap((s, index) => (s.error === undefined ? [] : [`request ${index + 1}: ${s.error}`])),
      wallMs,
    };
  } finally {
    agent.destroy();
  }
}

process.once('message', (load: LoadRequest) => {
  run(load).then(
    (reply) => process.send?.(reply, () => process.disconnect()),
    (err: unknown) => process.send?.({ samples: [], failures: [`load generator crashed: ${String(err)}`], wallMs: 0 }, () => process.disconnect()),
  );
});
