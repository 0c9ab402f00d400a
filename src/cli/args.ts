// Command-line parsing and help text for the `ldm` commands: `--name value`, `--name=value`,
// short aliases (`-o value`), boolean flags, positionals, and `--` to end the options. Every
// mistake (unknown flag, missing or malformed value) is a UsageError naming the command.
import { didYouMean } from '../io/config.js';

export type OptionKind = 'string' | 'integer' | 'number' | 'boolean';
export type OptionValue = string | number | boolean;

export interface OptionSpec {
  /** Long name without dashes, e.g. 'batch-size'. */
  name: string;
  /** One-letter alias without the dash, e.g. 'o'. */
  short?: string;
  kind: OptionKind;
  /** Placeholder in the help, e.g. '<dir>'. */
  value?: string;
  description: string;
  /** Allowed values of a string option. */
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  /** One line for `ldm --help`. */
  summary: string;
  /** e.g. '--model <ckpt> <images...> [-o out.png]'. */
  usage: string;
  /** Paragraphs after the usage line. */
  details?: readonly string[];
  options: readonly OptionSpec[];
  /** Positional arguments allowed: their count range. */
  positionals: { min: number; max: number; name: string };
  examples?: readonly string[];
}

export interface ParsedArgs {
  options: Map<string, OptionValue>;
  positionals: string[];
}

/** A mistake in how a command was called: printed as one line, exit code 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function isHelpRequest(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const where = spec.name;
  const options = new Map<string, OptionValue>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    const option = findOption(spec, flag);
    let value: string | undefined = equals === -1 ? undefined : arg.slice(equals + 1);
    if (option.kind === 'boolean') {
      if (value !== undefined) throw new UsageError(`${where}: ${flag} takes no value`);
      value = 'true';
    } else if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`${where}: ${flag} needs a value ${option.value ?? ''}`.trimEnd());
      value = argv[++i];
    }
    if (options.has(option.name)) throw new UsageError(`${where}: --${option.name} is given twice`);
    options.set(option.name, convert(option, value, where));
  }
  const { min, max, name } = spec.positionals;
  if (positionals.length < min)
    throw new UsageError(`${where}: missing ${name} (usage: ldm ${spec.name} ${spec.usage})`);
  if (positionals.length > max) {
    const extra = positionals[max];
    throw new UsageError(
      max === 0
        ? `${where}: unexpected argument "${extra}" (this command takes options only)`
        : `${where}: unexpected argument "${extra}" (usage: ldm ${spec.name} ${spec.usage})`,
    );
  }
  return { options, positionals };
}

function findOption(spec: CommandSpec, flag: string): OptionSpec {
  const where = spec.name;
  const option = flag.startsWith('--')
    ? spec.options.find((o) => o.name === flag.slice(2))
    : spec.options.find((o) => o.short !== undefined && o.short === flag.slice(1));
  if (option !== undefined) return option;
  const names = spec.options.map((o) => o.name);
  const suggestion = didYouMean(flag.replace(/^-+/, ''), names);
  const hint = suggestion === null ? '' : ` (did you mean --${suggestion}?)`;
  throw new UsageError(`${where}: unknown option ${flag}${hint}; see ldm ${spec.name} --help`);
}

function convert(option: OptionSpec, text: string, where: string): OptionValue {
  const flag = `--${option.name}`;
  switch (option.kind) {
    case 'boolean':
      return true;
    case 'integer':
      if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
        throw new UsageError(`${where}: ${flag} must be an integer, got "${text}"`);
      }
      return Number(text);
    case 'number': {
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value))
        throw new UsageError(`${where}: ${flag} must be a number, got "${text}"`);
      return value;
    }
    case 'string':
      if (option.choices !== undefined && !option.choices.includes(text)) {
        throw new UsageError(`${where}: ${flag} must be one of ${option.choices.join(', ')}, got "${text}"`);
      }
      return text;
  }
}

/** Typed reads of parsed options. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function numberOption(args: ParsedArgs, name: string): number | undefined {
  const value = args.options.get(name);
  return typeof value === 'number' ? value : undefined;
}

export function flagOption(args: ParsedArgs, name: string): boolean {
  return args.options.get(name) === true;
}

/** An integer option that must be at least `min`. */
export function countOption(args: ParsedArgs, name: string, min: number, command: string): number | undefined {
  const value = numberOption(args, name);
  if (value !== undefined && value < min) throw new UsageError(`${command}: --${name} must be >= ${min}, got ${value}`);
  return value;
}

export function requireOption(args: ParsedArgs, name: string, command: string): string {
  const value = stringOption(args, name);
  if (value === undefined) throw new UsageError(`${command}: --${name} is required; see ldm ${command} --help`);
  return value;
}

/** The help text of a command. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [`Usage: ldm ${spec.name} ${spec.usage}`, '', spec.summary];
  for (const paragraph of spec.details ?? []) lines.push('', ...wrap(paragraph, 100));
  lines.push('', 'Options:');
  const labels = spec.options.map((o) => {
    const short = o.short === undefined ? '    ' : `-${o.short}, `;
    return `  ${short}--${o.name}${o.value === undefined ? '' : ` ${o.value}`}`;
  });
  const width = Math.max(...labels.map((l) => l.length), '  -h, --help'.length) + 2;
  spec.options.forEach((o, i) => lines.push(labels[i].padEnd(width) + o.description));
  lines.push('  -h, --help'.padEnd(width) + 'Show this help');
  if (spec.examples !== undefined && spec.examples.length > 0) {
    lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  }
  return lines.join('\n') + '\n';
}

/** Splits text into lines of at most `width` characters at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
