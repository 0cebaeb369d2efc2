import path from 'node:path';
import { buildAgent } from './app.js';
import { probeAccelerator } from '../drivers/qemu/accel.js';
import { loadTinyImage } from '../images/tiny/build.js';
import { cacheDir, tinyImageDir } from '../shared/paths.js';

export interface RunAgentOptions {
  dataDir: string;
  listen: string;
  logger?: boolean;
}

/** Starts a host agent in this process and serves until SIGINT/SIGTERM; VMs keep running after it exits. */
export async function runAgent(opts: RunAgentOptions): Promise<void> {
  const tiny = await loadTinyImage(tinyImageDir());
  const accelerator = tiny
    ? await probeAccelerator(tiny.kernel, path.join(cacheDir(), 'accelerator.json'))
    : { accelerator: 'tcg' as const, reason: 'no probe kernel built yet (run `drover image build tiny`); using TCG', probedAt: new Date().toISOString(), durationMs: 0, key: 'none' };
  const agent = await buildAgent({ dataDir: opts.dataDir, accelerator, logger: opts.logger ?? true });
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
  const address = await agent.app.listen({ host, port });
  process.stdout.write(`drover agent listening on ${address} (accelerator: ${accelerator.accelerator}: ${accelerator.reason})\n`);
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
