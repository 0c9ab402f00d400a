// Classifier-free guidance (Ho & Salimans 2022): out = u + scale (c - u), with u the model's
// output under the null condition and c under the real one, both from one call on the batch
// doubled (unconditional half first, as CompVis samplers concatenate [uncond, cond]).
import { concat } from '../tensor/ops/shape-ops.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';
import { linearCombination, type DenoiseFn } from './sampler-common.js';

/** A conditional network: x_t [N, ...] at timestep t under condition `cond` (for N samples). */
export type ConditionalModel<C> = (x: Tensor, t: number, cond: C) => Tensor;

/**
 * A denoiser that applies classifier-free guidance. `concatConds(uncond, cond)` joins two
 * conditions of N samples into one of 2N, unconditional first. Scale 1 makes a single
 * conditional call and scale 0 a single unconditional one, since the other half would
 * get weight 0. The guided output records no gradient (it is for sampling).
 */
export function guidedDenoiser<C>(
  model: ConditionalModel<C>,
  cond: C,
  uncond: C,
  scale: number,
  concatConds: (uncond: C, cond: C) => C,
): DenoiseFn {
  if (!Number.isFinite(scale)) throw new Error(`guidedDenoiser: scale must be a finite number, got ${scale}`);
  if (scale === 1) return (x, t) => model(x, t, cond);
  if (scale === 0) return (x, t) => model(x, t, uncond);
  const doubledCond = concatConds(uncond, cond);
  return (x, t) => {
    const n = x.shape[0];
    const output = model(concat([x, x], 0), t, doubledCond);
    if (output.rank < 1 || output.shape[0] !== 2 * n) {
      throw new Error(
        `guidedDenoiser: the model returned ${formatShape(output.shape)} for a doubled batch of ${2 * n} samples`,
      );
    }
    // The halves of the batch axis are contiguous: views, not copies. [N, ...] each
    const half = output.size / 2;
    const shape = [n, ...output.shape.slice(1)];
    const uncondOut = new Tensor(output.data.subarray(0, half), shape);
    const condOut = new Tensor(output.data.subarray(half), shape);
    return linearCombination([
      [1 - scale, uncondOut],
      [scale, condOut],
    ]);
  };
}
