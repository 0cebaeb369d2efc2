import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ControllerUrls, parseControllerUrls } from '../shared/controller-urls.js';
import { DroverError, ERRORS, isDroverError, type ErrorCode } from '../shared/errors.js';
import type { JoinRequest } from '../controller/hosts/join-schema.js';

/** How an agent joins a controller at start (`drover agent --controller URL --join-token T --name H`). */
export interface AgentJoinOptions {
  /** The controller's URL as this host reaches it, or several separated by commas (controllers sharing one store), tried in order. */
  controller: string;
  /** The one-time join token (`drover host join-token`). */
  joinToken: string;
  /** The host name to join as. */
  name: string;
  /** This agent's URL as the controller reaches it; default the URL it listens on. */
  advertise?: string;
  tags?: string[];
  cpuOvercommit?: number;
  memoryOvercommit?: number;
}

/** What `<dataDir>/joined.json` records, so a restart with the same (spent) token does not join again. */
interface JoinedMarker {
  /** The controller URLs as given, comma-separated. */
  controller: string;
  name: string;
  /** sha256 of the join token used, hex; never the token. */
  joinTokenHash: string;
  joinedAt: string;
}

const RETRY_FOR_MS = 30_000;
/** Per controller URL: no connection within this long, and the next URL is tried. */
const CONNECT_TIMEOUT_MS = 3_000;
const MARKER_FILE = 'joined.json';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * True when this data dir already joined as `name` with this very token, at one of the controller
 * URLs given now (an agent restart; the controllers of one cluster share the host list, so a URL
 * added or dropped since does not make it join again).
 */
export function alreadyJoined(dataDir: string, options: AgentJoinOptions): boolean {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(dataDir, MARKER_FILE), 'utf8')) as Partial<JoinedMarker>;
    if (marker.controller === undefined || marker.name !== options.name || marker.joinTokenHash !== sha256(options.joinToken)) return false;
    const now = parseControllerUrls(options.controller);
    return parseControllerUrls(marker.controller).some((url) => now.includes(url));
  } catch {
    return false;
  }
}

/**
 * Joins the controller: POST /api/v1/hosts/join with the join token as bearer, handing over
 * `agentToken` so the controller can call this agent. With several controller URLs, one that
 * cannot be connected to is passed over for the next (the one-time token is never sent to a
 * second controller once one may have received it). Retries while no controller can be reached
 * (for 30 s); an answer with an error is thrown as its coded error. Records the join in
 * `<dataDir>/joined.json`.
 */
export async function joinController(options: AgentJoinOptions & { address: string; agentToken: string; dataDir: string }): Promise<void> {
  const body: JoinRequest = {
    name: options.name,
    address: options.address,
    agentToken: options.agentToken,
    ...(options.tags && options.tags.length > 0 ? { tags: options.tags } : {}),
    ...(options.cpuOvercommit !== undefined ? { cpuOvercommit: options.cpuOvercommit } : {}),
    ...(options.memoryOvercommit !== undefined ? { memoryOvercommit: options.memoryOvercommit } : {}),
  };
  const controllers = new ControllerUrls(options.controller, { connectTimeoutMs: CONNECT_TIMEOUT_MS });
  const route = '/api/v1/hosts/join';
  const deadline = Date.now() + RETRY_FOR_MS;
  let res: Response;
  for (;;) {
    try {
      res = await controllers.fetch({
        method: 'POST',
        path: route,
        headers: { authorization: `Bearer ${options.joinToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        const why = isDroverError(err) && err.detail ? err.detail : (err as Error).message;
        throw new DroverError('HOST_UNREACHABLE', `cannot reach the controller at ${controllers.urls.join(', ')}: ${why}`, { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const url = `${controllers.current}${route}`;
  if (!res.ok) {
    const text = await res.text();
    let parsed: { code?: string; detail?: string } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // Not a Drover controller answering; the status and text say what it was.
    }
    const code = parsed.code && parsed.code in ERRORS ? (parsed.code as ErrorCode) : 'INTERNAL';
    throw new DroverError(code, parsed.detail ?? (parsed.code ? undefined : `${url} answered ${res.status}: ${text.slice(0, 200)}`));
  }
  const marker: JoinedMarker = { controller: options.controller, name: options.name, joinTokenHash: sha256(options.joinToken), joinedAt: new Date().toISOString() };
  fs.writeFileSync(path.join(options.dataDir, MARKER_FILE), `${JSON.stringify(marker, null, 2)}\n`, { mode: 0o600 });
}
