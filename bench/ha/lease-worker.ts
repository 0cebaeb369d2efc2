/**
 * The simulated hosts of the lease-scale benchmark, in their own process so that they never compete with the
 * controller for its event loop. Two jobs, driven over IPC (lease-protocol.ts):
 *
 * - Renew every host's lease once a second, spread evenly over the second (host i at i/N of it), through one
 *   keep-alive HTTP agent, as each host's agent would (POST /api/v1/ha/lease with its lease credential, the VM list
 *   empty). A host whose previous renewal is still unanswered skips a beat, as the real agent does.
 * - Answer the controller's heartbeat-slot reads (GET <host address>/api/v1/ha/slots) for every host, as an agent
 *   reading the shared pool would: each host's slot changes once a second. A hung host renews nothing, its slot
 *   stops changing, and reads sent through it are held unanswered (the controller times them out).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { leaseCredential } from '../../src/controller/ha/lease-schema.js';
import { percentile } from '../lib/stats.js';
import type { ChildReply, RenewalStats, WorkerRequest } from './lease-protocol.js';

/** The scheduler's tick; renewals due within it are sent together. */
const TICK_MS = 5;
/** A renewal unanswered this long is given up (the real agent gives up after half the lease expiry, 3 s). */
const RENEWAL_TIMEOUT_MS = 3_000;
/** Sockets the keep-alive agent may open to the controller. */
const MAX_SOCKETS = 64;

interface HostState {
  name: string;
  authorization: string;
  body: string;
  inFlight: boolean;
  /** performance.now() when it hung; undefined while it renews. */
  hungAt?: number;
  /** Its slot's sequence number while hung (frozen). */
  frozenSeq?: number;
  /** Date.now() when its last accepted renewal was sent. */
  lastAcceptedSentAt?: number;
}

let hosts: HostState[] = [];
const byName = new Map<string, HostState>();
let server: http.Server | undefined;
let agent: http.Agent | undefined;
let ticker: NodeJS.Timeout | undefined;
const startedAt = performance.now();
const held = new Set<http.ServerResponse>();

let window = freshWindow();
function freshWindow() {
  return { startedAt: performance.now(), sent: 0, accepted: 0, refused: {} as Record<string, number>, errors: 0, skipped: 0, latencies: [] as number[], slotReads: 0, slotReadsHeld: 0, sampleErrors: [] as string[] };
}

/** A host's slot sequence: it changes once a second while the host is alive. */
function seqOf(host: HostState, now: number): number {
  return host.frozenSeq ?? Math.floor((now - startedAt) / 1000);
}

let slotsCache: { second: number; json: string } | undefined;
function slotsJson(now: number): string {
  const second = Math.floor((now - startedAt) / 1000);
  if (slotsCache?.second !== second) {
    slotsCache = { second, json: JSON.stringify(hosts.map((h) => ({ host: h.name, seq: seqOf(h, now), leaseLost: false, vms: [] }))) };
  }
  return slotsCache.json;
}

function serveAgentApi(request: http.IncomingMessage, response: http.ServerResponse): void {
  const match = /^\/h\/([^/]+)(\/.*)$/.exec(request.url ?? '');
  const host = match ? byName.get(match[1] as string) : undefined;
  if (!host || match?.[2] !== '/api/v1/ha/slots') {
    response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"NOT_FOUND"}}');
    return;
  }
  if (host.hungAt !== undefined) {
    // A hung host accepts the connection and never answers.
    window.slotReadsHeld++;
    held.add(response);
    response.on('close', () => held.delete(response));
    return;
  }
  window.slotReads++;
  response.writeHead(200, { 'content-type': 'application/json' }).end(slotsJson(performance.now()));
}

function noteError(text: string): void {
  if (window.sampleErrors.length < 5) window.sampleErrors.push(text);
}

function renew(host: HostState, url: URL): void {
  if (host.inFlight) {
    window.skipped++;
    return;
  }
  host.inFlight = true;
  window.sent++;
  const sent = performance.now();
  const sentAt = Date.now();
  const counted = window;
  const request = http.request(
    url,
    { method: 'POST', agent, headers: { authorization: host.authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(host.body) }, timeout: RENEWAL_TIMEOUT_MS },
    (response) => {
      response.resume();
      response.on('end', () => {
        host.inFlight = false;
        if (response.statusCode === 200) host.lastAcceptedSentAt = sentAt;
        if (counted !== window) return;
        if (response.statusCode === 200) {
          window.accepted++;
          window.latencies.push(performance.now() - sent);
        } else {
          const code = String(response.statusCode ?? '?');
          window.refused[code] = (window.refused[code] ?? 0) + 1;
          noteError(`${host.name}: HTTP ${code}`);
        }
      });
    },
  );
  request.on('timeout', () => request.destroy(new Error(`no answer within ${RENEWAL_TIMEOUT_MS} ms`)));
  request.on('error', (err) => {
    host.inFlight = false;
    if (counted !== window) return;
    window.errors++;
    noteError(`${host.name}: ${err.message}`);
  });
  request.end(host.body);
}

/** Sends each host's renewal once a second, host i at i/N of the second, from now on. */
function startRenewing(controllerUrl: string): void {
  const url = new URL('/api/v1/ha/lease', controllerUrl);
  agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const began = performance.now();
  let due = 0;
  ticker = setInterval(() => {
    const target = Math.floor(((performance.now() - began) * hosts.length) / 1000);
    for (; due < target; due++) {
      const host = hosts[due % hosts.length] as HostState; // index modulo length
      if (host.hungAt === undefined) renew(host, url);
    }
  }, TICK_MS);
  window = freshWindow();
}

function stats(): RenewalStats {
  const w = window;
  window = freshWindow();
  const round = (n: number | undefined) => Math.round((n ?? 0) * 100) / 100;
  return {
    windowMs: Math.round(performance.now() - w.startedAt),
    sent: w.sent,
    accepted: w.accepted,
    refused: w.refused,
    errors: w.errors,
    skipped: w.skipped,
    latency: { p50: round(percentile(w.latencies, 0.5)), p90: round(percentile(w.latencies, 0.9)), p99: round(percentile(w.latencies, 0.99)), max: round(w.latencies.reduce((most, ms) => Math.max(most, ms), 0)) },
    slotReads: w.slotReads,
    slotReadsHeld: w.slotReadsHeld,
    sampleErrors: w.sampleErrors,
  };
}

function host(name: string): HostState {
  const found = byName.get(name);
  if (!found) throw new Error(`no simulated host ${name}`);
  return found;
}

async function handle(request: WorkerRequest): Promise<Record<string, unknown>> {
  switch (request.kind) {
    case 'start': {
      hosts = request.hosts.map((h) => ({
        name: h.name,
        authorization: `Bearer ${leaseCredential(h.agentToken)}`,
        body: JSON.stringify({ host: h.name, vms: [], watchdog: true, leaseLost: false }),
        inFlight: false,
      }));
      for (const h of hosts) byName.set(h.name, h);
      server = http.createServer(serveAgentApi);
      server.keepAliveTimeout = 60_000;
      const listening = server;
      await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
      return { agentBaseUrl: `http://127.0.0.1:${(listening.address() as AddressInfo).port}` };
    }
    case 'renew':
      startRenewing(request.controllerUrl);
      return {};
    case 'hang': {
      const h = host(request.host);
      const now = performance.now();
      h.frozenSeq = seqOf(h, now);
      h.hungAt = now;
      return { at: Date.now(), lastAcceptedSentAt: h.lastAcceptedSentAt ?? null };
    }
    case 'resume': {
      const h = host(request.host);
      delete h.hungAt;
      delete h.frozenSeq;
      for (const response of held) response.destroy();
      return { at: Date.now() };
    }
    case 'stats':
      return { stats: stats() };
    case 'stop':
      if (ticker) clearInterval(ticker);
      for (const response of held) response.destroy();
      agent?.destroy();
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      return {};
  }
}

process.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (result) => {
      process.send?.({ id: request.id, ok: true, ...result } satisfies ChildReply);
      if (request.kind === 'stop') process.disconnect();
    },
    (err: unknown) => process.send?.({ id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies ChildReply),
  );
});

process.on('disconnect', () => process.exit(0));
