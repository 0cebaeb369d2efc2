import path from 'node:path';
import { buildAgent, type Agent } from './app.js';
import { probeAccelerator, type AcceleratorProbe } from '../drivers/qemu/accel.js';
import { loadTinyImage } from '../images/tiny/build.js';
import { cacheDir, tinyImageDir } from '../shared/paths.js';

export interface RunAgentOptions {
  dataDir: string;
  listen: string;
  logger?: boolean;
}

/** Probes the accelerator with the tiny image's kernel (TCG when there is no kernel to probe with). */
async function accelerator(): Promise<AcceleratorProbe> {
  const tiny = await loadTinyImage(tinyImageDir());
  if (!tiny) {
    return { accelerator: 'tcg', reason: 'no probe kernel built yet (run `drover image build tiny`); using TCG', probedAt: new Date().toISOString(), durationMs: 0, key: 'none' };
  }
  return probeAccelerator(tiny.kernel, path.join(cacheDir(), 'accelerator.json'));
}

/** Starts a host agent in this process, registers the built tiny image, and listens; returns it with its URL. */
export async function startAgent(opts: RunAgentOptions): Promise<{ agent: Agent; url: string }> {
  const agent = await buildAgent({ dataDir: opts.dataDir, accelerator: await accelerator(), logger: opts.logger ?? true });
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
  const [host, port] = splitListen(opts.listen);
  const url = await agent.app.listen({ host, port });
  return { agent, url };
}

/** Runs a host agent in the foreground until SIGINT/SIGTERM; VMs keep running after it exits. */
export async function runAgent(opts: RunAgentOptions): Promise<void> {
  const { agent, url } = await startAgent(opts);
  const { accelerator, reason } = agent.accelerator;
  process.stdout.write(`drover agent listening on ${url} (accelerator: ${accelerator}: ${reason})\n`);
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
