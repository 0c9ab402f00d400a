// What the training commands share: the schedule options (steps, checkpoint, sample and log
// intervals), the rule that a resumed run takes its arithmetic from the checkpoint, and the
// resume report.
import { setNumThreads } from '../tensor/device.js';
import { DATA_SPECS } from '../data/spec.js';
import { countOption, UsageError, type OptionSpec, type ParsedArgs } from './args.js';

export interface Intervals {
  steps?: number;
  checkpointEvery?: number;
  sampleEvery?: number;
  logEvery?: number;
  keepCheckpoints?: number;
}

/** The options naming a run's data, directory, resume point and length, as every trainer takes them. */
export function runOptions(defaultSteps: number): OptionSpec[] {
  return [
    { name: 'data', kind: 'string', value: '<spec>', description: `Training data: ${DATA_SPECS.join(', ')}` },
    { name: 'out', kind: 'string', value: '<dir>', description: 'Run directory (must not hold a run already)' },
    {
      name: 'resume',
      kind: 'string',
      value: '<dir|ckpt>',
      description: 'Continue a run: its directory or a checkpoint',
    },
    { name: 'steps', kind: 'integer', value: '<n>', description: `Optimizer steps in all (default ${defaultSteps})` },
  ];
}

/** Applies --threads and reads the schedule options common to every trainer. */
export function readTrainingOptions(args: ParsedArgs, command: string): Intervals {
  const threads = countOption(args, 'threads', 1, command);
  if (threads !== undefined) setNumThreads(threads);
  return {
    steps: countOption(args, 'steps', 1, command),
    checkpointEvery: countOption(args, 'checkpoint-every', 0, command),
    sampleEvery: countOption(args, 'sample-every', 0, command),
    logEvery: countOption(args, 'log-every', 1, command),
    keepCheckpoints: countOption(args, 'keep-checkpoints', 1, command),
  };
}

/** Refuses options a checkpoint fixes, when given with --resume. */
export function rejectFixedOnResume(args: ParsedArgs, fixed: readonly string[], command: string): void {
  const given = fixed.find((name) => args.options.has(name));
  if (given !== undefined) {
    throw new UsageError(`${command}: --${given} cannot be combined with --resume (the checkpoint fixes it)`);
  }
}

/** Prints where a resumed run stands; false when it has no step left to train. */
export function reportResume(trainer: { step: number; outDir: string; settings: { steps: number } }): boolean {
  const { steps } = trainer.settings;
  if (trainer.step >= steps) {
    console.log(`the run is at step ${trainer.step} of ${steps} already; give --steps to train further`);
    return false;
  }
  console.log(`resuming ${trainer.outDir} at step ${trainer.step} of ${steps}`);
  return true;
}

/** The entries whose value is not undefined. */
export function defined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
