// What every `ldm` command provides: its spec (options, help) and its action.
import type { CommandSpec, ParsedArgs } from './args.js';

export interface Command {
  spec: CommandSpec;
  /** Resolves to the process exit code. */
  run(args: ParsedArgs): Promise<number>;
}
