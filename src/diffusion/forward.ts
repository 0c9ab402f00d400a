// The forward process and the three parameterisations of the network's output.
//
//   x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps                       (DDPM eq. 4)
//   eps: the network predicts eps;  x0: it predicts x0;
//   v:   it predicts v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0        (Salimans & Ho 2022, sec. 4)
//
// These use tensor ops, so gradients flow through them when training needs it.
import { l1Loss, mseLoss } from '../tensor/ops/losses.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import type { DiffusionSchedule } from './schedule.js';

export type Parameterization = 'eps' | 'x0' | 'v';
export const PARAMETERIZATIONS: readonly Parameterization[] = Object.freeze(['eps', 'x0', 'v']);

export type LossType = 'l2' | 'l1';

function checkParameterization(parameterization: Parameterization, op: string): void {
  if (!PARAMETERIZATIONS.includes(parameterization)) {
    throw new Error(`${op}: unknown parameterization "${parameterization as string}" (eps, x0, v)`);
  }
}

function checkSameShape(a: Tensor, b: Tensor, names: string, op: string): void {
  if (!shapesEqual(a.shape, b.shape)) {
    throw new Error(`${op}: ${names} must have one shape, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
}

/** A per-sample coefficient table[t[i]] shaped [N, 1, ..., 1] to broadcast against a [N, ...] tensor. */
function perSample(table: Float64Array, t: ArrayLike<number>, like: Tensor, op: string): Tensor {
  const n = like.shape[0];
  if (like.rank < 1 || t.length !== n) {
    throw new Error(`${op}: ${t.length} timesteps for a batch of shape ${formatShape(like.shape)}`);
  }
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const ti = t[i];
    if (!Number.isInteger(ti) || ti < 0 || ti >= table.length) {
      throw new Error(`${op}: timestep ${ti} (sample ${i}) is not an integer in [0, ${table.length})`);
    }
    values[i] = table[ti];
  }
  return new Tensor(values, [n, ...new Array<number>(like.rank - 1).fill(1)]);
}

/** x_t for per-sample integer timesteps t (length N) and noise shaped like x0 (CompVis q_sample). */
export function qSample(schedule: DiffusionSchedule, x0: Tensor, t: ArrayLike<number>, noise: Tensor): Tensor {
  checkSameShape(x0, noise, 'x0 and noise', 'qSample');
  const signal = perSample(schedule.sqrtAlphasCumprod, t, x0, 'qSample');
  const noiseScale = perSample(schedule.sqrtOneMinusAlphasCumprod, t, x0, 'qSample');
  return x0.mul(signal).add(noise.mul(noiseScale));
}

/** The regression target of a parameterization: eps -> noise, x0 -> x0, v -> sqrt(abar) eps - sqrt(1-abar) x0. */
export function trainingTarget(
  schedule: DiffusionSchedule,
  parameterization: Parameterization,
  x0: Tensor,
  noise: Tensor,
  t: ArrayLike<number>,
): Tensor {
  checkParameterization(parameterization, 'trainingTarget');
  checkSameShape(x0, noise, 'x0 and noise', 'trainingTarget');
  if (parameterization === 'eps') return noise;
  if (parameterization === 'x0') return x0;
  const signal = perSample(schedule.sqrtAlphasCumprod, t, x0, 'trainingTarget');
  const noiseScale = perSample(schedule.sqrtOneMinusAlphasCumprod, t, x0, 'trainingTarget');
  return noise.mul(signal).sub(x0.mul(noiseScale));
}

/** Converts a model output at (x_t, t) to the pair {eps, x0}; t is shared by the batch. */
export function predictEpsAndX0(
  schedule: DiffusionSchedule,
  parameterization: Parameterization,
  x: Tensor,
  t: number,
  output: Tensor,
): { eps: Tensor; x0: Tensor } {
  checkParameterization(parameterization, 'predictEpsAndX0');
  schedule.checkTimestep(t, 'predictEpsAndX0');
  checkSameShape(x, output, 'x_t and the model output', 'predictEpsAndX0');
  const sqrtA = schedule.sqrtAlphasCumprod[t];
  const sqrtOneMinusA = schedule.sqrtOneMinusAlphasCumprod[t];
  switch (parameterization) {
    case 'eps':
      // x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)
      return { eps: output, x0: x.mul(1 / sqrtA).sub(output.mul(sqrtOneMinusA / sqrtA)) };
    case 'x0':
      // eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)
      return { eps: x.mul(1 / sqrtOneMinusA).sub(output.mul(sqrtA / sqrtOneMinusA)), x0: output };
    case 'v':
      // x0 = sqrt(abar) x_t - sqrt(1 - abar) v;  eps = sqrt(1 - abar) x_t + sqrt(abar) v
      return {
        eps: x.mul(sqrtOneMinusA).add(output.mul(sqrtA)),
        x0: x.mul(sqrtA).sub(output.mul(sqrtOneMinusA)),
      };
  }
}

/** Training timesteps t ~ U{0, ..., T-1}, one per sample. */
export function sampleTimesteps(schedule: DiffusionSchedule, batchSize: number, generator: Generator): Int32Array {
  if (!Number.isInteger(batchSize) || batchSize < 0) {
    throw new Error(`sampleTimesteps: batchSize must be a non-negative integer, got ${batchSize}`);
  }
  const t = new Int32Array(batchSize);
  for (let i = 0; i < batchSize; i++) t[i] = generator.integer(schedule.numTimesteps);
  return t;
}

/**
 * The "simple" loss of CompVis p_losses with its defaults (l_simple_weight 1, original_elbo_weight 0,
 * no learned log-variance): the mean over all elements of (output - target)^2, or of |output - target|.
 */
export function diffusionLoss(output: Tensor, target: Tensor, lossType: LossType = 'l2'): Tensor {
  if (lossType === 'l2') return mseLoss(output, target);
  if (lossType === 'l1') return l1Loss(output, target);
  throw new Error(`diffusionLoss: unknown loss type "${lossType as string}" (l2, l1)`);
}
