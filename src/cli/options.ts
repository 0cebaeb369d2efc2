/** Options and helpers every command shares: -o, the API client, --no-wait. */
import { Option, type Command } from 'commander';
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

/** The API client for the configured controller (DROVER_URL / DROVER_TOKEN, or the saved config). */
export function apiClient(): ApiClient {
  return new ApiClient(loadConfig());
}
