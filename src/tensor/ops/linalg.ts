// Matrix products: batched matmul with NumPy batch broadcasting, and linear layers.
import type { MatmulParams } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { getBackend } from '../device.js';
import { allocate } from '../memory.js';
import { broadcastShapes, formatShape, shapesEqual, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './elementwise.js';
import { sum } from './reduce.js';
import { expand } from './shape-ops.js';

function product(a: Float32Array, b: Float32Array, p: MatmulParams, bias: Float32Array | null = null): Float32Array {
  const out = allocate(p.batch * p.m * p.n);
  getBackend().matmul(a, b, out, p, bias);
  return out;
}

/**
 * a @ b for a [..., m, k] and b [..., k, n] (rank >= 2; batch axes broadcast).
 * A 2-D operand, or one whose batch axes are all 1, is shared across the batch without a copy.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matmul: operands must have rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new Error(`matmul: inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)}`);
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  const batch = sizeOf(batchShape);
  const [aData, aStride] = batchOperand(a, batchShape, m * k);
  const [bData, bStride] = batchOperand(b, batchShape, k * n);
  const shape = [...batchShape, m, n];
  const out = new Tensor(
    product(aData, bData, {
      batch,
      m,
      n,
      k,
      transA: false,
      transB: false,
      aBatchStride: aStride,
      bBatchStride: bStride,
    }),
    shape,
  );
  return record(out, 'matmul', [a, b], (gy) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needsGrad(a)) {
      // dA = dY @ B^T, per batch, then summed over the batch axes A was broadcast along.
      const full = product(gy.data, bData, {
        batch,
        m,
        n: k,
        k: n,
        transA: false,
        transB: true,
        aBatchStride: m * n,
        bBatchStride: bStride,
      });
      ga = sumToShape(new Tensor(full, [...batchShape, m, k]), a.shape);
    }
    if (needsGrad(b)) {
      if (bStride === 0 && aStride !== 0) {
        // B shared over the batch: dB = A^T @ dY with the batch folded into the inner dimension.
        gb = new Tensor(
          product(aData, gy.data, {
            batch: 1,
            m: k,
            n,
            k: batch * m,
            transA: true,
            transB: false,
            aBatchStride: 0,
            bBatchStride: 0,
          }),
          [k, n],
        ).reshape(b.shape);
      } else {
        const full = product(aData, gy.data, {
          batch,
          m: k,
          n,
          k: m,
          transA: true,
          transB: false,
          aBatchStride: aStride,
          bBatchStride: m * n,
        });
        gb = sumToShape(new Tensor(full, [...batchShape, k, n]), b.shape);
      }
    }
    return [ga, gb];
  });
}

/** The operand's data laid out for the batch, and its batch stride (0 when shared). */
function batchOperand(t: Tensor, batchShape: readonly number[], matrixSize: number): [Float32Array, number] {
  const own = t.shape.slice(0, -2);
  if (sizeOf(own) === 1) return [t.data, 0];
  if (shapesEqual(own, batchShape)) return [t.data, matrixSize];
  return [expand(t.detach(), [...batchShape, ...t.shape.slice(-2)]).data, matrixSize];
}

/** y = x @ weight^T + bias for x [..., in], weight [out, in], bias [out] (torch.nn.functional.linear). */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const [outFeatures, inFeatures] = weight.shape;
  if (weight.rank !== 2 || x.rank < 1 || x.shape[x.rank - 1] !== inFeatures) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)}`);
  }
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== outFeatures)) {
    throw new Error(`linear: bias ${formatShape(bias.shape)} does not match weight ${formatShape(weight.shape)}`);
  }
  const rows = x.size / inFeatures;
  const data = product(
    x.data,
    weight.data,
    { batch: 1, m: rows, n: outFeatures, k: inFeatures, transA: false, transB: true, aBatchStride: 0, bBatchStride: 0 },
    bias?.data ?? null,
  );
  const out = new Tensor(data, [...x.shape.slice(0, -1), outFeatures]);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(out, 'linear', inputs, (gy) => {
    const gx = needsGrad(x)
      ? new Tensor(
          product(gy.data, weight.data, {
            batch: 1,
            m: rows,
            n: inFeatures,
            k: outFeatures,
            transA: false,
            transB: false,
            aBatchStride: 0,
            bBatchStride: 0,
          }),
          x.shape,
        )
      : null;
    const gw = needsGrad(weight)
      ? new Tensor(
          product(gy.data, x.data, {
            batch: 1,
            m: outFeatures,
            n: inFeatures,
            k: rows,
            transA: true,
            transB: false,
            aBatchStride: 0,
            bBatchStride: 0,
          }),
          weight.shape,
        )
      : null;
    // Summed over all leading axes at once; a reshaped view would keep gy's buffer from the pool.
    const leadingAxes = Array.from({ length: gy.rank - 1 }, (_, axis) => axis);
    const gb = bias !== null && needsGrad(bias) ? sum(gy, leadingAxes) : null;
    return [gx, gw, gb];
  });
}
