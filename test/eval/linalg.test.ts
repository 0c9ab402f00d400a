// The float64 linear algebra behind the Frechet distance, against closed forms and against
// numbers computed once with NumPy / PyTorch (float64; the scripts are quoted beside each value).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Tensor } from '../../src/tensor/tensor.js';
import {
  frechetDistance,
  frechetDistanceFromStatistics,
  gaussianStatistics,
  matmulSquare,
  sqrtPsd,
  symmetricEigen,
  traceSqrtProduct,
} from '../../src/eval/index.js';

function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected} (tolerance ${tolerance})`);
}

function assertMatrixClose(actual: Float64Array, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) assertClose(actual[i], expected[i], tolerance, `${what}[${i}]`);
}

function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/** Row-major [count, dim] of frac(sin(12.9898 k) * 43758.5453), k = seed, seed + 1, ...: uniform-looking, reproducible in NumPy. */
function hashUniform(count: number, dim: number, seed: number): Float64Array {
  return Float64Array.from({ length: count * dim }, (_, k) => {
    const x = Math.sin((k + seed) * 12.9898) * 43758.5453;
    return x - Math.floor(x);
  });
}

describe('symmetricEigen (cyclic Jacobi)', () => {
  // numpy.linalg.eigvalsh of this matrix.
  const A = Float64Array.from([4, 1, -2, 0.5, 1, 3, 0, 1, -2, 0, 5, -1, 0.5, 1, -1, 2]);
  const NUMPY_EIGENVALUES = [1.0471386409290864, 2.3609454269745447, 3.6025744003397606, 6.989341531756606];

  test('eigenvalues match NumPy; V is orthogonal and V diag(lambda) V^T = A', () => {
    const { values, vectors } = symmetricEigen(A, 4);
    assertMatrixClose(values, NUMPY_EIGENVALUES, 1e-13, 'eigenvalues');
    assertMatrixClose(matmulSquare(transpose(vectors, 4), vectors, 4), identity(4), 1e-14, 'V^T V');
    const scaled = new Float64Array(16);
    for (let i = 0; i < 4; i++) for (let k = 0; k < 4; k++) scaled[i * 4 + k] = vectors[i * 4 + k] * values[k];
    assertMatrixClose(matmulSquare(scaled, transpose(vectors, 4), 4), A, 1e-13, 'V diag V^T');
  });

  test('zero diagonal, diagonal and zero matrices', () => {
    assertMatrixClose(symmetricEigen(Float64Array.from([0, 1, 1, 0]), 2).values, [-1, 1], 1e-15, 'swap');
    assertMatrixClose(symmetricEigen(Float64Array.from([3, 0, 0, 0, -1, 0, 0, 0, 2]), 3).values, [-1, 2, 3], 0, 'diag');
    assertMatrixClose(symmetricEigen(new Float64Array(9), 3).values, [0, 0, 0], 0, 'zero');
  });

  test('a 64 x 64 covariance: A V = V diag(lambda) to rounding', () => {
    const n = 64;
    const stats = gaussianStatistics(hashUniform(200, n, 5), 200, n);
    const { values, vectors } = symmetricEigen(stats.covariance, n);
    const av = matmulSquare(stats.covariance, vectors, n);
    let worst = 0;
    for (let i = 0; i < n * n; i++) worst = Math.max(worst, Math.abs(av[i] - vectors[i] * values[i % n]));
    assert.ok(worst < 1e-14, `max |A V - V diag| = ${worst}`);
    assertMatrixClose(matmulSquare(transpose(vectors, n), vectors, n), identity(n), 1e-13, 'V^T V');
  });

  test('rejects a wrong size or a non-finite entry', () => {
    assert.throws(() => symmetricEigen(new Float64Array(5), 2), /n = 2 \(4 values\), got 5 values/);
    assert.throws(() => symmetricEigen(Float64Array.from([1, NaN, NaN, 1]), 2), /entry \(0, 1\) is NaN/);
  });
});

describe('matrix square roots', () => {
  test('sqrtPsd(A)^2 = A, and tiny negative eigenvalues are clamped', () => {
    const A = Float64Array.from([4, 1, -2, 0.5, 1, 3, 0, 1, -2, 0, 5, -1, 0.5, 1, -1, 2]);
    const root = sqrtPsd(A, 4);
    assertMatrixClose(matmulSquare(root, root, 4), A, 1e-13, 'root^2');
    // [[1, 1], [1, 1]] - 1e-15 I has eigenvalues 2 - 1e-15 and -1e-15: its root is (~)[[1, 1], [1, 1]] / sqrt(2).
    const singular = Float64Array.from([1 - 1e-15, 1, 1, 1 - 1e-15]);
    assertMatrixClose(sqrtPsd(singular, 2), [Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2], 1e-14, 'root');
  });

  test('Tr sqrt(S1 S2) of diagonal matrices is sum sqrt(a_i b_i)', () => {
    const s1 = Float64Array.from([4, 0, 0, 0, 9, 0, 0, 0, 0]);
    const s2 = Float64Array.from([1, 0, 0, 0, 4, 0, 0, 0, 5]);
    assertClose(traceSqrtProduct(s1, s2, 3), 2 + 6 + 0, 1e-14, 'trace');
  });
});

describe('frechetDistance', () => {
  const features = (values: ArrayLike<number>, count: number, dim: number) =>
    new Tensor(Float32Array.from(values), [count, dim]);

  test('identical sets give ~0, also with fewer samples than dimensions', () => {
    const a = features(hashUniform(50, 8, 1), 50, 8);
    assertClose(frechetDistance(a, a), 0, 1e-12, 'N > D');
    const b = features(hashUniform(5, 8, 7), 5, 8); // singular covariance (rank 4)
    assertClose(frechetDistance(b, b), 0, 1e-6, 'N < D');
  });

  test('a shifted copy gives |shift|^2', () => {
    const values = hashUniform(50, 8, 1);
    const shift = [0.5, -1, 0, 2, 0.25, 0, 0, -0.75];
    const shifted = values.map((v, i) => v + shift[i % 8]);
    const expected = shift.reduce((s, d) => s + d * d, 0);
    // The float32 copies of values and shifted differ by rounding, hence the tolerance.
    assertClose(frechetDistance(features(values, 50, 8), features(shifted, 50, 8)), expected, 1e-5, 'shift');
  });

  test('b = c a + t has the closed form |(c - 1) mu_a + t|^2 + (1 - c)^2 Tr S_a', () => {
    const values = hashUniform(60, 6, 3);
    const c = 1.7;
    const t = [1, 0, -0.5, 0, 0, 0.2];
    const a = gaussianStatistics(values, 60, 6);
    const b = gaussianStatistics(
      values.map((v, i) => c * v + t[i % 6]),
      60,
      6,
    );
    let expected = 0;
    for (let j = 0; j < 6; j++) expected += ((c - 1) * a.mean[j] + t[j]) ** 2 + (1 - c) ** 2 * a.covariance[j * 6 + j];
    assertClose(frechetDistanceFromStatistics(a, b), expected, 1e-12, 'scaled copy');
  });

  test('diagonal covariances: |dmu|^2 + sum (sqrt(s1_i) - sqrt(s2_i))^2', () => {
    const statistics = (mean: number[], variances: number[]) => {
      const n = mean.length;
      const covariance = new Float64Array(n * n);
      variances.forEach((v, i) => (covariance[i * n + i] = v));
      return { dim: n, count: 100, mean: Float64Array.from(mean), covariance };
    };
    const a = statistics([0, 1, 2], [1, 4, 0.25]);
    const b = statistics([1, 1, 0], [9, 1, 0]);
    const expected = 1 + 0 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2 + (0.5 - 0) ** 2;
    assertClose(frechetDistanceFromStatistics(a, b), expected, 1e-12, 'diagonal');
  });

  test('a random case matches NumPy and PyTorch', () => {
    // NumPy 1.24, float64, on the same float32 features (a = hashUniform(50, 8, 1); b = 0.8 * u L + 0.1
    // with u = hashUniform(40, 8, 1000) and L = I + 0.5 * tril(ones)):
    //   s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    //   tr = np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum()       -> 0.8204232352142856
    //   ((a.mean(0) - b.mean(0))**2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr -> 8.362727211342055
    // torch.linalg.eigvalsh(sqrt(s1) @ s2 @ sqrt(s1)) gives the trace as 0.8204232352142853.
    const a = features(hashUniform(50, 8, 1), 50, 8);
    const u = hashUniform(40, 8, 1000);
    const b = new Float32Array(40 * 8);
    for (let row = 0; row < 40; row++) {
      for (let j = 0; j < 8; j++) {
        let sum = 0;
        for (let k = j; k < 8; k++) sum += u[row * 8 + k] * (k === j ? 1.5 : 0.5); // (u L)[row, j]
        b[row * 8 + j] = 0.8 * sum + 0.1;
      }
    }
    assertClose(a.data[0], 0.9216904, 1e-7, 'first feature as in NumPy');
    assertClose(b[0], 2.09255981, 1e-7, 'first feature of b as in NumPy');
    const statsA = gaussianStatistics(a.data, 50, 8);
    const statsB = gaussianStatistics(b, 40, 8);
    assertClose(traceSqrtProduct(statsA.covariance, statsB.covariance, 8), 0.8204232352142856, 1e-9, 'trace');
    assertClose(frechetDistance(a, new Tensor(b, [40, 8])), 8.362727211342055, 1e-8, 'distance');
  });

  test('errors name the problem', () => {
    const a = features(hashUniform(10, 4, 1), 10, 4);
    assert.throws(() => frechetDistance(a, features(hashUniform(10, 3, 1), 10, 3)), /dimensions differ \(4 and 3\)/);
    assert.throws(() => frechetDistance(a, features([1, 2, 3, 4], 1, 4)), /at least 2 samples/);
    assert.throws(() => frechetDistance(a, new Tensor(new Float32Array(8), [2, 2, 2])), /expected features \[N, D\]/);
  });
});
