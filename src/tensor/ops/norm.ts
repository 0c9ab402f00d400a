// Normalisation layers' functional forms: group, layer and batch normalisation.
import { record } from '../autograd.js';
import { getBackend } from '../device.js';
import { allocate } from '../memory.js';
import { formatShape, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, mul, sub, unary } from './elementwise.js';
import { mean, variance } from './reduce.js';

function checkAffine(param: Tensor | null, channels: number, op: string, name: string): void {
  if (param !== null && param.size !== channels) {
    throw new Error(`${op}: ${name} has shape ${formatShape(param.shape)}, expected ${channels} elements`);
  }
}

/**
 * Records a normalisation's gradient rule: allocates the input gradient and, for the affine
 * parameters that are present, theirs, and lets `kernel` fill them from the output gradient.
 */
function recordNorm(
  out: Tensor,
  op: string,
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  kernel: (gy: Float32Array, gx: Float32Array, gw: Float32Array | null, gb: Float32Array | null) => void,
): Tensor {
  const affine = [weight, bias].filter((t): t is Tensor => t !== null);
  return record(out, op, [x, ...affine], (gy) => {
    // The kernels overwrite every element of all three.
    const gx = new Tensor(allocate(x.size), x.shape);
    const gw = weight ? new Tensor(allocate(weight.size), weight.shape) : null;
    const gb = bias ? new Tensor(allocate(bias.size), bias.shape) : null;
    kernel(gy.data, gx.data, gw?.data ?? null, gb?.data ?? null);
    return [gx, ...[gw, gb].filter((t): t is Tensor => t !== null)];
  });
}

/** GroupNorm over x [N, C, ...] in `groups` groups, with optional per-channel affine. */
export function groupNorm(
  x: Tensor,
  groups: number,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  if (x.rank < 2) throw new Error(`groupNorm: expected [N, C, ...], got ${formatShape(x.shape)}`);
  const [n, c] = x.shape;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new Error(`groupNorm: ${c} channels cannot be split into ${groups} groups`);
  }
  checkAffine(weight, c, 'groupNorm', 'weight');
  checkAffine(bias, c, 'groupNorm', 'bias');
  const hw = sizeOf(x.shape.slice(2));
  const out = new Tensor(allocate(x.size), x.shape);
  const meanBuf = new Float32Array(n * groups);
  const rstd = new Float32Array(n * groups);
  getBackend().groupNorm(
    x.data,
    weight?.data ?? null,
    bias?.data ?? null,
    out.data,
    meanBuf,
    rstd,
    n,
    c,
    hw,
    groups,
    eps,
  );
  return recordNorm(out, 'groupNorm', x, weight, bias, (gy, gx, gw, gb) =>
    getBackend().groupNormGrad(x.data, gy, weight?.data ?? null, meanBuf, rstd, gx, gw, gb, n, c, hw, groups),
  );
}

/** LayerNorm over the trailing axes whose shape is `normalizedShape`. */
export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  const tail = x.shape.slice(x.rank - normalizedShape.length);
  if (
    normalizedShape.length === 0 ||
    normalizedShape.length > x.rank ||
    tail.some((d, i) => d !== normalizedShape[i])
  ) {
    throw new Error(
      `layerNorm: normalized shape ${formatShape(normalizedShape)} does not end input ${formatShape(x.shape)}`,
    );
  }
  const cols = sizeOf(normalizedShape);
  const rows = x.size / cols;
  checkAffine(weight, cols, 'layerNorm', 'weight');
  checkAffine(bias, cols, 'layerNorm', 'bias');
  const out = new Tensor(allocate(x.size), x.shape);
  const meanBuf = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  getBackend().layerNorm(x.data, weight?.data ?? null, bias?.data ?? null, out.data, meanBuf, rstd, rows, cols, eps);
  return recordNorm(out, 'layerNorm', x, weight, bias, (gy, gx, gw, gb) =>
    getBackend().layerNormGrad(x.data, gy, weight?.data ?? null, meanBuf, rstd, gx, gw, gb, rows, cols),
  );
}

export interface BatchNormState {
  runningMean: Tensor;
  runningVar: Tensor;
}

/**
 * BatchNorm over x [N, C, ...]. In training it normalises with the batch statistics and
 * updates the running ones in place (momentum as in PyTorch: new = (1 - m) old + m batch,
 * with the unbiased batch variance); in eval it uses the running statistics.
 */
export function batchNorm(
  x: Tensor,
  state: BatchNormState,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  if (x.rank < 2) throw new Error(`batchNorm: expected [N, C, ...], got ${formatShape(x.shape)}`);
  const c = x.shape[1];
  checkAffine(weight, c, 'batchNorm', 'weight');
  checkAffine(bias, c, 'batchNorm', 'bias');
  const statShape = x.shape.map((d, i) => (i === 1 ? d : 1));
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  let mu: Tensor;
  let v: Tensor;
  if (training) {
    const count = x.size / c;
    if (count < 2)
      throw new Error(`batchNorm: training needs more than one value per channel, got input ${formatShape(x.shape)}`);
    mu = mean(x, axes, true);
    v = variance(x, axes, true, 0);
    const batchMean = mu.data;
    const unbiased = count / (count - 1);
    for (let i = 0; i < c; i++) {
      state.runningMean.data[i] = (1 - momentum) * state.runningMean.data[i] + momentum * batchMean[i];
      state.runningVar.data[i] = (1 - momentum) * state.runningVar.data[i] + momentum * v.data[i] * unbiased;
    }
  } else {
    mu = state.runningMean.reshape(statShape);
    v = state.runningVar.reshape(statShape);
  }
  let y = mul(sub(x, mu), unary('rsqrt', add(v, eps)));
  if (weight !== null) y = mul(y, weight.reshape(statShape));
  if (bias !== null) y = add(y, bias.reshape(statShape));
  return y;
}
