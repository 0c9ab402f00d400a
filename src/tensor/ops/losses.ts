// Losses and the remaining layer functions: embedding lookup, dropout, cross-entropy, MSE, L1.
import { Generator, defaultGenerator } from '../random.js';
import { formatShape, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { mul, sub, unary } from './elementwise.js';
import { mean, sum, logSoftmax } from './reduce.js';
import { indexSelect, toIndices } from './shape-ops.js';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(x: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'mean') return mean(x);
  if (reduction === 'sum') return sum(x);
  return x;
}

function checkSameShape(a: Tensor, b: Tensor, op: string): void {
  if (!shapesEqual(a.shape, b.shape))
    throw new Error(`${op}: input ${formatShape(a.shape)} and target ${formatShape(b.shape)} differ`);
}

/** Rows of weight [num, dim] picked by integer indices; the output is [...indices.shape, dim]. */
export function embedding(weight: Tensor, indices: Tensor | readonly number[]): Tensor {
  if (weight.rank !== 2) throw new Error(`embedding: weight must be [num, dim], got ${formatShape(weight.shape)}`);
  const shape = indices instanceof Tensor ? indices.shape : [indices.length];
  return indexSelect(weight, 0, indices).reshape([...shape, weight.shape[1]]);
}

/** Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p). */
export function dropout(x: Tensor, p: number, training = true, generator: Generator = defaultGenerator): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const mask = new Float32Array(x.size);
  const keep = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = generator.uniform() >= p ? keep : 0;
  return mul(x, new Tensor(mask, x.shape));
}

/** Cross-entropy of logits [N, C] against integer class targets [N]. */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor | readonly number[],
  reduction: Reduction = 'mean',
): Tensor {
  if (logits.rank !== 2) throw new Error(`crossEntropy: logits must be [N, C], got ${formatShape(logits.shape)}`);
  const [n, c] = logits.shape;
  const idx = toIndices(targets, c, 'crossEntropy');
  if (idx.length !== n) throw new Error(`crossEntropy: ${idx.length} targets for ${n} rows of logits`);
  const oneHot = new Float32Array(n * c);
  idx.forEach((k, row) => (oneHot[row * c + k] = 1));
  const picked = sum(mul(logSoftmax(logits, 1), new Tensor(oneHot, [n, c])), 1);
  return reduce(mul(picked, -1), reduction);
}

export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkSameShape(input, target, 'mseLoss');
  const d = sub(input, target);
  return reduce(mul(d, d), reduction);
}

export function l1Loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkSameShape(input, target, 'l1Loss');
  return reduce(unary('abs', sub(input, target)), reduction);
}
