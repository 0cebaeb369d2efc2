/** Options and helpers every command shares: -o, the global --controller, the API client, --no-wait. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseControllerUrls } from '../shared/controller-urls.js';
import { DroverError } from '../shared/errors.js';
import { ApiClient } from './client.js';
import { loadConfig } from './config.js';
import type { OutputFormat } from './output.js';

/** Options of a command that has -o. */
export interface OutputOptions {
  output: OutputFormat;
}

/** Adds `-o, --output table|json` (anything else is a usage error) to a command. */
export function withOutput(command: Command): Command {
  return command.addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** Adds `--no-wait`: the command prints the operation id and returns instead of following it. */
export function withNoWait(command: Command): Command {
  return command.option('--no-wait', 'print the operation id and return at once, without waiting for it');
}

/** The global `--controller URL1,URL2`, once parsed; it overrides DROVER_URL and the saved config. */
let controllerOverride: string | undefined;
/** One client per controller list and token, so the URL that answered is remembered for the rest of the process. */
const clients = new Map<string, ApiClient>();

/** Commander parser for the global `--controller`: a malformed URL is a usage error naming it. */
export function controllerUrlsOption(value: string): string {
  try {
    return parseControllerUrls(value).join(',');
  } catch (err) {
    throw new InvalidArgumentError(err instanceof DroverError && err.detail ? err.detail : (err as Error).message);
  }
}

/** Makes every later apiClient() use these controller URLs (the global `--controller`), or the configured ones again with undefined. */
export function useControllers(urls: string | undefined): void {
  controllerOverride = urls;
}

/** The API client for the configured controllers (--controller, DROVER_URL / DROVER_TOKEN, or the saved config). */
export function apiClient(): ApiClient {
  const config = loadConfig(controllerOverride);
  const key = `${config.urls.join(',')} ${config.token}`;
  let client = clients.get(key);
  if (!client) {
    client = new ApiClient(config);
    clients.set(key, client);
  }
  return client;
}
