import { Type } from '@fastify/type-provider-typebox';
import { DroverError, ERRORS, type ErrorCode } from '../../shared/errors.js';
import { changedNothing } from '../api/audit.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { HostNameParams } from '../hosts/schema.js';
import { LeaseAnswer, LeaseRenewal } from './lease-schema.js';
import type { Store } from '../store/store.js';
import { HaSettingsBody, HaSettingsSchema, HaStatusSchema } from './schema.js';
import type { HaStatus } from './service.js';

/** How long a standby waits for the leader's `ha status`. */
const LEADER_STATUS_TIMEOUT_MS = 3_000;

/**
 * The leader's `GET /ha/status`, asked with the caller's own credential (every controller shares the token store).
 * CONTROLLER_NOT_LEADER, naming the leader, when there is none or it does not answer: a client with several
 * controller URLs then moves on.
 */
async function leaderStatus(store: Store, selfId: string | null, authorization: string | undefined): Promise<unknown> {
  const [lease, registry] = await Promise.all([store.leaderLease.get(), store.controllers.list()]);
  const live = lease && Date.parse(lease.expiresAt) > Date.now() ? lease : undefined;
  // Still named in the store while it takes up (or gives up) its term: asking itself would only ask itself again.
  const leader = live && live.holder !== selfId ? registry.find((c) => c.id === live.holder) : undefined;
  if (!leader) throw new DroverError('CONTROLLER_NOT_LEADER', 'HA status comes from the leader, and there is none just now; retry in a few seconds');
  let answer: Response;
  try {
    answer = await fetch(new URL('/api/v1/ha/status', leader.url), { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(LEADER_STATUS_TIMEOUT_MS) });
  } catch (err) {
    throw new DroverError('CONTROLLER_NOT_LEADER', `HA status comes from the leader ${leader.name} (${leader.url}), which did not answer: ${(err as Error).message}`);
  }
  const body: unknown = await answer.json().catch(() => undefined);
  // The leader's own refusal (a revoked token, say) is the answer.
  if (!answer.ok) {
    const e = (body && typeof body === 'object' ? body : {}) as { code?: string; detail?: string };
    if (e.code && e.code in ERRORS) throw new DroverError(e.code as ErrorCode, e.detail);
    throw new DroverError('CONTROLLER_NOT_LEADER', `the leader ${leader.name} (${leader.url}) answered HTTP ${answer.status}`);
  }
  return body;
}

/**
 * /ha: agents renew their leases here (public: the lease credential, checked by the service, is
 * the agent's proof), and `ha status`; /hosts/:name/confirm-down is the administrator's word.
 */
export const haRoutes: DomainRoutes = async (app, { services }) => {
  const { ha } = services;
  const tags = ['ha'];

  app.post('/ha/lease', {
    // A renewal carries the host's report now and then: every VM it runs, with its disks and NICs.
    bodyLimit: 32 * 1024 * 1024,
    // A thousand hosts renew every second: their requests are not logged one by one.
    logLevel: 'warn',
    schema: { operationId: 'renewHostLease', summary: 'Renew a host\'s HA lease (called by its agent about every second)', tags, body: LeaseRenewal, response: { 200: LeaseAnswer, ...errorResponses } },
    handler: async (request) => {
      // Liveness lives in memory; an event per renewal would flood the log. Changes of liveness are recorded by HA itself.
      changedNothing(request);
      // Leases live in the leader's memory, where HA judges them: another controller sends the agent on to the next URL.
      // A leader whose lease lapsed in a slow round keeps taking them until a round finds it deposed: a renewal is
      // an observation, not a decision, and refusing it would make every host look late when the term resumes.
      if (!services.leadership.holdsTerm()) throw new DroverError('CONTROLLER_NOT_LEADER', 'host leases go to the leader; see GET /api/v1/cluster/controllers');
      const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
      return ha.renew(match?.[1], request.body);
    },
  });

  app.get('/ha/status', {
    schema: {
      operationId: 'getHaStatus',
      summary: 'Hosts\' leases, storage heartbeats and fencing; the protected VMs and failovers in progress; admission figures (a standby asks the leader)',
      tags,
      response: { 200: HaStatusSchema, ...errorResponses },
    },
    handler: async (request) => {
      if (services.leadership.holdsTerm()) return ha.status();
      // Leases and verdicts live in the leader's memory: a standby's own view would show every host unjudged.
      return (await leaderStatus(services.store, services.operations.controllerId, request.headers.authorization)) as HaStatus;
    },
  });

  app.get('/ha/settings', {
    schema: { operationId: 'getHaSettings', summary: 'The HA timings, guest monitoring and relocation limit in force', tags, response: { 200: HaSettingsSchema, ...errorResponses } },
    handler: async () => ha.settings(),
  });

  app.put('/ha/settings', {
    schema: { operationId: 'setHaSettings', summary: 'Change HA timings, guest monitoring or the relocation limit; checked as a whole', tags, body: HaSettingsBody, response: { 200: HaSettingsSchema, ...errorResponses } },
    handler: async (request) => ha.updateSettings(request.body, actorOf(request)),
  });

  app.post('/hosts/:name/confirm-down', {
    schema: {
      operationId: 'confirmHostDown',
      summary: 'State that a host is powered off, so HA may restart its VMs elsewhere (refused while the host renews its lease or writes its storage heartbeat)',
      tags: ['hosts', ...tags],
      params: HostNameParams,
      response: { 202: Type.Object({ host: Type.String(), accepted: Type.Boolean() }), ...errorResponses },
    },
    handler: async (request, reply) => {
      await ha.confirmDown(request.params.name, actorOf(request));
      return reply.status(202).send({ host: request.params.name, accepted: true });
    },
  });
};
