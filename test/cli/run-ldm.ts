// Shared by the CLI tests: the `ldm` command run as a user runs it, in a child process, and the
// PNG files it writes read back with their settings.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import { decodeImage } from '../../src/io/image.js';
import { readPngText } from '../../src/io/png.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ldm args...`; `onStdout` sees the stdout so far, with the child (e.g. to signal it). */
export type LdmRunner = (args: string[], onStdout?: (text: string, child: ChildProcess) => void) => Promise<Outcome>;

/** An `ldm` runner whose children start in `cwd`, where relative paths in their arguments resolve. */
export function ldmRunner(cwd: string): LdmRunner {
  return (args, onStdout) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        onStdout?.(stdout, child);
      });
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
}

/** A PNG file's [C, H, W] and its text chunks (the settings `ldm` writes into its images). */
export function png(file: string): { shape: number[]; text: Record<string, string> } {
  const bytes = fs.readFileSync(file);
  const image = decodeImage(bytes);
  return { shape: [image.channels, image.height, image.width], text: readPngText(bytes) };
}
