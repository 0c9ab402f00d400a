// Files that ship inside this package: config presets (configs/<family>/) and bundled weights
// (weights/), found from this file's location so that they work from src/ and dist/src/ alike.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding this package's package.json. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** Names of the presets of a family (`autoencoder`, `ldm`): YAML files under configs/<family>/, e.g. "cpu/kl-f4-32px-1ch". */
export function presetNames(family: string): string[] {
  const root = path.join(packageRoot(), 'configs', family);
  const names: string[] = [];
  const visit = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory()) visit(path.join(dir, entry.name), `${prefix}${entry.name}/`);
      else if (entry.name.endsWith('.yaml')) names.push(prefix + entry.name.slice(0, -'.yaml'.length));
    }
  };
  if (fs.existsSync(root)) visit(root, '');
  return names;
}

/** The file of a shipped preset of a family. */
export function presetPath(family: string, name: string): string {
  const names = presetNames(family);
  if (!names.includes(name)) throw new Error(`${family} preset "${name}" does not exist; presets: ${names.join(', ')}`);
  return path.join(packageRoot(), 'configs', family, `${name}.yaml`);
}
