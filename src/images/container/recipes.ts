/** The container image recipes `drover image build` knows, by image name. */
import type { ContainerRecipe } from './build.js';
import { debian12CtRecipe } from './debian-12-ct.js';
import { tinyCtRecipe } from './tiny-ct.js';

export const CONTAINER_RECIPES: Readonly<Record<string, ContainerRecipe>> = {
  [tinyCtRecipe.name]: tinyCtRecipe,
  [debian12CtRecipe.name]: debian12CtRecipe,
};

/** The recipe that builds image `name`, or undefined. */
export function containerRecipe(name: string): ContainerRecipe | undefined {
  return Object.hasOwn(CONTAINER_RECIPES, name) ? CONTAINER_RECIPES[name] : undefined;
}
