#!/usr/bin/env node
// The `ldm` command: picks the subcommand, prints help, and turns every error into one line on
// stderr with exit code 1 (LDM_DEBUG=1 prints the stack too). The work lives in the library.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { didYouMean } from '../io/config.js';
import { formatHelp, isHelpRequest, parseArgs } from './args.js';
import { decodeCommand, encodeCommand, reconstructCommand } from './autoencoder-tools.js';
import type { Command } from './command.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { generateCommand, sampleCommand } from './sample.js';
import { trainCommand } from './train.js';
import { trainAutoencoderCommand } from './train-autoencoder.js';

const COMMANDS: readonly Command[] = [
  trainAutoencoderCommand,
  reconstructCommand,
  encodeCommand,
  decodeCommand,
  trainCommand,
  sampleCommand,
  generateCommand,
  evalCommand,
  exportCommand,
];

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 4;
  return [
    'Usage: ldm <command> [options]',
    '',
    'Latent Diffusion Models on the CPU: train and use the models of Rombach et al. (CVPR 2022).',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    '',
    "Run `ldm <command> --help` for a command's options. `ldm --version` prints the version.",
    '',
  ].join('\n');
}

function version(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
  return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(globalHelp());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  if (name === 'help') {
    const command = rest.length === 0 ? undefined : findCommand(rest[0]);
    process.stdout.write(command === undefined ? globalHelp() : formatHelp(command.spec));
    return 0;
  }
  const command = findCommand(name);
  if (isHelpRequest(rest)) {
    process.stdout.write(formatHelp(command.spec));
    return 0;
  }
  return command.run(parseArgs(command.spec, rest));
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (command !== undefined) return command;
  const suggestion = didYouMean(
    name,
    COMMANDS.map((c) => c.spec.name),
  );
  const hint = suggestion === null ? '' : ` (did you mean ${suggestion}?)`;
  throw new Error(`unknown command "${name}"${hint}; see ldm --help`);
}

/** The message as one line: its first line, then the rest joined and cut short. */
function oneLine(message: string): string {
  const [first, ...rest] = message.split('\n').map((line) => line.trim());
  const more = rest.filter((line) => line !== '').join(' ');
  const line = more === '' ? first : `${first} ${more}`;
  return line.length > 400 ? `${line.slice(0, 397)}...` : line;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`ldm: error: ${oneLine(message)}\n`);
    if (process.env.LDM_DEBUG === '1' && err instanceof Error && err.stack !== undefined) {
      process.stderr.write(err.stack + '\n');
    }
    process.exitCode = 1;
  },
);
