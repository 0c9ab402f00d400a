// Where the bundled datasets live: npm packages (resolved like an import from this file) and a
// Debian package, with errors that say what to install.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The folder of an installed npm package, or an error naming the install command. */
export function npmPackageDir(name: string, usedFor: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new Error(`${usedFor}: the npm package '${name}' is not installed (run: npm install ${name})`);
  }
}

/** Checks that `files` exist in `dir`, the files of Debian package `debianPackage`. */
export function requireDebianFiles(dir: string, files: readonly string[], debianPackage: string, usedFor: string) {
  const missing = files.filter((file) => !fs.existsSync(join(dir, file)));
  if (missing.length > 0) {
    throw new Error(
      `${usedFor}: ${missing.map((file) => join(dir, file)).join(', ')} not found; ` +
        `install the Debian package (apt-get install ${debianPackage})`,
    );
  }
}
