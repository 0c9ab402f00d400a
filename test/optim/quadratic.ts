// The small problem the optimizer tests share (the same one test/optim/torch_reference.py runs
// in PyTorch): parameters p1 [2, 3] and p2 [3] on the loss 0.5 * sum(a * (p - c)^2).
import { Tensor } from '../../src/tensor/tensor.js';

const P1 = [0.5, -1.0, 2.0, 1.5, -0.25, 0.0];
const C1 = [1.0, 2.0, -1.0, 0.5, 0.0, 3.0];
const A1 = [1.0, 2.0, 0.5, 3.0, 1.5, 0.1];
const P2 = [0.3, -0.7, 1.2];
const C2 = [0.0, 0.5, -0.5];
const A2 = [2.0, 1.0, 0.5];

export function makeParams(): [Tensor, Tensor] {
  return [Tensor.from(P1, [2, 3]).requireGrad(), Tensor.from(P2, [3]).requireGrad()];
}

/** Sets each grad to a * (p - c), rounded to float32 at each op as PyTorch computes it. */
export function setGradients(p1: Tensor, p2: Tensor): void {
  fillGrad(p1, C1, A1);
  fillGrad(p2, C2, A2);
}

function fillGrad(p: Tensor, c: number[], a: number[]): void {
  // Reuse the grad buffer once it exists, so that a training loop allocates nothing.
  if (p.grad === null) p.grad = Tensor.zeros(p.shape);
  const g = p.grad.data;
  for (let i = 0; i < g.length; i++) g[i] = a[i] * Math.fround(p.data[i] - c[i]);
}

/** Relative error check: |actual - expected| <= tol * |expected| for every element. */
export function assertClose(actual: ArrayLike<number>, expected: readonly number[], tol: number, what: string): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol * Math.abs(expected[i]))) {
      throw new Error(
        `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (relative error ${err / Math.abs(expected[i])})`,
      );
    }
  }
}
