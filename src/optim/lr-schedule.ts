// Learning-rate schedules as pure functions of the step.
//
// A schedule maps the number of optimizer steps already taken (0 for the first step) to a
// factor; each group's lr is its initial lr times that factor, as with torch's LambdaLR. The
// trainer calls applyLRSchedule(optimizer, schedule, step) before each optimizer.step(), so a
// resumed run needs nothing but the step count.

/** Multiplier of each group's initial lr after `step` optimizer steps. */
export type LRSchedule = (step: number) => number;

/** What schedules need of an optimizer: its groups' learning rates. */
export interface HasParamGroups {
  readonly paramGroups: readonly { lr: number; initialLr: number }[];
}

export function constantSchedule(): LRSchedule {
  return (step) => {
    checkStep(step);
    return 1;
  };
}

/** Linear from 0 at step 0 to 1 at `warmupSteps`, then constant (diffusers' constant_with_warmup). */
export function linearWarmupSchedule(warmupSteps: number): LRSchedule {
  checkCount(warmupSteps, 'warmupSteps', 'linearWarmupSchedule');
  return (step) => {
    checkStep(step);
    return step < warmupSteps ? step / warmupSteps : 1;
  };
}

export interface CosineScheduleOptions {
  warmupSteps: number;
  /** Steps from the start to the end of the cosine (including warm-up). */
  totalSteps: number;
  /** Factor reached at the end of the decay; default 0. */
  minFactor?: number;
  /** Number of cosine periods over the decay; default 0.5 (one fall from 1 to minFactor). */
  cycles?: number;
}

/**
 * Linear warm-up from 0, then 0.5 * (1 + cos(2 pi cycles progress)) mapped onto
 * [minFactor, 1] (diffusers' cosine_schedule_with_warmup when minFactor = 0); progress runs
 * 0..1 over the steps after warm-up and is held at 1 past `totalSteps`.
 */
export function cosineWarmupSchedule(options: CosineScheduleOptions): LRSchedule {
  const { warmupSteps, totalSteps, minFactor = 0, cycles = 0.5 } = options;
  const where = 'cosineWarmupSchedule';
  checkCount(warmupSteps, 'warmupSteps', where);
  checkCount(totalSteps, 'totalSteps', where);
  if (totalSteps < warmupSteps) throw new Error(`${where}: totalSteps (${totalSteps}) < warmupSteps (${warmupSteps})`);
  if (!(minFactor >= 0 && minFactor <= 1)) throw new Error(`${where}: minFactor must lie in [0, 1], got ${minFactor}`);
  if (!(cycles > 0 && Number.isFinite(cycles))) throw new Error(`${where}: cycles must be > 0, got ${cycles}`);
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return step / warmupSteps;
    const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    const cosine = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 2 * cycles * progress)));
    return minFactor + (1 - minFactor) * cosine;
  };
}

export interface LambdaLinearOptions {
  warmUpSteps: number | readonly number[];
  fStart: number | readonly number[];
  fMax: number | readonly number[];
  fMin: number | readonly number[];
  cycleLengths: number | readonly number[];
}

/**
 * The LDM code's LambdaLinearScheduler (ldm/lr_scheduler.py), as Stable Diffusion v1 trains
 * with it (warm_up_steps [10000], f_start [1e-6], f_max [1], f_min [1]). Per cycle c, with n
 * the step within the cycle: linear from fStart to fMax over warmUpSteps, then linear from
 * fMax toward fMin, reaching it at the cycle's end. A step on a cycle boundary belongs to the
 * earlier cycle, as in the original; past the last cycle the factor stays at its fMin.
 */
export function lambdaLinearSchedule(options: LambdaLinearOptions): LRSchedule {
  const where = 'lambdaLinearSchedule';
  const lists = {
    warmUpSteps: asList(options.warmUpSteps),
    fStart: asList(options.fStart),
    fMax: asList(options.fMax),
    fMin: asList(options.fMin),
    cycleLengths: asList(options.cycleLengths),
  };
  const cycles = lists.cycleLengths.length;
  for (const [key, list] of Object.entries(lists)) {
    if (list.length !== cycles || cycles === 0) {
      throw new Error(`${where}: ${key} has ${list.length} entries; every option needs one per cycle (${cycles})`);
    }
    if (list.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
      throw new Error(`${where}: ${key} must hold finite numbers, got [${list.join(', ')}]`);
    }
  }
  lists.warmUpSteps.forEach((w) => checkCount(w, 'warmUpSteps', where));
  lists.cycleLengths.forEach((c) => {
    if (!(c > 0)) throw new Error(`${where}: cycle lengths must be > 0, got ${c}`);
  });
  // Cumulative cycle ends (the original's cum_cycles[1:]).
  const cycleEnds: number[] = [];
  let end = 0;
  for (const length of lists.cycleLengths) {
    end += length;
    cycleEnds.push(end);
  }

  return (step) => {
    checkStep(step);
    let c = 0;
    while (c < cycles && step > cycleEnds[c]) c++;
    if (c === cycles) return lists.fMin[cycles - 1];
    const n = step - (c === 0 ? 0 : cycleEnds[c - 1]);
    const { warmUpSteps, fStart, fMax, fMin, cycleLengths } = lists;
    if (n < warmUpSteps[c]) return ((fMax[c] - fStart[c]) / warmUpSteps[c]) * n + fStart[c];
    return fMin[c] + ((fMax[c] - fMin[c]) * (cycleLengths[c] - n)) / cycleLengths[c];
  };
}

/** Sets every group's lr to `lr` (and leaves initialLr alone). */
export function setLearningRate(optimizer: HasParamGroups, lr: number): void {
  if (!(typeof lr === 'number' && Number.isFinite(lr) && lr >= 0)) {
    throw new Error(`setLearningRate: lr must be a finite number >= 0, got ${lr}`);
  }
  for (const group of optimizer.paramGroups) group.lr = lr;
}

/** Sets each group's lr to initialLr * schedule(step) and returns the factor. */
export function applyLRSchedule(optimizer: HasParamGroups, schedule: LRSchedule, step: number): number {
  const factor = schedule(step);
  if (!(Number.isFinite(factor) && factor >= 0)) {
    throw new Error(`applyLRSchedule: the schedule gave factor ${factor} at step ${step}`);
  }
  for (const group of optimizer.paramGroups) group.lr = group.initialLr * factor;
  return factor;
}

function asList(value: number | readonly number[]): readonly number[] {
  return typeof value === 'number' ? [value] : value;
}

function checkCount(value: number, what: string, where: string): void {
  if (!(Number.isInteger(value) && value >= 0))
    throw new Error(`${where}: ${what} must be an integer >= 0, got ${value}`);
}

function checkStep(step: number): void {
  if (!(Number.isInteger(step) && step >= 0)) throw new Error(`LR schedule: step must be an integer >= 0, got ${step}`);
}
