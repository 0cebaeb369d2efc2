/**
 * Kernel module bookkeeping for the tiny image: parse depmod's output and work out which
 * module files to ship and in which order `insmod` must load them (dependencies first).
 */
import { DroverError } from '../../shared/errors.js';

/** One loadable module as depmod lists it; paths are relative to /lib/modules/<kernel version>. */
export interface KernelModule {
  name: string;
  path: string;
  dependencies: string[];
}

/** Everything depmod knows about one kernel's modules, keyed by normalized module name. */
export interface ModuleIndex {
  modules: Map<string, KernelModule>;
  builtin: Set<string>;
}

const MODULE_SUFFIX = /\.ko(\.xz|\.zst|\.gz)?$/;

/** The kernel's name for a module: its file name without .ko[.xz|.zst|.gz], with '-' read as '_'. */
export function moduleName(pathOrName: string): string {
  const base = pathOrName.slice(pathOrName.lastIndexOf('/') + 1).replace(MODULE_SUFFIX, '');
  return base.replaceAll('-', '_');
}

/** Parses depmod's modules.dep text ("path: dep-path dep-path ...") into modules keyed by name. */
export function parseModulesDep(text: string): Map<string, KernelModule> {
  const modules = new Map<string, KernelModule>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new DroverError('IMAGE_BUILD_FAILED', `modules.dep: malformed line "${line}"`);
    const path = line.slice(0, colon).trim();
    const dependencies = line
      .slice(colon + 1)
      .split(/\s+/)
      .filter((dep) => dep !== '')
      .map(moduleName);
    modules.set(moduleName(path), { name: moduleName(path), path, dependencies });
  }
  return modules;
}

/** Parses modules.builtin (one "kernel/....ko" path a line) into the set of built-in module names. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .map(moduleName),
  );
}

/**
 * Returns the modules to load for `wanted`, each after everything it depends on, without duplicates.
 * Built-in modules are skipped; a wanted module the kernel lacks throws unless it is listed in `optional`.
 */
export function resolveModuleClosure(index: ModuleIndex, wanted: string[], optional: string[] = []): KernelModule[] {
  const ordered: KernelModule[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();

  const visit = (name: string, requiredBy: string | undefined): void => {
    if (done.has(name) || index.builtin.has(name)) return;
    const module = index.modules.get(name);
    if (!module) {
      const who = requiredBy ? `, needed by ${requiredBy},` : '';
      throw new DroverError('IMAGE_BUILD_FAILED', `kernel module ${name}${who} is neither in modules.dep nor built in`);
    }
    if (visiting.has(name)) throw new DroverError('IMAGE_BUILD_FAILED', `kernel module dependency cycle through ${name}`);
    visiting.add(name);
    for (const dependency of module.dependencies) visit(dependency, name);
    visiting.delete(name);
    done.add(name);
    ordered.push(module);
  };

  for (const name of wanted) visit(moduleName(name), undefined);
  for (const name of optional.map(moduleName)) {
    if (index.modules.has(name)) visit(name, undefined);
  }
  return ordered;
}
