// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.
import type { Tensor } from '../tensor/tensor.js';

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite instead of scaling by it. */
  errorIfNonfinite?: boolean;
}

/**
 * Scales all gradients in place so that their joint p-norm is at most `maxNorm`, and returns
 * the norm before clipping. The norm is that of all gradient values taken together (the
 * p-norm of the per-tensor p-norms); `normType` may be Infinity. Parameters without grad are
 * ignored. As in PyTorch, the scale is maxNorm / (norm + 1e-6), applied only when below 1; a
 * NaN norm turns every gradient into NaN unless `errorIfNonfinite` is set.
 */
export function clipGradNorm(
  params: readonly Tensor[] | Iterable<Tensor>,
  maxNorm: number,
  normType = 2,
  options?: ClipGradNormOptions,
): number {
  if (!(typeof maxNorm === 'number' && maxNorm >= 0)) {
    throw new Error(`clipGradNorm: maxNorm must be a number >= 0, got ${maxNorm}`);
  }
  if (!(typeof normType === 'number' && normType > 0)) {
    throw new Error(`clipGradNorm: normType must be a number > 0 or Infinity, got ${normType}`);
  }
  // Plain loops over an array, so that a training step calling this allocates nothing.
  const list = Array.isArray(params) ? (params as readonly Tensor[]) : Array.from(params);
  let count = 0;
  // Accumulate in double: float32 sums over millions of values lose digits.
  let total = 0;
  for (let k = 0; k < list.length; k++) {
    const grad = list[k].grad;
    if (grad === null) continue;
    count++;
    const g = grad.data;
    if (normType === Infinity) {
      // Math.max propagates NaN, as torch's max does.
      for (let i = 0; i < g.length; i++) total = Math.max(total, Math.abs(g[i]));
    } else if (normType === 2) {
      for (let i = 0; i < g.length; i++) total += g[i] * g[i];
    } else if (normType === 1) {
      for (let i = 0; i < g.length; i++) total += Math.abs(g[i]);
    } else {
      for (let i = 0; i < g.length; i++) total += Math.abs(g[i]) ** normType;
    }
  }
  if (count === 0) return 0;
  if (normType !== Infinity) total = total ** (1 / normType);

  if (options?.errorIfNonfinite === true && !Number.isFinite(total)) {
    throw new Error(
      `clipGradNorm: the total ${normType}-norm of the gradients of ${count} parameters is ${total}; ` +
        'gradients may hold NaN or Infinity (pass errorIfNonfinite: false to scale anyway)',
    );
  }
  // The coefficient is float32 in PyTorch; round it the same way.
  const scale = Math.fround(maxNorm / (total + 1e-6));
  if (scale >= 1) return total;
  for (let k = 0; k < list.length; k++) {
    const grad = list[k].grad;
    if (grad === null || sharesEarlierGrad(list, k)) continue;
    const g = grad.data;
    for (let i = 0; i < g.length; i++) g[i] *= scale;
  }
  return total;
}

/**
 * Whether an earlier parameter's grad is the same buffer: autograd may hand one gradient to
 * several leaves (e.g. both inputs of an add), and each buffer must be scaled once.
 */
function sharesEarlierGrad(list: readonly Tensor[], k: number): boolean {
  const data = list[k].grad!.data;
  for (let j = 0; j < k; j++) if (list[j].grad?.data === data) return true;
  return false;
}
