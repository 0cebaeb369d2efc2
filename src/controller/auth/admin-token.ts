import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isDroverError } from '../../shared/errors.js';
import { SYSTEM_ACTOR } from '../actor.js';
import { generateSecret, type TokenService } from './tokens.js';

export const ADMIN_TOKEN_NAME = 'admin';
export const ADMIN_TOKEN_FILE = 'admin.token';

export interface AdminToken {
  file: string;
  /** The secret when this call created it (to print once), else null. */
  created: string | null;
}

/**
 * First-start bootstrap: when `<dataDir>/admin.token` holds no valid token and no active token
 * is named `admin`, creates one and writes its secret there (mode 0600). Idempotent: a valid file
 * is left alone, and an existing `admin` token is never rotated. Revoking `admin` and restarting
 * the controller is therefore the recovery path for a lost admin secret.
 */
export async function ensureAdminToken(dataDir: string, tokens: TokenService): Promise<AdminToken> {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  const existing = await readSecret(file);
  if (existing && (await tokens.verify(existing)).ok) return { file, created: null };
  const active = (await tokens.list()).some((t) => t.name === ADMIN_TOKEN_NAME && t.revokedAt === null);
  if (active) return { file, created: null };
  const secret = generateSecret();
  // The file comes first: a crash before the row exists leaves a file that does not verify, so
  // the next start simply tries again; the other order could leave a token nobody knows.
  await writeSecretFile(file, secret);
  try {
    await tokens.create(ADMIN_TOKEN_NAME, SYSTEM_ACTOR, { secret });
  } catch (err) {
    // Another controller on the same store made it first: that one printed its secret.
    if (isDroverError(err, 'TOKEN_EXISTS') || isDroverError(err, 'ALREADY_EXISTS')) {
      await fs.rm(file, { force: true });
      return { file, created: null };
    }
    throw err;
  }
  return { file, created: secret };
}

async function readSecret(file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file, 'utf8')).trim() || null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Writes the secret atomically (temp file, fsync, rename), readable by the owner only. */
async function writeSecretFile(file: string, secret: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${secret}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
}
