import path from 'node:path';
import type { Command } from 'commander';
import { DroverError } from '../../shared/errors.js';
import { defaultDataDir, tinyImageDir } from '../../shared/paths.js';
import { buildTinyImage } from '../../images/tiny/build.js';
import { ImageLibrary } from '../../images/library.js';
import { formatBytes, outputFormat, printObject, printTable, progress, progressDone } from '../output.js';

function library(dataDir: string | undefined): ImageLibrary {
  return new ImageLibrary(path.join(dataDir ?? defaultDataDir(), 'images'));
}

/** `drover image build|import|list|delete`. */
export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('Guest images: build, import, list and delete');

  image
    .command('build')
    .description('Build a guest image from Debian packages (only "tiny" exists); cached until its inputs change')
    .argument('<name>', 'image to build: tiny')
    .option('--force', 'rebuild even if the cached image is up to date')
    .option('--out <dir>', 'output directory', tinyImageDir())
    .option('-o, --output <format>', 'table or json')
    .action(async (name: string, opts: { force?: boolean; out: string; output?: string }) => {
      const format = outputFormat(opts.output);
      if (name !== 'tiny') throw new DroverError('INVALID_ARGUMENT', `unknown image recipe "${name}"; available: tiny`);
      const built = await buildTinyImage({ outDir: opts.out, force: opts.force ?? false, onProgress: progress });
      progressDone();
      printObject(
        format === 'json'
          ? built
          : { image: 'tiny', dir: built.dir, kernel: built.manifest.kernelVersion, inputs: built.manifest.inputsHash, builtAt: built.manifest.builtAt },
        format,
      );
    });

  image
    .command('import')
    .description('Import a qcow2, raw, vmdk or vhdx file into the image library (stored as qcow2)')
    .argument('<file>', 'the image file')
    .requiredOption('--name <name>', 'library name for the image')
    .option('--format <format>', 'source format, when probing is not enough (raw, qcow2, vmdk, vhdx)')
    .option('--os-notes <text>', 'free-form notes about the guest OS')
    .option('--data-dir <dir>', 'Drover data directory')
    .option('-o, --output <format>', 'table or json')
    .action(async (file: string, opts: { name: string; format?: string; osNotes?: string; dataDir?: string; output?: string }) => {
      const format = outputFormat(opts.output);
      progress(`importing ${file}...`);
      const meta = await library(opts.dataDir).import(path.resolve(file), {
        name: opts.name,
        ...(opts.osNotes ? { osNotes: opts.osNotes } : {}),
        ...(opts.format ? { format: opts.format } : {}),
      });
      progressDone();
      printObject(meta, format);
    });

  image
    .command('list')
    .description('List the image library')
    .option('--data-dir <dir>', 'Drover data directory')
    .option('-o, --output <format>', 'table or json')
    .action(async (opts: { dataDir?: string; output?: string }) => {
      const images = await library(opts.dataDir).list();
      printTable(
        images,
        {
          name: (i) => i.name,
          source: (i) => i.sourceFormat,
          'virtual size': (i) => formatBytes(i.virtualSizeBytes),
          'on disk': (i) => formatBytes(i.actualSizeBytes),
          sha256: (i) => i.sha256.slice(0, 12),
          'os notes': (i) => i.osNotes,
        },
        outputFormat(opts.output),
      );
    });

  image
    .command('delete')
    .description('Delete an image from the library')
    .argument('<name>')
    .option('--data-dir <dir>', 'Drover data directory')
    .action(async (name: string, opts: { dataDir?: string }) => {
      await library(opts.dataDir).delete(name);
      process.stdout.write(`deleted image ${name}\n`);
    });
}
