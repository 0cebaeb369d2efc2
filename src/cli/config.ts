import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';

/** Where the CLI finds the controller: URL and token. */
export interface CliConfig {
  url: string;
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

/** Resolves the controller URL and token: DROVER_URL / DROVER_TOKEN override the config file. */
export function loadConfig(): CliConfig {
  let saved: Partial<CliConfig> = {};
  try {
    saved = JSON.parse(fs.readFileSync(configFile(), 'utf8')) as Partial<CliConfig>;
  } catch {
    // No config yet: environment variables must say where the controller is.
  }
  const url = process.env.DROVER_URL ?? saved.url;
  const token = process.env.DROVER_TOKEN ?? saved.token;
  if (!url || !token) {
    throw new DroverError('UNAUTHORIZED', 'no controller configured: run `drover up`, or set DROVER_URL and DROVER_TOKEN');
  }
  return { url: url.replace(/\/+$/, ''), token };
}
