import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { DroverError, isDroverError } from '../../shared/errors.js';
import { validateName } from '../../shared/names.js';
import type { Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import { now, type TokenRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

/** Every secret starts with this, so a leaked one is recognisable by secret scanners. */
export const TOKEN_PREFIX = 'drv_';

/** Roles a token can have. Only `admin` exists today; the check on every route is already in place. */
export const ROLES = ['admin'] as const;
export type Role = (typeof ROLES)[number];

/** A token as shown to people: everything but its hash. */
export type TokenInfo = Omit<TokenRecord, 'hash'>;

export type Verification = { ok: true; token: TokenInfo } | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' };

const SECRET_PATTERN = /^drv_[A-Za-z0-9_-]{43}$/;
const LAST_USED_RESOLUTION_MS = 60_000;

/** A new secret: the prefix and 32 random bytes, base64url. */
export function generateSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a secret: sha256, hex. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Creates, lists, revokes and verifies API tokens. Secrets are returned once and never stored. */
export class TokenService {
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
  ) {}

  /**
   * Creates a token and returns its secret, the only time it is shown. TOKEN_EXISTS when an
   * active token has the name. `secret` is for first start, which writes the file before the row.
   */
  async create(name: string, actor: Actor, options: { role?: Role; secret?: string } = {}): Promise<{ token: TokenInfo; secret: string }> {
    validateName('token', name);
    const secret = options.secret ?? generateSecret();
    if (!SECRET_PATTERN.test(secret)) throw new DroverError('INTERNAL', 'token secret has the wrong shape');
    const record: TokenRecord = {
      id: randomUUID(),
      name,
      hash: hashSecret(secret),
      role: options.role ?? 'admin',
      createdAt: now(),
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.store.transaction(async (tx) => {
      if (await tx.tokens.getActiveByName(name)) throw new DroverError('TOKEN_EXISTS', name);
      try {
        await tx.tokens.insert(record);
      } catch (err) {
        throw isDroverError(err, 'ALREADY_EXISTS') ? new DroverError('TOKEN_EXISTS', name, { cause: err }) : err;
      }
      await this.events.record({ actor, objectType: 'token', objectId: record.id, objectName: name, action: 'token.create', result: 'succeeded', detail: { role: record.role } }, tx);
    });
    return { token: info(record), secret };
  }

  /** Active and revoked tokens, oldest first, without hashes. */
  async list(): Promise<TokenInfo[]> {
    return (await this.store.tokens.list()).map(info);
  }

  /** Revokes the active token with that name; TOKEN_NOT_FOUND when there is none. */
  async revoke(name: string, actor: Actor): Promise<TokenInfo> {
    return this.store.transaction(async (tx) => {
      const token = await tx.tokens.getActiveByName(name);
      if (!token) throw new DroverError('TOKEN_NOT_FOUND', name);
      const revoked = await tx.tokens.update(token.id, { revokedAt: now() });
      await this.events.record({ actor, objectType: 'token', objectId: token.id, objectName: name, action: 'token.revoke', result: 'succeeded' }, tx);
      return info(revoked);
    });
  }

  /** Checks a presented secret. Marks the token used, at most once a minute, without waiting for that write. */
  async verify(secret: string): Promise<Verification> {
    if (!SECRET_PATTERN.test(secret)) return { ok: false, reason: 'malformed' };
    const presented = Buffer.from(hashSecret(secret), 'hex');
    // The lookup is keyed by a hash of 256 random bits, so its timing reveals nothing usable;
    // the constant-time compare makes the match itself explicit.
    const token = await this.store.tokens.getByHash(presented.toString('hex'));
    if (!token || !timingSafeEqual(Buffer.from(token.hash, 'hex'), presented)) return { ok: false, reason: 'unknown' };
    if (token.revokedAt !== null) return { ok: false, reason: 'revoked' };
    this.touch(token);
    return { ok: true, token: info(token) };
  }

  private touch(token: TokenRecord): void {
    const time = Date.now();
    if (time - (this.lastTouched.get(token.id) ?? 0) < LAST_USED_RESOLUTION_MS) return;
    this.lastTouched.set(token.id, time);
    this.store.tokens.update(token.id, { lastUsedAt: new Date(time).toISOString() }).catch(() => {
      // Only a usage hint: losing one (e.g. while the store closes) is harmless.
    });
  }
}

function info(record: TokenRecord): TokenInfo {
  const { hash: _hash, ...rest } = record;
  return rest;
}
