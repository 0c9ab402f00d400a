// The shipped first-stage presets: YAML files in the CompVis layout under configs/autoencoder/
// at the package root (configs/autoencoder/README.md lists them with their sizes).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** configs/autoencoder of this package, found from this file's location (src/ or dist/src/). */
function presetDirectory(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir)
      throw new Error('autoencoder presets: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return path.join(dir, 'configs', 'autoencoder');
}

/** Names of the shipped presets, e.g. "kl-f8" or "cpu/kl-f4-32px-1ch". */
export function autoencoderPresetNames(): string[] {
  const root = presetDirectory();
  const names: string[] = [];
  const visit = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory()) visit(path.join(dir, entry.name), `${prefix}${entry.name}/`);
      else if (entry.name.endsWith('.yaml')) names.push(prefix + entry.name.slice(0, -'.yaml'.length));
    }
  };
  visit(root, '');
  return names;
}

/** The file of a shipped preset; load it with loadAutoencoderConfig. */
export function autoencoderPresetPath(name: string): string {
  const names = autoencoderPresetNames();
  if (!names.includes(name))
    throw new Error(`autoencoder preset "${name}" does not exist; presets: ${names.join(', ')}`);
  return path.join(presetDirectory(), `${name}.yaml`);
}
