import path from 'node:path';
import { Option, type Command } from 'commander';
import { DroverError } from '../../shared/errors.js';
import { builtImageDir, tinyImageDir } from '../../shared/paths.js';
import { apiPath, withQuery, type OperationView } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { formatBytes, printJson, printObject, printTable, progress, progressDone } from '../output.js';

/** An image as GET /images lists it: one entry per host library that holds it. */
interface ImageView {
  name: string;
  host: string;
  format: string;
  sourceFormat: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  sha256: string;
  createdAt: string;
  osNotes: string;
  type: 'vm' | 'container';
  container?: { init: string[]; stopSignal: string };
}

/** The images `drover image build` makes: the tiny VM image and the container image recipes. */
const BUILD_RECIPES = ['tiny', 'tiny-ct', 'debian-12-ct'] as const;

interface ImportOptions extends OutputOptions {
  name: string;
  format?: string;
  osNotes?: string;
  host?: string;
  wait: boolean;
}

/** `drover image build` (local, on this machine) and `drover image import|list|delete` (through the controller). */
export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('Guest images: build, import, list and delete');

  const build = image
    .command('build')
    .description(
      'Build an image on this machine from Debian packages, cached until its inputs change: tiny (VM), tiny-ct (busybox container, ' +
        'about 1 s) or debian-12-ct (Debian 12 container with systemd, about a minute; needs the network to the Debian mirror)',
    )
    .argument('<name>', `image to build: ${BUILD_RECIPES.join(', ')}`)
    .option('--force', 'rebuild even if the cached image is up to date')
    .option('--out <dir>', 'output directory (default: <cache>/images/<name>)');
  withOutput(build).action(async (name: string, opts: OutputOptions & { force?: boolean; out?: string }) => {
    if (!(BUILD_RECIPES as readonly string[]).includes(name)) {
      throw new DroverError('INVALID_ARGUMENT', `unknown image recipe "${name}"; available: ${BUILD_RECIPES.join(', ')}`);
    }
    const force = opts.force ?? false;
    if (name === 'tiny') {
      const { buildTinyImage } = await import('../../images/tiny/build.js');
      const built = await buildTinyImage({ outDir: opts.out ?? tinyImageDir(), force, onProgress: progress });
      progressDone();
      printObject(
        opts.output === 'json'
          ? built
          : { image: 'tiny', dir: built.dir, kernel: built.manifest.kernelVersion, inputs: built.manifest.inputsHash, builtAt: built.manifest.builtAt },
        opts.output,
      );
      return;
    }
    const [{ buildContainerImage }, { containerRecipe }] = await Promise.all([import('../../images/container/build.js'), import('../../images/container/recipes.js')]);
    const recipe = containerRecipe(name);
    if (!recipe) throw new DroverError('INVALID_ARGUMENT', `unknown image recipe "${name}"`);
    const built = await buildContainerImage(recipe, { outDir: opts.out ?? builtImageDir(name), force, onProgress: progress });
    progressDone();
    const { manifest } = built;
    printObject(
      opts.output === 'json'
        ? { ...built, type: 'container' }
        : {
            image: name,
            type: 'container',
            dir: built.dir,
            disk: built.disk,
            size: formatBytes(manifest.diskVirtualSizeBytes),
            free: formatBytes(manifest.freeBytes),
            packages: Object.keys(manifest.packages).length,
            inputs: manifest.inputsHash,
            builtAt: manifest.builtAt,
            buildSeconds: manifest.buildSeconds,
          },
      opts.output,
    );
  });

  const importCommand = image
    .command('import')
    .description("Import a qcow2, raw, vmdk or vhdx file into a host's image library (stored as qcow2)")
    .argument('<file>', 'the image file, as a path on the host (relative paths are resolved here)')
    .requiredOption('--name <name>', 'library name for the image')
    .addOption(new Option('--format <format>', 'source format, when probing is not enough').choices(['qcow2', 'raw', 'vmdk', 'vhdx']))
    .option('--os-notes <text>', 'free-form notes about the guest OS')
    .option('--host <host>', 'host whose library gets the image (default: the first reachable host)');
  withOutput(withNoWait(importCommand)).action(async (file: string, opts: ImportOptions) => {
    const client = apiClient();
    const body = {
      path: path.resolve(file),
      name: opts.name,
      ...(opts.format ? { format: opts.format } : {}),
      ...(opts.osNotes ? { osNotes: opts.osNotes } : {}),
      ...(opts.host ? { host: opts.host } : {}),
    };
    const response = await client.request<{ operation: OperationView }>('POST', apiPath('images', 'import'), body);
    if (!opts.wait) return printStarted(response.operation, response, opts.output);
    const done = await followOperation(client, response.operation);
    if (opts.output === 'json') return printJson(done.result);
    const { images } = await client.request<{ images: ImageView[] }>('GET', apiPath('images'));
    const imported = images.find((i) => i.name === opts.name && (!opts.host || i.host === opts.host));
    printObject(imported ? describe(imported) : (done.result ?? { image: opts.name }), 'table');
  });

  withOutput(image.command('list').description('List the images in every host library')).action(async (opts: OutputOptions) => {
    const { images } = await apiClient().request<{ images: ImageView[] }>('GET', apiPath('images'));
    printTable(
      images,
      {
        name: (i) => i.name,
        host: (i) => i.host,
        type: (i) => i.type,
        source: (i) => i.sourceFormat,
        'virtual size': (i) => formatBytes(i.virtualSizeBytes),
        'on disk': (i) => formatBytes(i.actualSizeBytes),
        sha256: (i) => i.sha256.slice(0, 12),
        'os notes': (i) => i.osNotes,
      },
      opts.output,
    );
  });

  const remove = image
    .command('delete')
    .description('Delete an image from a host library (refused while VMs are backed by it)')
    .argument('<name>', 'image name')
    .option('--host <host>', 'host whose library holds it (default: the first reachable host)');
  withOutput(remove).action(async (name: string, opts: OutputOptions & { host?: string }) => {
    await apiClient().request('DELETE', withQuery(apiPath('images', name), { host: opts.host }));
    if (opts.output === 'json') printJson({ image: name, deleted: true });
    else process.stdout.write(`deleted image ${name}\n`);
  });
}

function describe(i: ImageView): Record<string, string> {
  return {
    name: i.name,
    host: i.host,
    type: i.type,
    format: `${i.format} (imported from ${i.sourceFormat})`,
    'virtual size': formatBytes(i.virtualSizeBytes),
    'on disk': formatBytes(i.actualSizeBytes),
    sha256: i.sha256,
    'os notes': i.osNotes || '-',
    created: i.createdAt,
  };
}
