import { readFile } from 'node:fs/promises';
import { DroverError, isDroverError } from '../shared/errors.js';

/** Names the failing build step in the error; a missing host program stays DEPENDENCY_MISSING. */
export function buildStepError(step: string, err: unknown): DroverError {
  if (isDroverError(err)) {
    const code = err.code === 'DEPENDENCY_MISSING' ? err.code : 'IMAGE_BUILD_FAILED';
    return new DroverError(code, `${step}: ${err.detail ?? err.message}`, { cause: err });
  }
  return new DroverError('IMAGE_BUILD_FAILED', `${step}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** True for a manifest's `packages`: package names mapped to version strings. */
export function isPackageMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((version) => typeof version === 'string');
}

/** A built image's manifest read from `file` and checked by `parse`; null when it is missing or malformed. */
export async function readBuiltManifest<T>(file: string, parse: (value: unknown) => T): Promise<T | null> {
  try {
    return parse(JSON.parse(await readFile(file, 'utf8')));
  } catch {
    return null;
  }
}

/** Runs one named build step: reports it to `onProgress`, and names it in the error when it fails. */
export type Step = <T>(name: string, action: () => Promise<T>) => Promise<T>;

/** The step runner of one build. */
export function buildSteps(onProgress?: (step: string) => void): Step {
  return async (name, action) => {
    onProgress?.(name);
    try {
      return await action();
    } catch (err) {
      throw buildStepError(name, err);
    }
  };
}
