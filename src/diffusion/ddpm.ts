// DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), as CompVis p_sample_loop with the
// "fixed small" model variance: x_{t-1} ~ N(posterior mean(x0_hat, x_t), posterior variance),
//
//   mean = beta_t sqrt(abar_{t-1}) / (1 - abar_t) x0_hat + (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t) x_t
//   std  = exp(0.5 log max(beta_t (1 - abar_{t-1}) / (1 - abar_t), 1e-20))     (DDPM eq. 7)
//
// through all T timesteps; no noise is added at t = 0 (the last step returns the mean).
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import {
  checkClipX0,
  linearCombination,
  predictDenoised,
  type DenoiseFn,
  type PredictionOptions,
} from './sampler-common.js';
import type { DiffusionSchedule } from './schedule.js';

export interface DDPMOptions extends PredictionOptions {
  generator: Generator;
}

/** One ancestral step from x_t given the predicted x0; `noise` is null at t = 0. */
export function ddpmStep(schedule: DiffusionSchedule, x: Tensor, t: number, x0: Tensor, noise: Tensor | null): Tensor {
  const terms: [number, Tensor][] = [
    [schedule.posteriorMeanCoef1[t], x0],
    [schedule.posteriorMeanCoef2[t], x],
  ];
  if (noise !== null) terms.push([Math.exp(0.5 * schedule.posteriorLogVarianceClipped[t]), noise]);
  return linearCombination(terms);
}

/** Samples x_0 from x_T by T ancestral steps. */
export function sampleDDPM(schedule: DiffusionSchedule, denoise: DenoiseFn, xT: Tensor, options: DDPMOptions): Tensor {
  checkClipX0(options.clipX0, 'sampleDDPM');
  const totalSteps = schedule.numTimesteps;
  return noGrad(() => {
    let x = xT;
    for (let step = 0; step < totalSteps; step++) {
      const t = totalSteps - 1 - step;
      const { x0 } = predictDenoised(schedule, denoise, x, t, options);
      const noise = t > 0 ? Tensor.randn(x.shape, options.generator) : null;
      x = ddpmStep(schedule, x, t, x0, noise);
      options.callback?.({ step, totalSteps, t, x, predX0: x0 });
    }
    return x;
  });
}
