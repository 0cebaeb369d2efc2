/**
 * The debian-12-ct recipe: a Debian 12 (bookworm) system container made by mmdebstrap (variant minbase) with
 * systemd as init, ifupdown and isc-dhcp-client for eth0, and the units that make no sense in a container masked.
 * It downloads from the build host's Debian apt sources and takes about a minute.
 */
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';
import { copyOverlay } from '../tiny/staging.js';
import { type ContainerRecipe, guestDir, imageSource, listFiles } from './build.js';

const SUITE = 'bookworm';
/** On top of minbase (which brings apt, login, passwd, util-linux...). */
export const DEBIAN_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'iproute2',
  'ifupdown',
  'isc-dhcp-client',
  'netbase',
  'procps',
  'iputils-ping',
  'ca-certificates',
  'less',
];
/**
 * Units that only make sense on hardware or would stop the boot: the virtual-terminal gettys (the console gets
 * console-getty.service instead), the first-boot wizard (the empty /etc/machine-id makes every boot a first boot,
 * and it would wait on the console for a locale, time zone and root password), and e2scrub/fstrim, which act on
 * block devices a container does not own.
 */
export const MASKED_UNITS = [
  ...[1, 2, 3, 4, 5, 6].map((n) => `getty@tty${n}.service`),
  'systemd-firstboot.service',
  'e2scrub_reap.service',
  'e2scrub_all.timer',
  'e2scrub_all.service',
  'fstrim.timer',
  'fstrim.service',
];
const HOST_SOURCES_DIR = '/etc/apt/sources.list.d';
const MMDEBSTRAP_TIMEOUT_MS = 20 * 60_000;

export const debian12CtRecipe: ContainerRecipe = {
  name: 'debian-12-ct',
  osNotes: 'Drover debian-12-ct system container: Debian 12 (bookworm) minbase with systemd, ifupdown and isc-dhcp-client; root is locked',
  // systemd powers off on SIGRTMIN+3 (SIGTERM would make it re-execute itself).
  container: { init: ['/sbin/init'], stopSignal: 'SIGRTMIN+3' },
  hostname: 'debian',

  async resolveInputs() {
    await run('mmdebstrap', ['--version'], { errorCode: 'DEPENDENCY_MISSING' });
    const sources = await hostDebianSources();
    return {
      hashed: { suite: SUITE, packages: DEBIAN_PACKAGES, masked: MASKED_UNITS, sources },
      sourceFiles: [imageSource('container/debian-12-ct.ts'), imageSource('tiny/staging.ts'), ...(await listFiles(guestDir('debian-12-ct')))],
    };
  },

  async buildRoot(rootDir, step) {
    const sources = await hostDebianSources();
    const mirrors: string[] = [];
    if (sources) {
      // mmdebstrap pastes an existing file into the image's apt sources, named after the file.
      const sourcesFile = path.join(path.dirname(rootDir), 'debian.sources');
      await writeFile(sourcesFile, sources);
      mirrors.push(sourcesFile);
    }
    await step(`mmdebstrap ${SUITE} (about a minute)`, () =>
      run(
        'mmdebstrap',
        ['--mode=root', '--format=directory', '--variant=minbase', `--include=${DEBIAN_PACKAGES.join(',')}`, '--dpkgopt=force-unsafe-io', SUITE, rootDir, ...mirrors],
        { errorCode: 'IMAGE_BUILD_FAILED', timeoutMs: MMDEBSTRAP_TIMEOUT_MS },
      ),
    );
    await step('configure for a container', async () => {
      await copyOverlay(guestDir('debian-12-ct'), rootDir);
      const unitDir = path.join(rootDir, 'etc', 'systemd', 'system');
      for (const unit of MASKED_UNITS) {
        await rm(path.join(unitDir, unit), { force: true });
        await symlink('/dev/null', path.join(unitDir, unit));
      }
      // The console's login prompt, whether or not systemd recognises the runtime as a container.
      const gettyWants = path.join(unitDir, 'getty.target.wants');
      await mkdir(gettyWants, { recursive: true });
      await rm(path.join(gettyWants, 'console-getty.service'), { force: true });
      await symlink('/lib/systemd/system/console-getty.service', path.join(gettyWants, 'console-getty.service'));
    });
    return step('list packages', () => installedPackages(rootDir));
  },
};

/**
 * The build host's apt sources for bookworm from Debian's archive (deb822 stanzas of /etc/apt/sources.list.d/*.sources
 * naming a bookworm suite, signed by Debian's keyring or unsigned), or null when it has none: mmdebstrap then uses
 * deb.debian.org with the updates and security suites.
 */
export async function hostDebianSources(dir = HOST_SOURCES_DIR): Promise<string | null> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.sources')).sort();
  const stanzas: string[] = [];
  for (const name of names) {
    const text = await readFile(path.join(dir, name), 'utf8');
    for (const stanza of text.split(/\n\s*\n/)) {
      const fields = deb822Fields(stanza);
      const suites = (fields.get('suites') ?? '').split(/\s+/);
      const debian =
        (fields.get('types') ?? '').split(/\s+/).includes('deb') &&
        suites.some((suite) => suite === SUITE || suite.startsWith(`${SUITE}-`)) &&
        (fields.get('enabled') ?? 'yes') !== 'no' &&
        // An inline key (an empty first line) belongs to some other archive.
        (!fields.has('signed-by') || /(^|\/)debian-archive-keyring\.gpg$/.test(fields.get('signed-by') ?? ''));
      if (debian) stanzas.push(stanza.trim());
    }
  }
  return stanzas.length > 0 ? `${stanzas.join('\n\n')}\n` : null;
}

/** The single-line fields of one deb822 stanza, by lowercase name; comments are skipped. */
function deb822Fields(stanza: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stanza.split('\n')) {
    const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) fields.set(match[1].toLowerCase(), match[2].trim());
  }
  return fields;
}

/** Debian package name -> version of everything installed in `rootDir`. */
async function installedPackages(rootDir: string): Promise<Record<string, string>> {
  const { stdout } = await run('dpkg-query', [`--admindir=${path.join(rootDir, 'var', 'lib', 'dpkg')}`, '-W', '-f', '${Package}\t${Version}\n'], {
    errorCode: 'IMAGE_BUILD_FAILED',
  });
  const packages: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const [name, version] = line.split('\t');
    if (name && version) packages[name] = version;
  }
  if (!packages.systemd) throw new DroverError('IMAGE_BUILD_FAILED', 'the root file system has no systemd package');
  return packages;
}
