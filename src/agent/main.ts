import fs from 'node:fs';
import path from 'node:path';
import { buildAgent, type Agent } from './app.js';
import { alreadyJoined, joinController, type AgentJoinOptions } from './join.js';
import { DroverError } from '../shared/errors.js';
import { probeAccelerator, type AcceleratorProbe } from '../drivers/qemu/accel.js';
import { loadContainerImage } from '../images/container/build.js';
import { CONTAINER_RECIPES } from '../images/container/recipes.js';
import { loadTinyImage } from '../images/tiny/build.js';
import { builtImageDir, cacheDir, tinyImageDir } from '../shared/paths.js';
import type { WatchdogSpec } from './watchdog.js';

export interface RunAgentOptions {
  dataDir: string;
  listen: string;
  logger?: boolean;
  /** Join this controller once listening (`--controller`, `--join-token`, `--name`). */
  join?: AgentJoinOptions;
  /** A directory every host sees at the same path (NAS/NFS), for shared-storage pools. */
  sharedStorageDir?: string;
  /** The host's watchdog (`--watchdog`), handed to the Agent unarmed; default none. */
  watchdog?: WatchdogSpec;
}

/** Probes the accelerator with the tiny image's kernel (TCG when there is no kernel to probe with). */
async function accelerator(): Promise<AcceleratorProbe> {
  const tiny = await loadTinyImage(tinyImageDir());
  if (!tiny) {
    return { accelerator: 'tcg', reason: 'no probe kernel built yet (run `drover image build tiny`); using TCG', probedAt: new Date().toISOString(), durationMs: 0, key: 'none' };
  }
  return probeAccelerator(tiny.kernel, path.join(cacheDir(), 'accelerator.json'));
}

/** Starts a host agent in this process, registers the built tiny and container images, and listens; returns it with its URL. */
export async function startAgent(opts: RunAgentOptions): Promise<{ agent: Agent; url: string }> {
  const agent = await buildAgent({
    dataDir: opts.dataDir,
    accelerator: await accelerator(),
    logger: opts.logger ?? true,
    ...(opts.sharedStorageDir ? { sharedStorageDir: opts.sharedStorageDir } : {}),
    ...(opts.watchdog ? { watchdog: opts.watchdog } : {}),
  });
  const tiny = await loadTinyImage(tinyImageDir());
  if (tiny && !agent.images.has('tiny')) {
    await agent.images.registerBuilt('tiny', {
      disk: tiny.disk,
      kernel: tiny.kernel,
      initrd: tiny.initrd,
      cmdline: tiny.cmdline,
      osNotes: `Drover tiny guest: Debian kernel ${tiny.manifest.kernelVersion}, busybox, qemu-guest-agent`,
    });
  }
  for (const name of Object.keys(CONTAINER_RECIPES)) {
    const built = await loadContainerImage(builtImageDir(name));
    if (built && !agent.images.has(name)) {
      await agent.images.registerBuiltContainer(name, { disk: built.disk, osNotes: built.manifest.osNotes, container: built.manifest.container });
    }
  }
  const [host, port] = splitListen(opts.listen);
  const url = await agent.app.listen({ host, port });
  return { agent, url };
}

/**
 * Runs a host agent in the foreground until SIGINT/SIGTERM; VMs keep running after it exits.
 * With `join`, it joins the controller once listening, and stops again if the join is refused.
 */
export async function runAgent(opts: RunAgentOptions): Promise<void> {
  const [listenHost] = splitListen(opts.listen);
  if (opts.join && !opts.join.advertise && ['0.0.0.0', '::', '[::]'].includes(listenHost)) {
    throw new DroverError('INVALID_ARGUMENT', `--listen ${opts.listen} names no address the controller can call back; pass --advertise http://ADDRESS:PORT`);
  }
  if (opts.sharedStorageDir) fs.mkdirSync(opts.sharedStorageDir, { recursive: true });
  const { agent, url } = await startAgent(opts);
  const { accelerator, reason } = agent.accelerator;
  process.stdout.write(`drover agent listening on ${url} (accelerator: ${accelerator}: ${reason})\n`);
  if (opts.join) {
    const join = opts.join;
    if (alreadyJoined(opts.dataDir, join)) {
      process.stdout.write(`drover agent already joined ${join.controller} as ${join.name}\n`);
    } else {
      try {
        await joinController({ ...join, address: join.advertise ?? url, agentToken: agent.token, dataDir: opts.dataDir });
      } catch (err) {
        await agent.app.close();
        throw err;
      }
      process.stdout.write(`drover agent joined ${join.controller} as ${join.name}\n`);
    }
    await agent.startHa({ controllerUrl: join.controller, hostName: join.name });
  }
  const stop = async (): Promise<void> => {
    await agent.app.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

/** Splits "host:port" (port 0 = any free port). */
export function splitListen(listen: string): [string, number] {
  const idx = listen.lastIndexOf(':');
  const host = idx > 0 ? listen.slice(0, idx) : '127.0.0.1';
  const port = Number(idx >= 0 ? listen.slice(idx + 1) : listen);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad listen address: ${listen}`);
  return [host, port];
}
