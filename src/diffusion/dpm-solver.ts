// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a second-order multistep
// solver of the diffusion ODE in its data-prediction form. With alpha = sqrt(abar),
// sigma = sqrt(1 - abar) and lambda = log(alpha / sigma), taken from the discrete alphas_cumprod,
// one step from s to t with h = lambda_t - lambda_s is
//
//   first order:   x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) x0_s      (= DDIM, eta 0)
//   second order:  the same with x0_s replaced by D = (1 + 1/(2r)) x0_s - 1/(2r) x0_u,
//                  u the previous step's timestep and r = (lambda_s - lambda_u) / h.
//
// The choices here: the model is called at DDIM's timesteps (ddimTimesteps, one call per step);
// each step goes to the next of them, and the last step goes to abar_{t-1} of the smallest,
// i.e. to timestep 0 (abar_0) like CompVis DDIM, or to the clean data (abar = 1) when the grid
// starts at 0. The first step (no history) and the last step are first order: the last step
// is tiny, and lower-order final steps are what DPM-Solver does for stability at few steps.
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
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

export interface DPMSolverOptions extends PredictionOptions {
  /** Default 50. */
  steps?: number;
}

/** lambda = log(alpha / sigma) at abar. */
export function halfLogSNR(alphaBar: number): number {
  return 0.5 * Math.log(alphaBar / (1 - alphaBar));
}

/**
 * One DPM-Solver++ step from abar `alphaBarFrom` (where x and its predicted x0 are) to
 * `alphaBarTo`: first order without `previous`, second order (2M) with the previous step's x0
 * and abar.
 */
export function dpmSolverPPStep(
  x: Tensor,
  x0: Tensor,
  alphaBarFrom: number,
  alphaBarTo: number,
  previous?: { x0: Tensor; alphaBar: number },
): Tensor {
  const [alphaS, sigmaS] = [Math.sqrt(alphaBarFrom), Math.sqrt(1 - alphaBarFrom)];
  const [alphaT, sigmaT] = [Math.sqrt(alphaBarTo), Math.sqrt(1 - alphaBarTo)];
  // e^{-h} as a ratio of sigma / alpha, finite even when the target is clean (sigma_t = 0).
  const expMinusH = (sigmaT / alphaT) * (alphaS / sigmaS);
  const dataCoefficient = alphaT * (1 - expMinusH);
  if (previous === undefined) {
    return linearCombination([
      [sigmaT / sigmaS, x],
      [dataCoefficient, x0],
    ]);
  }
  const h = halfLogSNR(alphaBarTo) - halfLogSNR(alphaBarFrom);
  const r = (halfLogSNR(alphaBarFrom) - halfLogSNR(previous.alphaBar)) / h;
  return linearCombination([
    [sigmaT / sigmaS, x],
    [dataCoefficient * (1 + 1 / (2 * r)), x0],
    [-dataCoefficient / (2 * r), previous.x0],
  ]);
}

/** Samples from x_T in `steps` DPM-Solver++(2M) steps (one model call each). */
export function sampleDPMSolverPP2M(
  schedule: DiffusionSchedule,
  denoise: DenoiseFn,
  xT: Tensor,
  options: DPMSolverOptions = {},
): Tensor {
  checkClipX0(options.clipX0, 'sampleDPMSolverPP2M');
  const plan = samplingPlan(schedule, options.steps ?? DEFAULT_SAMPLING_STEPS);
  const totalSteps = plan.timesteps.length;
  return noGrad(() => {
    let x = xT;
    let previous: { x0: Tensor; alphaBar: number } | undefined;
    for (let step = 0; step < totalSteps; step++) {
      const t = plan.timesteps[step];
      const { x0 } = predictDenoised(schedule, denoise, x, t, options);
      const isLast = step === totalSteps - 1;
      x = dpmSolverPPStep(x, x0, plan.alphaBar[step], plan.alphaBarPrev[step], isLast ? undefined : previous);
      previous = { x0, alphaBar: plan.alphaBar[step] };
      options.callback?.({ step, totalSteps, t, x, predX0: x0 });
    }
    return x;
  });
}
