import { Option, type Command } from 'commander';
import type { EventWire } from '../../controller/events/schema.js';
import { DroverError } from '../../shared/errors.js';
import { ApiError, apiPath, withQuery, type ApiClient } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { printJson } from '../output.js';
import { integerIn, parseTime } from '../parse.js';
import { SseParser } from '../sse.js';

/** The API's largest page of events. */
const MAX_PAGE = 1000;
/** A followed stream that cannot reconnect for this long gives up. */
const RECONNECT_GIVE_UP_MS = 30_000;

interface EventsOptions extends OutputOptions {
  vm?: string;
  host?: string;
  actor?: string;
  since?: string;
  until?: string;
  limit?: number;
  follow?: boolean;
}

/** One event as a line: time, action, object, result, actor, and a short detail. */
export function formatEvent(event: EventWire): string {
  const object = `${event.object.type}/${event.object.name ?? event.object.id ?? '-'}`;
  const detail = event.detail === null || event.detail === undefined ? '' : JSON.stringify(event.detail);
  return `${event.time}  ${event.action.padEnd(18)} ${object.padEnd(20)} ${event.result.padEnd(9)} by ${event.actor}${detail && detail.length <= 160 ? `  ${detail}` : ''}`;
}

/** `drover events`: query recorded events, or follow them live with --follow. */
export function registerEventCommands(program: Command): void {
  const events = program
    .command('events')
    .description('Show recorded events (who changed what, when); --follow streams new ones as they happen')
    .option('--vm <vm>', 'only events about this VM (name or id)')
    .option('--host <host>', 'only events on this host (name or id)')
    .option('--actor <token>', 'only events by this token name')
    .option('--since <time>', 'from this time: ISO 8601, or a duration ago like 10m, 2h, 1d', (v) => parseTime(v))
    .addOption(new Option('--until <time>', 'up to this time (same forms as --since)').argParser((v) => parseTime(v)).conflicts('follow'))
    .option('--limit <n>', 'at most this many past events (default: the last 50, or all since --since)', integerIn(1, MAX_PAGE))
    .option('-f, --follow', 'keep printing new events as they happen (Ctrl-C stops)');
  withOutput(events).action(async (opts: EventsOptions) => {
    const client = apiClient();
    const match = { vm: opts.vm, host: opts.host, actor: opts.actor };
    const backlog = await pastEvents(client, opts);
    if (!opts.follow) {
      if (opts.output === 'json') printJson(backlog);
      else for (const event of backlog) process.stdout.write(`${formatEvent(event)}\n`);
      return;
    }
    const print = (event: EventWire): void => void process.stdout.write(`${opts.output === 'json' ? JSON.stringify(event) : formatEvent(event)}\n`);
    backlog.forEach(print);
    // Resume after the last event shown, or after the newest event of all, so none is missed or repeated.
    const newest = await client.request<{ events: EventWire[] }>('GET', withQuery(apiPath('events'), { limit: 1 }));
    const after = backlog.at(-1)?.id ?? newest.events[0]?.id ?? 0;
    await followEvents(client, match, after, print);
  });
}

/** The events before following: the last --limit ones, or all since --since; oldest first. */
async function pastEvents(client: ApiClient, opts: EventsOptions): Promise<EventWire[]> {
  if (opts.follow && !opts.since) return [];
  const query = { vm: opts.vm, host: opts.host, actor: opts.actor, since: opts.since, until: opts.until };
  if (opts.since) {
    // Everything since then (or the first --limit), a page at a time.
    const all: EventWire[] = [];
    for (let afterId: number | undefined; ; ) {
      const limit = Math.min(MAX_PAGE, (opts.limit ?? Infinity) - all.length);
      const route = withQuery(apiPath('events'), { ...query, order: 'asc', limit, afterId });
      const page = (await client.request<{ events: EventWire[] }>('GET', route)).events;
      all.push(...page);
      afterId = page.at(-1)?.id;
      if (page.length < limit || all.length === opts.limit || afterId === undefined) return all;
    }
  }
  const route = withQuery(apiPath('events'), { ...query, order: 'desc', limit: opts.limit ?? 50 });
  return (await client.request<{ events: EventWire[] }>('GET', route)).events.reverse();
}

/** Follows /events/stream from `afterId` on, reconnecting (without gaps) when the connection drops. */
async function followEvents(
  client: ApiClient,
  match: { vm: string | undefined; host: string | undefined; actor: string | undefined },
  afterId: number,
  print: (event: EventWire) => void,
): Promise<never> {
  let lastId = afterId;
  let failingSince: number | undefined;
  let delay = 500;
  for (;;) {
    try {
      const res = await client.stream(withQuery(apiPath('events', 'stream'), { ...match, afterId: lastId }), {});
      failingSince = undefined;
      delay = 500;
      if (!res.body) throw new DroverError('INTERNAL', 'the event stream has no body');
      const parser = new SseParser();
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (message.event !== 'event') continue;
          const event = JSON.parse(message.data) as EventWire;
          lastId = event.id;
          print(event);
        }
      }
    } catch (err) {
      // The API refused (bad filter, revoked token): retrying will not help.
      if (err instanceof ApiError) throw err;
      failingSince ??= Date.now();
      if (Date.now() - failingSince > RECONNECT_GIVE_UP_MS) throw err;
    }
    if (process.stderr.isTTY) process.stderr.write('event stream interrupted; reconnecting...\n');
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}
