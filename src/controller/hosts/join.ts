import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { DroverError, isDroverError } from '../../shared/errors.js';
import type { Actor } from '../actor.js';
import { hashSecret } from '../auth/tokens.js';
import type { EventLog } from '../events/event-log.js';
import { now, type HostRecord, type JoinTokenRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { AgentClient } from './agent-client.js';
import { DEFAULT_JOIN_TOKEN_TTL_SECONDS, JOIN_TOKEN_PREFIX, type JoinRequest } from './join-schema.js';
import type { HostService } from './service.js';

const SECRET_PATTERN = /^drvj_[A-Za-z0-9_-]{43}$/;
/** Expired tokens are kept this long, so a late join is told "expired" rather than "unknown". */
const EXPIRED_RETENTION_MS = 24 * 3600_000;

/** The actor a join acts as: the token, by a prefix of its id (never the secret). */
export function joinActor(token: JoinTokenRecord, requestId?: string): Actor {
  return { name: `join-token:${token.id.slice(0, 8)}`, ...(requestId ? { requestId } : {}) };
}

/** One-time join tokens and the join itself: verify the token, check the agent, register the host. */
export class HostJoinService {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly hosts: HostService,
  ) {}

  /** Mints a join token valid for `ttlSeconds`; the secret is returned here only, its hash is stored. */
  async mint(actor: Actor, ttlSeconds = DEFAULT_JOIN_TOKEN_TTL_SECONDS): Promise<{ token: string; expiresAt: string }> {
    const secret = JOIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const createdAt = new Date();
    const record: JoinTokenRecord = {
      id: randomUUID(),
      hash: hashSecret(secret),
      createdBy: actor.name,
      createdAt: createdAt.toISOString(),
      expiresAt: new Date(createdAt.getTime() + ttlSeconds * 1000).toISOString(),
      usedAt: null,
      usedByHostId: null,
    };
    await this.store.transaction(async (tx) => {
      await tx.joinTokens.deleteExpired(new Date(createdAt.getTime() - EXPIRED_RETENTION_MS).toISOString());
      await tx.joinTokens.insert(record);
      await this.events.record(
        { actor, objectType: 'join-token', objectId: record.id, action: 'host.join-token.create', result: 'succeeded', detail: { expiresAt: record.expiresAt } },
        tx,
      );
    });
    return { token: secret, expiresAt: record.expiresAt };
  }

  /**
   * The stored token for `secret` if it can still join a host; JOIN_TOKEN_INVALID, JOIN_TOKEN_USED
   * or JOIN_TOKEN_EXPIRED (all 401) otherwise. Changes nothing.
   */
  async verify(secret: string): Promise<JoinTokenRecord> {
    if (!SECRET_PATTERN.test(secret)) throw new DroverError('JOIN_TOKEN_INVALID', 'it is not a join token (drvj_...)');
    const presented = Buffer.from(hashSecret(secret), 'hex');
    const token = await this.store.joinTokens.getByHash(presented.toString('hex'));
    if (!token || !timingSafeEqual(Buffer.from(token.hash, 'hex'), presented)) throw new DroverError('JOIN_TOKEN_INVALID');
    refuseSpent(token, now());
    return token;
  }

  /**
   * Joins the agent at `request.address` as host `request.name`: checks that the agent answers
   * with `request.agentToken`, then registers the host and consumes the token in one transaction.
   * Nothing is stored when the agent cannot be reached or refuses, or when the token is spent.
   */
  async join(secret: string, request: JoinRequest, requestId?: string): Promise<HostRecord> {
    const token = await this.admit(secret, requestId);
    const actor = joinActor(token, requestId);
    const address = request.address.replace(/\/+$/, '');
    await checkAgent(address, request.agentToken);
    const existed = (await this.store.hosts.getByName(request.name)) !== undefined;
    try {
      return await this.hosts.register(
        {
          name: request.name,
          address,
          credential: request.agentToken,
          ...(request.tags ? { tags: request.tags } : {}),
          ...(request.cpuOvercommit !== undefined ? { cpuOvercommit: request.cpuOvercommit } : {}),
          ...(request.memoryOvercommit !== undefined ? { memoryOvercommit: request.memoryOvercommit } : {}),
        },
        actor,
        async (tx, host) => {
          const usedAt = now();
          if (!(await tx.joinTokens.consume(token.id, usedAt, host.id))) {
            // Another join won the race, or the token expired while the agent was checked.
            const current = await tx.joinTokens.getByHash(token.hash);
            throw new DroverError(current && current.usedAt === null ? 'JOIN_TOKEN_EXPIRED' : 'JOIN_TOKEN_USED');
          }
          await this.events.record(
            {
              actor,
              objectType: 'host',
              objectId: host.id,
              objectName: host.name,
              action: 'host.join',
              hostId: host.id,
              result: 'succeeded',
              detail: { address, rejoined: existed, tags: host.tags, cpuOvercommit: host.cpuOvercommit, memoryOvercommit: host.memoryOvercommit, tokenCreatedBy: token.createdBy },
            },
            tx,
          );
        },
      );
    } catch (err) {
      // The agent answered a moment ago; if it stopped since, say so in the join's own terms.
      if (isDroverError(err, 'HOST_UNREACHABLE') || isDroverError(err, 'TIMEOUT')) throw new DroverError('JOIN_AGENT_UNREACHABLE', err.detail, { cause: err });
      throw err;
    }
  }

  /**
   * `verify`, and a real token presented again (spent or expired) leaves a `host.join` failure
   * event for the audit trail; an unknown one is not recorded, so strangers cannot fill the log.
   */
  async admit(secret: string, requestId?: string): Promise<JoinTokenRecord> {
    try {
      return await this.verify(secret);
    } catch (err) {
      if (!isDroverError(err, 'JOIN_TOKEN_USED') && !isDroverError(err, 'JOIN_TOKEN_EXPIRED')) throw err;
      const token = await this.store.joinTokens.getByHash(hashSecret(secret));
      if (token) {
        await this.events.record({ actor: joinActor(token, requestId), objectType: 'join-token', objectId: token.id, action: 'host.join', result: 'failed', detail: { code: err.code } });
      }
      throw err;
    }
  }
}

/** Throws JOIN_TOKEN_USED or JOIN_TOKEN_EXPIRED when the token can no longer join a host at `at`. */
function refuseSpent(token: JoinTokenRecord, at: string): void {
  if (token.usedAt !== null) throw new DroverError('JOIN_TOKEN_USED', `used at ${token.usedAt}`);
  if (token.expiresAt <= at) throw new DroverError('JOIN_TOKEN_EXPIRED', `expired at ${token.expiresAt}`);
}

/** Calls the agent's GET /api/v1/host with its own token; JOIN_AGENT_UNREACHABLE or JOIN_AGENT_REJECTED when that fails. */
async function checkAgent(address: string, agentToken: string): Promise<void> {
  let info: unknown;
  try {
    info = await new AgentClient(address, agentToken).host();
  } catch (err) {
    const unreachable = isDroverError(err, 'HOST_UNREACHABLE') || isDroverError(err, 'TIMEOUT');
    const detail = isDroverError(err) ? (err.detail ?? err.code) : String(err);
    throw new DroverError(unreachable ? 'JOIN_AGENT_UNREACHABLE' : 'JOIN_AGENT_REJECTED', `GET ${address}/api/v1/host: ${detail}`, { cause: err });
  }
  const capacity = (info as { capacity?: { cpus?: unknown } } | null)?.capacity;
  if (typeof capacity?.cpus !== 'number') throw new DroverError('JOIN_AGENT_REJECTED', `${address} did not answer GET /api/v1/host as a Drover agent`);
}
