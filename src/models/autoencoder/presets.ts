// The shipped first-stage presets: YAML files in the CompVis layout under configs/autoencoder/
// at the package root (configs/autoencoder/README.md lists them with their sizes).
import { presetNames, presetPath } from '../../io/package-files.js';

/** Names of the shipped presets, e.g. "kl-f8" or "cpu/kl-f4-32px-1ch". */
export function autoencoderPresetNames(): string[] {
  return presetNames('autoencoder');
}

/** The file of a shipped preset; load it with loadAutoencoderConfig. */
export function autoencoderPresetPath(name: string): string {
  return presetPath('autoencoder', name);
}
