// DDIM (Song et al. 2021, eq. 12), as CompVis DDIMSampler on the 'uniform' timestep grid:
//
//   x0_hat = (x_t - sqrt(1 - a) eps) / sqrt(a)
//   sigma  = eta sqrt((1 - a_prev) / (1 - a) (1 - a / a_prev))            (eq. 16)
//   x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z
//
// with a = abar at the step's timestep and a_prev = abar at the next one (see samplingPlan).
// eta 0 is deterministic; eta 1 on every timestep is DDPM's ancestral sampler.
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import {
  checkClipX0,
  DEFAULT_SAMPLING_STEPS,
  linearCombination,
  predictDenoised,
  samplingPlan,
  type DenoiseFn,
  type PredictionOptions,
} from './sampler-common.js';
import type { DiffusionSchedule } from './schedule.js';

export interface DDIMOptions extends PredictionOptions {
  /** Default 50. */
  steps?: number;
  /** Default 0. */
  eta?: number;
  /** Draws z; needed only when eta > 0. */
  generator?: Generator;
}

/** sigma of eq. 16 for one step from abar a to abar aPrev. */
export function ddimSigma(alphaBar: number, alphaBarPrev: number, eta: number): number {
  return eta * Math.sqrt(((1 - alphaBarPrev) / (1 - alphaBar)) * (1 - alphaBar / alphaBarPrev));
}

/** One DDIM update to abar aPrev from the prediction {eps, x0}; noise is needed when sigma > 0. */
export function ddimStep(eps: Tensor, x0: Tensor, alphaBarPrev: number, sigma: number, noise: Tensor | null): Tensor {
  // max(0, .) absorbs rounding when sigma^2 reaches 1 - a_prev (eta 1 at the last step).
  const terms: [number, Tensor][] = [
    [Math.sqrt(alphaBarPrev), x0],
    [Math.sqrt(Math.max(0, 1 - alphaBarPrev - sigma * sigma)), eps],
  ];
  if (sigma > 0) {
    if (noise === null) throw new Error(`ddimStep: sigma is ${sigma} but no noise was given`);
    terms.push([sigma, noise]);
  }
  return linearCombination(terms);
}

/** Samples from x_T in `steps` DDIM steps. */
export function sampleDDIM(
  schedule: DiffusionSchedule,
  denoise: DenoiseFn,
  xT: Tensor,
  options: DDIMOptions = {},
): Tensor {
  const eta = options.eta ?? 0;
  if (!(eta >= 0)) throw new Error(`sampleDDIM: eta must be non-negative, got ${eta}`);
  if (eta > 0 && options.generator === undefined) throw new Error(`sampleDDIM: eta ${eta} needs a generator`);
  checkClipX0(options.clipX0, 'sampleDDIM');
  const plan = samplingPlan(schedule, options.steps ?? DEFAULT_SAMPLING_STEPS);
  const totalSteps = plan.timesteps.length;
  return noGrad(() => {
    let x = xT;
    for (let step = 0; step < totalSteps; step++) {
      const t = plan.timesteps[step];
      const { eps, x0 } = predictDenoised(schedule, denoise, x, t, options);
      const sigma = ddimSigma(plan.alphaBar[step], plan.alphaBarPrev[step], eta);
      const noise = sigma > 0 && options.generator ? Tensor.randn(x.shape, options.generator) : null;
      x = ddimStep(eps, x0, plan.alphaBarPrev[step], sigma, noise);
      options.callback?.({ step, totalSteps, t, x, predX0: x0 });
    }
    return x;
  });
}
