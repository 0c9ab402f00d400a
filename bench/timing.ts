// Timing rules shared by every column (bench/torch_peer.py follows the same ones): a few
// untimed warm-up runs, then repetitions until both a minimum count and a time budget are
// reached (or a maximum count), and the median of the repetitions.

export interface TimingPolicy {
  warmup: number;
  minReps: number;
  maxReps: number;
  /** Stop adding repetitions once this much time was spent on them (ms). */
  budgetMs: number;
}

export const DEFAULT_POLICY: TimingPolicy = { warmup: 2, minReps: 5, maxReps: 50, budgetMs: 1500 };

export interface Timing {
  /** Median wall time of one run (ms). */
  medianMs: number;
  reps: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Times a synchronous function. */
export function timeSync(run: () => unknown, policy: TimingPolicy = DEFAULT_POLICY): Timing {
  for (let i = 0; i < policy.warmup; i++) run();
  const times: number[] = [];
  let spent = 0;
  while (times.length < policy.maxReps && (times.length < policy.minReps || spent < policy.budgetMs)) {
    const start = nowMs();
    run();
    const elapsed = nowMs() - start;
    times.push(elapsed);
    spent += elapsed;
  }
  return { medianMs: median(times), reps: times.length };
}

/** Times an asynchronous function (each run awaited before the next starts). */
export async function timeAsync(run: () => Promise<unknown>, policy: TimingPolicy = DEFAULT_POLICY): Promise<Timing> {
  for (let i = 0; i < policy.warmup; i++) await run();
  const times: number[] = [];
  let spent = 0;
  while (times.length < policy.maxReps && (times.length < policy.minReps || spent < policy.budgetMs)) {
    const start = nowMs();
    await run();
    const elapsed = nowMs() - start;
    times.push(elapsed);
    spent += elapsed;
  }
  return { medianMs: median(times), reps: times.length };
}
