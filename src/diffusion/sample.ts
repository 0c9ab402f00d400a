// One entry point over the samplers: draws x_T from the generator (unless given) and runs
// the named sampler.
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { sampleDDIM } from './ddim.js';
import { sampleDDPM } from './ddpm.js';
import { sampleDPMSolverPP2M } from './dpm-solver.js';
import type { Parameterization } from './forward.js';
import { samplePLMS } from './plms.js';
import type { DenoiseFn, SamplerCallback } from './sampler-common.js';
import type { DiffusionSchedule } from './schedule.js';

export type SamplerName = 'ddpm' | 'ddim' | 'plms' | 'dpm++2m';
export const SAMPLER_NAMES: readonly SamplerName[] = Object.freeze(['ddpm', 'ddim', 'plms', 'dpm++2m']);

export interface SampleOptions {
  sampler: SamplerName;
  /** Default 50; ddpm ignores it and always takes all T timesteps (use ddim with eta 1 for fewer ancestral steps). */
  steps?: number;
  /** ddim only; default 0. */
  eta?: number;
  /** Default 'eps'. */
  parameterization?: Parameterization;
  /** Draws x_T (unless given) and the noise of ddpm and of ddim with eta > 0. */
  generator: Generator;
  /** The starting noise, shaped `shape`; drawn from the generator when absent. */
  xT?: Tensor;
  callback?: SamplerCallback;
  /** Optional clamp of the predicted x0 to [-clipX0, clipX0]; off by default. */
  clipX0?: number;
}

/** Samples a batch of `shape` from the denoiser with the named sampler. */
export function sample(
  schedule: DiffusionSchedule,
  denoise: DenoiseFn,
  shape: number[],
  options: SampleOptions,
): Tensor {
  const { sampler, steps, eta, generator } = options;
  if (!SAMPLER_NAMES.includes(sampler)) {
    throw new Error(`sample: unknown sampler "${sampler as string}" (${SAMPLER_NAMES.join(', ')})`);
  }
  if (eta !== undefined && eta !== 0 && sampler !== 'ddim') {
    throw new Error(`sample: eta ${eta} is for ddim only; ${sampler} is run with eta 0`);
  }
  if (options.xT !== undefined && !shapesEqual(options.xT.shape, shape)) {
    throw new Error(`sample: xT has shape ${formatShape(options.xT.shape)}, expected ${formatShape(shape)}`);
  }
  const xT = options.xT ?? Tensor.randn(shape, generator);
  const common = { parameterization: options.parameterization, clipX0: options.clipX0, callback: options.callback };
  return noGrad(() => {
    switch (sampler) {
      case 'ddpm':
        return sampleDDPM(schedule, denoise, xT, { ...common, generator });
      case 'ddim':
        return sampleDDIM(schedule, denoise, xT, { ...common, steps, eta, generator });
      case 'plms':
        return samplePLMS(schedule, denoise, xT, { ...common, steps });
      case 'dpm++2m':
        return sampleDPMSolverPP2M(schedule, denoise, xT, { ...common, steps });
    }
  });
}
