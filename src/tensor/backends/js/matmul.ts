// Matrix products. One accumulating GEMM in doubles serves matmul and the convolutions.
import type { MatmulParams } from '../../backend.js';
import type { Floats } from './floats.js';

/**
 * acc[i * n + j] += sum_p A[i, p] * B[p, j] for an [m, k] A and a [k, n] B.
 * A starts at aOffset and is stored [m, k] row-major, or [k, m] with transA; B starts at
 * bOffset and is stored [k, n], or [n, k] with transB.
 */
export function gemmAccumulate(
  a: Floats,
  aOffset: number,
  transA: boolean,
  b: Floats,
  bOffset: number,
  transB: boolean,
  acc: Float64Array,
  m: number,
  n: number,
  k: number,
): void {
  // A[i, p] = a[aOffset + i * aRowStep + p * aColStep]
  const aRowStep = transA ? 1 : k;
  const aColStep = transA ? m : 1;
  if (!transB) {
    // i-p-j order: the inner loop runs along rows of B and of acc, both contiguous.
    for (let i = 0; i < m; i++) {
      const accRow = i * n;
      for (let p = 0; p < k; p++) {
        const aip = a[aOffset + i * aRowStep + p * aColStep];
        const bRow = bOffset + p * n;
        for (let j = 0; j < n; j++) acc[accRow + j] += aip * b[bRow + j];
      }
    }
  } else {
    // B is stored [n, k]: each output is a dot product along a contiguous row of b.
    for (let i = 0; i < m; i++) {
      const aRow = aOffset + i * aRowStep;
      for (let j = 0; j < n; j++) {
        const bRow = bOffset + j * k;
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[aRow + p * aColStep] * b[bRow + p];
        acc[i * n + j] += sum;
      }
    }
  }
}

export function matmul(a: Floats, b: Floats, out: Floats, p: MatmulParams, bias: Floats | null): void {
  const { batch, m, n, k, transA, transB, aBatchStride, bBatchStride } = p;
  const acc = new Float64Array(m * n);
  for (let index = 0; index < batch; index++) {
    acc.fill(0);
    if (bias !== null) for (let i = 0; i < m * n; i++) acc[i] = bias[i % n];
    gemmAccumulate(a, index * aBatchStride, transA, b, index * bBatchStride, transB, acc, m, n, k);
    out.set(acc, index * m * n);
  }
}
