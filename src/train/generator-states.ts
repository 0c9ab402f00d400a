// A trainer's named random generators as checkpoints store them, and back.
import type { Generator, GeneratorState } from '../tensor/random.js';

export function generatorStates(generators: Record<string, Generator>): Record<string, GeneratorState> {
  return Object.fromEntries(Object.entries(generators).map(([name, g]) => [name, g.getState()]));
}

/** Sets every generator from `saved`; one missing from it is an error naming `source`. */
export function restoreGenerators(
  generators: Record<string, Generator>,
  saved: Record<string, GeneratorState>,
  source: string,
): void {
  for (const [name, generator] of Object.entries(generators)) {
    const state = saved[name];
    if (state === undefined) throw new Error(`${source}: trainer state lacks the ${name} generator`);
    generator.setState(state);
  }
}
