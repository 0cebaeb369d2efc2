import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseControllerUrls } from '../shared/controller-urls.js';
import { DroverError } from '../shared/errors.js';

/** Where the CLI finds the controller, as saved: its URL (several separated by commas, tried in order) and the token. */
export interface CliConfig {
  url: string;
  token: string;
}

/** The controllers the CLI talks to, in the order it tries them, and the token. */
export interface ControllerTarget {
  urls: string[];
  token: string;
}

/** The CLI's config file: $XDG_CONFIG_HOME/drover/config.json (default ~/.config/drover). */
export function configFile(): string {
  const base = process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config');
  return path.join(base, 'drover', 'config.json');
}

/** Saves the controller URL and token for later CLI calls (mode 0600: it holds a secret). */
export function saveConfig(config: CliConfig): void {
  const file = configFile();
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/**
 * Resolves the controller URLs and token: `controllers` (the global --controller) overrides
 * DROVER_URL, which overrides the config file's `url` (a comma-separated list, or a JSON array of
 * URLs); DROVER_TOKEN overrides its token. Throws INVALID_ARGUMENT for a malformed URL.
 */
export function loadConfig(controllers?: string): ControllerTarget {
  let saved: { url?: string | string[]; token?: string } = {};
  try {
    saved = JSON.parse(fs.readFileSync(configFile(), 'utf8')) as typeof saved;
  } catch {
    // No config yet: environment variables must say where the controller is.
  }
  const url = controllers ?? process.env.DROVER_URL ?? saved.url;
  const token = process.env.DROVER_TOKEN ?? saved.token;
  if (!url || url.length === 0 || !token) {
    throw new DroverError('UNAUTHORIZED', 'no controller configured: run `drover up`, or set DROVER_URL (or --controller) and DROVER_TOKEN');
  }
  return { urls: parseControllerUrls(url), token };
}
