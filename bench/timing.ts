// Timing rules shared by every column (bench/torch_peer.py follows the same ones).
//
// A case is timed in ROUNDS rounds; in each round every column takes its turn (ours, ORT,
// torch), so that a burst of load from elsewhere on a shared machine lands on all columns
// alike instead of on whichever ran during it. Within a round a column makes repetitions
// until both a minimum count and a time budget are reached (or a maximum count); the first
// round starts with untimed warm-up runs. A column's figure is the median of all its
// repetitions over the rounds.

export interface TimingPolicy {
  warmup: number;
  minReps: number;
  maxReps: number;
  /** Stop adding repetitions once this much time was spent on them (ms). */
  budgetMs: number;
}

/** The whole-case policy; each round gets its share (roundPolicy). */
export const DEFAULT_POLICY: TimingPolicy = { warmup: 2, minReps: 6, maxReps: 120, budgetMs: 2100 };

/** Whole training steps take 0.1-2 s each: fewer repetitions, but at least 3 per round. */
export const TRAIN_STEP_POLICY: TimingPolicy = { warmup: 2, minReps: 9, maxReps: 30, budgetMs: 4500 };

export const ROUNDS = 3;

export interface Timing {
  /** Median wall time of one run (ms). */
  medianMs: number;
  reps: number;
}

/** The policy of one round: warm-up only in the first, the counts and the budget split evenly. */
export function roundPolicy(policy: TimingPolicy, round: number): TimingPolicy {
  return {
    warmup: round === 0 ? policy.warmup : 0,
    minReps: Math.ceil(policy.minReps / ROUNDS),
    maxReps: Math.ceil(policy.maxReps / ROUNDS),
    budgetMs: policy.budgetMs / ROUNDS,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function summarize(times: readonly number[]): Timing {
  return { medianMs: median(times), reps: times.length };
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function moreReps(policy: TimingPolicy, reps: number, spent: number): boolean {
  return reps < policy.maxReps && (reps < policy.minReps || spent < policy.budgetMs);
}

/** Wall times (ms) of the repetitions of a synchronous function. */
export function sampleSync(run: () => unknown, policy: TimingPolicy): number[] {
  for (let i = 0; i < policy.warmup; i++) run();
  const times: number[] = [];
  let spent = 0;
  while (moreReps(policy, times.length, spent)) {
    const start = nowMs();
    run();
    times.push(nowMs() - start);
    spent += times[times.length - 1];
  }
  return times;
}

/** Wall times (ms) of the repetitions of an asynchronous function, each awaited before the next. */
export async function sampleAsync(run: () => Promise<unknown>, policy: TimingPolicy): Promise<number[]> {
  for (let i = 0; i < policy.warmup; i++) await run();
  const times: number[] = [];
  let spent = 0;
  while (moreReps(policy, times.length, spent)) {
    const start = nowMs();
    await run();
    times.push(nowMs() - start);
    spent += times[times.length - 1];
  }
  return times;
}
