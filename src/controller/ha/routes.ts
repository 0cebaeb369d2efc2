import { Type } from '@fastify/type-provider-typebox';
import { DroverError } from '../../shared/errors.js';
import { changedNothing } from '../api/audit.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { HostNameParams } from '../hosts/schema.js';
import { LeaseAnswer, LeaseRenewal } from './lease-schema.js';
import { HaSettingsBody, HaSettingsSchema, HaStatusSchema } from './schema.js';

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
    schema: { operationId: 'getHaStatus', summary: 'Hosts\' leases, storage heartbeats and fencing; the protected VMs and failovers in progress; admission figures', tags, response: { 200: HaStatusSchema, ...errorResponses } },
    handler: async () => ha.status(),
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
