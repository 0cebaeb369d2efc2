/**
 * Builds the tiny guest image from the command line, for development:
 *   node --import tsx src/images/tiny/main.ts [--force] [--out DIR] [--boot-check]
 * --boot-check then boots it in both device models under TCG and reports the timings.
 */
import { parseArgs } from 'node:util';
import { isDroverError } from '../../shared/errors.js';
import { tinyImageDir } from '../../shared/paths.js';
import { type TinyImage, buildTinyImage } from './build.js';
import { READY_LINE, type TinyDeviceModel, bootTinyGuest } from './smoke.js';

const { values } = parseArgs({
  options: { force: { type: 'boolean', default: false }, out: { type: 'string' }, 'boot-check': { type: 'boolean', default: false } },
});
const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;

async function bootCheck(image: TinyImage, model: TinyDeviceModel): Promise<void> {
  const guest = await bootTinyGuest(image, model);
  try {
    const readyMs = await guest.waitForSerial(READY_LINE, 90_000);
    await guest.agent('guest-ping');
    const interfaces = (await guest.agent('guest-network-get-interfaces')) as { name: string; 'ip-addresses'?: { 'ip-address': string }[] }[];
    const addresses = interfaces.flatMap((i) => (i['ip-addresses'] ?? []).map((a) => `${i.name}=${a['ip-address']}`));
    const powerdownAt = Date.now();
    await guest.qmp('system_powerdown');
    const exitCode = await Promise.race([guest.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000))]);
    console.error(
      `${model}: ready after ${(readyMs / 1000).toFixed(1)}s; agent answers; ${addresses.join(' ')}; ` +
        `system_powerdown -> QEMU exit ${String(exitCode)} after ${((Date.now() - powerdownAt) / 1000).toFixed(1)}s`,
    );
  } finally {
    await guest.dispose();
  }
}

try {
  const image = await buildTinyImage({
    outDir: values.out ?? tinyImageDir(),
    force: values.force,
    onProgress: (step) => console.error(`[${elapsed()}] ${step}`),
  });
  console.log(JSON.stringify(image, null, 2));
  if (values['boot-check']) {
    for (const model of ['virtio', 'emulated'] as const) await bootCheck(image, model);
  }
} catch (err) {
  console.error(isDroverError(err) ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
}
