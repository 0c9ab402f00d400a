// Reductions and softmax over the middle axis of an [outer, size, inner] view. Sums
// accumulate in doubles (JS numbers), so the oracle carries no float32 summation error.
import type { ReduceOp } from '../../backend.js';
import type { Floats } from './floats.js';

const REDUCE_INIT: { [Op in ReduceOp]: number } = { sum: 0, max: -Infinity, min: Infinity };
// Math.max/min propagate NaN, as torch.max/min do.
const REDUCE_STEP: { [Op in ReduceOp]: (acc: number, v: number) => number } = {
  sum: (acc, v) => acc + v,
  max: Math.max,
  min: Math.min,
};

export function reduce(op: ReduceOp, x: Floats, out: Floats, outer: number, size: number, inner: number): void {
  const step = REDUCE_STEP[op];
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(REDUCE_INIT[op]);
    // Walk x in memory order (s, then i) so the inner loop is contiguous.
    for (let s = 0; s < size; s++) {
      const row = (o * size + s) * inner;
      for (let i = 0; i < inner; i++) acc[i] = step(acc[i], x[row + i]);
    }
    for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i];
  }
}

/** softmax(x) = exp(x - max) / sum exp(x - max); log_softmax(x) = x - max - log(sum exp(x - max)). */
export function softmax(x: Floats, out: Floats, outer: number, size: number, inner: number, log: boolean): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const start = o * size * inner + i;
      const end = start + size * inner;
      let max = -Infinity;
      for (let at = start; at < end; at += inner) max = Math.max(max, x[at]);
      let sum = 0;
      for (let at = start; at < end; at += inner) sum += Math.exp(x[at] - max);
      if (log) {
        const logSum = Math.log(sum);
        for (let at = start; at < end; at += inner) out[at] = x[at] - max - logSum;
      } else {
        for (let at = start; at < end; at += inner) out[at] = Math.exp(x[at] - max) / sum;
      }
    }
  }
}

/**
 * softmax:     gx = y * (gy - sum(gy * y))
 * log_softmax: gx = gy - exp(y) * sum(gy)
 */
export function softmaxGrad(
  y: Floats,
  gy: Floats,
  gx: Floats,
  outer: number,
  size: number,
  inner: number,
  log: boolean,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const start = o * size * inner + i;
      const end = start + size * inner;
      let dot = 0;
      if (log) {
        for (let at = start; at < end; at += inner) dot += gy[at];
        for (let at = start; at < end; at += inner) gx[at] = gy[at] - Math.exp(y[at]) * dot;
      } else {
        for (let at = start; at < end; at += inner) dot += gy[at] * y[at];
        for (let at = start; at < end; at += inner) gx[at] = y[at] * (gy[at] - dot);
      }
    }
  }
}
