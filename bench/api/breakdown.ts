/**
 * Where the time of one GET /api/v1/vms goes, measured in-process piece by piece on the idle controller: token
 * check, the SQLite query alone, store read, the route handler (store read, host names, wire mapping), serializing the answer with the
 * route's response schema, and the whole controller pipeline without a socket (inject).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../../src/controller/store/sqlite-store.js';
import { VmListSchema, type VmWire } from '../../src/controller/vms/schema.js';
import { vmWire } from '../../src/controller/vms/wire.js';
import { median } from '../lib/stats.js';
import type { SeededController } from '../lib/seeded-controller.js';

/** Uncounted and counted repetitions of each piece. */
const WARMUP = 20;
const REPEATS = 200;

/** One piece of the request and its median time. */
export interface Phase {
  name: string;
  medianMs: number;
}

/**
 * Median time of each function, called in turn (a, b, c, a, b, c, ...) so that a change in the machine's load
 * hits them all alike and their differences stay meaningful.
 */
async function timeInterleaved(fns: ReadonlyArray<() => Promise<unknown>>): Promise<number[]> {
  const samples = fns.map(() => [] as number[]);
  for (let i = 0; i < WARMUP + REPEATS; i++) {
    for (const [index, fn] of fns.entries()) {
      const started = performance.now();
      await fn();
      if (i >= WARMUP) samples[index]?.push(performance.now() - started);
    }
  }
  return samples.map((s) => median(s) ?? Number.NaN);
}

/**
 * The cost of Fastify's schema serializer for `body`: a bare Fastify route answers it through inject with the
 * route's response schema and without one (JSON.stringify); the difference plus JSON.stringify's own time.
 */
async function schemaSerialization(body: { vms: VmWire[]; next: string | null }): Promise<number> {
  const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
  app.get('/with-schema', { schema: { response: { 200: VmListSchema } } }, async () => body);
  app.get('/without-schema', async () => body);
  try {
    const inject = (url: string) => async () => {
      const response = await app.inject({ method: 'GET', url });
      if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}: ${response.body.slice(0, 200)}`);
    };
    const [withSchema = Number.NaN, withoutSchema = Number.NaN, stringify = Number.NaN] = await timeInterleaved([
      inject('/with-schema'),
      inject('/without-schema'),
      async () => JSON.stringify(body),
    ]);
    return withSchema - withoutSchema + stringify;
  } finally {
    await app.close();
  }
}

type Piece = [name: string, run: () => Promise<unknown>];

/** Times each piece of GET /api/v1/vms on `seeded` (nothing else may be loading it meanwhile). */
export async function breakDownListVms(seeded: SeededController): Promise<Phase[]> {
  const { services, app } = seeded.controller;
  const { store } = services;
  const handler = async () => {
    const names = new Map((await store.hosts.list()).map((h) => [h.id, h.name]));
    return { vms: (await store.vms.list()).map((vm) => vmWire(vm, names)), next: null };
  };
  const body = await handler();
  const inject = async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/vms', headers: { authorization: `Bearer ${seeded.token}` } });
    if (response.statusCode !== 200) throw new Error(`GET /api/v1/vms through inject answered ${response.statusCode}`);
  };
  // The bare query, rows left undecoded, splits the store read into SQLite's share and the row decoding's.
  const rawQuery = store instanceof SqliteStore ? store.database.prepare('SELECT * FROM vms ORDER BY rowid') : undefined;
  const pieces: Piece[] = [
    ['token check (tokens.verify)', () => services.tokens.verify(seeded.token)],
    ...(rawQuery ? [['SQLite query alone (SELECT * FROM vms, rows not decoded)', async () => rawQuery.all()] satisfies Piece] : []),
    ['store read (store.vms.list: SQLite rows to records, JSON columns parsed)', () => store.vms.list()],
    ['route handler (store read, host names, wire mapping)', handler],
    ['JSON.stringify of the same answer, for comparison', async () => JSON.stringify(body)],
    ['whole controller pipeline without a socket (app.inject)', inject],
  ];
  const medians = await timeInterleaved(pieces.map(([, fn]) => fn));
  const phases = pieces.map(([name], index) => ({ name, medianMs: medians[index] ?? Number.NaN }));
  phases.splice(-2, 0, { name: 'serializing the answer with the response schema (fast-json-stringify)', medianMs: await schemaSerialization(body) });
  return phases;
}
