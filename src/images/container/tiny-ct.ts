/**
 * The tiny-ct recipe: a busybox system container for fast tests, from the host's busybox-static. busybox init runs
 * /etc/init.d/rcS (hostname, loopback, a ready line) and keeps a root shell on the console.
 */
import { createHash } from 'node:crypto';
import { readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';
import { BUSYBOX_BINARY } from '../tiny/packages.js';
import { copyOverlay, installBusybox, makeDirectories } from '../tiny/staging.js';
import { type ContainerRecipe, guestDir, imageSource, listFiles } from './build.js';

/** The line rcS prints on the console once the container is up. */
export const TINY_CT_READY_LINE = 'drover-container: ready';
const BUSYBOX_PACKAGE = 'busybox-static';

export const tinyCtRecipe: ContainerRecipe = {
  name: 'tiny-ct',
  osNotes: 'Drover tiny-ct system container: Debian busybox-static, busybox init, a root shell on the console',
  // busybox init powers off on SIGUSR2 (SIGTERM would reboot it, SIGUSR1 halt it).
  container: { init: ['/sbin/init'], stopSignal: 'SIGUSR2' },
  hostname: 'tiny-ct',

  async resolveInputs() {
    const version = await installedVersion(BUSYBOX_PACKAGE);
    const busyboxSha256 = createHash('sha256').update(await readFile(BUSYBOX_BINARY)).digest('hex');
    return {
      hashed: { packages: { [BUSYBOX_PACKAGE]: version }, busyboxSha256 },
      sourceFiles: [
        imageSource('container/tiny-ct.ts'),
        // installBusybox and copyOverlay shape this image too.
        imageSource('tiny/staging.ts'),
        ...(await listFiles(guestDir('tiny-ct'))),
      ],
    };
  },

  async buildRoot(rootDir, step) {
    await step('make directories', () =>
      makeDirectories(
        rootDir,
        ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'dev', 'proc', 'sys', 'run', 'tmp', 'root', 'mnt', 'var/log', 'var/tmp'],
        { tmp: 0o1777, 'var/tmp': 0o1777, root: 0o700 },
      ),
    );
    await step('copy guest files', () => copyOverlay(guestDir('tiny-ct'), rootDir));
    await step('install busybox', async () => {
      await installBusybox(rootDir);
      await symlink('../run', path.join(rootDir, 'var', 'run'));
      await symlink('../proc/self/mounts', path.join(rootDir, 'etc', 'mtab'));
    });
    return { [BUSYBOX_PACKAGE]: await installedVersion(BUSYBOX_PACKAGE) };
  },
};

async function installedVersion(pkg: string): Promise<string> {
  const { stdout, code } = await run('dpkg-query', ['-W', '-f', '${Status}\t${Version}', pkg], { allowFailure: true });
  const [status, version] = stdout.split('\t');
  if (code !== 0 || status !== 'install ok installed' || !version) {
    throw new DroverError('DEPENDENCY_MISSING', `${pkg} is not installed; run \`apt-get install ${pkg}\``);
  }
  return version;
}
