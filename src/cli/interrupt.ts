// Long runs stop cleanly on Ctrl-C (SIGINT) or a polite kill (SIGTERM): the first signal asks the
// run to save a checkpoint after the current step and return; the handlers are removed afterwards.
import type { ProgressSink } from '../train/progress.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export async function runWithInterrupt<T>(
  progress: ProgressSink,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) return;
    progress.message('interrupt: saving a checkpoint after this step, then exiting');
    controller.abort();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  try {
    return await work(controller.signal);
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}
