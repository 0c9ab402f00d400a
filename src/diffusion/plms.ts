// PLMS, the pseudo linear multistep method of Liu et al. 2022 (PNDM), as CompVis PLMSSampler:
// DDIM's eta-0 update driven by an Adams-Bashforth combination of the current and past eps,
//
//   1 past eps:  (3 e_t - e_1) / 2
//   2 past eps:  (23 e_t - 16 e_1 + 5 e_2) / 12
//   3 or more:   (55 e_t - 59 e_1 + 37 e_2 - 9 e_3) / 24
//
// (e_1 the most recent). The first step has no history and takes a pseudo improved-Euler step:
// a DDIM step with e_t, a second model call at the next timestep on its result, and the
// DDIM step again with the mean of both eps. Only the first call's eps enters the history.
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { ddimStep } from './ddim.js';
import { predictEpsAndX0 } from './forward.js';
import {
  checkClipX0,
  clampPrediction,
  DEFAULT_SAMPLING_STEPS,
  linearCombination,
  predictDenoised,
  samplingPlan,
  type DenoiseFn,
  type PredictionOptions,
} from './sampler-common.js';
import type { DiffusionSchedule } from './schedule.js';

export interface PLMSOptions extends PredictionOptions {
  /** Default 50. */
  steps?: number;
}

/** Adams-Bashforth coefficients of [e_t, e_1, e_2, e_3], by the number of past eps (1, 2, 3). */
export const PLMS_COEFFICIENTS: readonly (readonly number[])[] = Object.freeze([
  [3 / 2, -1 / 2],
  [23 / 12, -16 / 12, 5 / 12],
  [55 / 24, -59 / 24, 37 / 24, -9 / 24],
]);

/** The multistep eps from the current eps and up to three past ones, most recent first (at least one). */
export function plmsEps(eps: Tensor, pastEps: readonly Tensor[]): Tensor {
  if (pastEps.length < 1) throw new Error('plmsEps: needs at least one past eps');
  const coefficients = PLMS_COEFFICIENTS[Math.min(pastEps.length, 3) - 1];
  const history = [eps, ...pastEps];
  return linearCombination(coefficients.map((c, i) => [c, history[i]] as const));
}

/** Samples from x_T in `steps` PLMS steps (steps + 1 model calls). */
export function samplePLMS(
  schedule: DiffusionSchedule,
  denoise: DenoiseFn,
  xT: Tensor,
  options: PLMSOptions = {},
): Tensor {
  checkClipX0(options.clipX0, 'samplePLMS');
  const plan = samplingPlan(schedule, options.steps ?? DEFAULT_SAMPLING_STEPS);
  const totalSteps = plan.timesteps.length;
  return noGrad(() => {
    let x = xT;
    const pastEps: Tensor[] = []; // most recent first, at most 3
    for (let step = 0; step < totalSteps; step++) {
      const t = plan.timesteps[step];
      const alphaBarPrev = plan.alphaBarPrev[step];
      const { eps, x0 } = predictDenoised(schedule, denoise, x, t, options);
      let epsPrime: Tensor;
      if (pastEps.length === 0) {
        const xEuler = ddimStep(eps, x0, alphaBarPrev, 0, null);
        // CompVis clamps the next index, so a one-step run evaluates at t again.
        const tNext = plan.timesteps[Math.min(step + 1, totalSteps - 1)];
        const next = predictDenoised(schedule, denoise, xEuler, tNext, options);
        epsPrime = linearCombination([
          [0.5, eps],
          [0.5, next.eps],
        ]);
      } else {
        epsPrime = plmsEps(eps, pastEps);
      }
      // The update's own x0 (from eps'), clamped like every prediction when clipX0 is set.
      const update = clampPrediction(schedule, x, t, predictEpsAndX0(schedule, 'eps', x, t, epsPrime), options.clipX0);
      const predX0 = update.x0;
      x = ddimStep(update.eps, predX0, alphaBarPrev, 0, null);
      pastEps.unshift(eps);
      if (pastEps.length > 3) pastEps.pop();
      options.callback?.({ step, totalSteps, t, x, predX0 });
    }
    return x;
  });
}
