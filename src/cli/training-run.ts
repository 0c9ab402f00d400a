// What the training commands share: the schedule options (steps, checkpoint, sample and log
// intervals), the rule that a resumed run takes its arithmetic from the checkpoint, and the
// resume report.
import { setNumThreads } from '../tensor/device.js';
import { countOption, UsageError, type ParsedArgs } from './args.js';

export interface Intervals {
  steps?: number;
  checkpointEvery?: number;
  sampleEvery?: number;
  logEvery?: number;
  keepCheckpoints?: number;
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
