// Dense float64 linear algebra for the Frechet distance: symmetric eigendecomposition by cyclic
// Jacobi rotations, and the trace of the square root of a product of two symmetric PSD matrices.
//
// Matrices are row-major Float64Array of n * n values. Jacobi is slower than QR-based solvers
// (O(n^3) per sweep, ~6-10 sweeps) but simple, unconditionally stable and accurate to a few
// ulps in every eigenvalue, which is what a feature dimension of ~128 needs.

export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Eigenvectors as the columns of an n x n row-major matrix, in the order of `values`. */
  vectors: Float64Array;
}

const MAX_SWEEPS = 100;
/** (relative size)^2 below which an off-diagonal entry counts as zero: (1e-16)^2, about eps^2. */
const NEGLIGIBLE = 1e-32;

function checkSquare(a: Float64Array, n: number, op: string): void {
  if (!Number.isInteger(n) || n < 0 || a.length !== n * n) {
    throw new Error(`${op}: expected an n x n matrix with n = ${n} (${n * n} values), got ${a.length} values`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`${op}: entry (${Math.floor(i / n)}, ${i % n}) is ${a[i]}`);
  }
}

/**
 * Eigenvalues and eigenvectors of the symmetric matrix `a` (only its symmetric part is used:
 * (a + a^T) / 2), by cyclic Jacobi (Golub & Van Loan, Matrix Computations, 4th ed., sec. 8.5.3):
 * each rotation J(p, q, theta) zeroes a_pq of A <- J^T A J, and sweeps over all p < q repeat until
 * a sweep finds every off-diagonal entry negligible against its diagonal pair.
 */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  checkSquare(a, n, 'symmetricEigen');
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  for (let sweep = 0; ; sweep++) {
    let rotations = 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        // Negligible against the diagonal (|a_pq| <= sqrt(a_pp a_qq) for a PSD matrix): leave it.
        if (apq === 0 || apq * apq <= NEGLIGIBLE * Math.abs(m[p * n + p] * m[q * n + q])) continue;
        // Golub & Van Loan's sym.schur2: t = tan(theta), the smaller root of t^2 + 2 tau t - 1 = 0.
        const tau = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        rotate(m, v, n, p, q, c, t * c);
        rotations++;
      }
    }
    if (rotations === 0) break;
    if (sweep === MAX_SWEEPS) {
      throw new Error(`symmetricEigen: no convergence after ${MAX_SWEEPS} sweeps (n = ${n})`);
    }
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[i * n + i] - m[j * n + j]);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    for (let row = 0; row < n; row++) vectors[row * n + to] = v[row * n + from];
  });
  return { values, vectors };
}

/** A <- J^T A J and V <- V J, with J the identity except J_pp = J_qq = c, J_pq = s, J_qp = -s. */
function rotate(m: Float64Array, v: Float64Array, n: number, p: number, q: number, c: number, s: number): void {
  for (let k = 0; k < n; k++) {
    // Columns p and q (A J).
    const akp = m[k * n + p];
    const akq = m[k * n + q];
    m[k * n + p] = c * akp - s * akq;
    m[k * n + q] = s * akp + c * akq;
    const vkp = v[k * n + p];
    const vkq = v[k * n + q];
    v[k * n + p] = c * vkp - s * vkq;
    v[k * n + q] = s * vkp + c * vkq;
  }
  for (let k = 0; k < n; k++) {
    // Rows p and q (J^T (A J)).
    const apk = m[p * n + k];
    const aqk = m[q * n + k];
    m[p * n + k] = c * apk - s * aqk;
    m[q * n + k] = s * apk + c * aqk;
  }
  // The rotation zeroes a_pq in exact arithmetic; store that, not the rounding residue.
  m[p * n + q] = 0;
  m[q * n + p] = 0;
}

/** C = A B for n x n matrices. */
export function matmulSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  return c;
}

/**
 * The PSD square root V diag(sqrt(max(lambda, 0))) V^T of a symmetric matrix. Eigenvalues that
 * rounding pushed slightly below zero (a covariance of fewer samples than dimensions is singular)
 * are clamped to 0.
 */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const root = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k] * r;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) root[i * n + j] += vik * vectors[j * n + k];
    }
  }
  return root;
}

/**
 * Tr((S1 S2)^(1/2)) for symmetric PSD S1 and S2. S1 S2 is not symmetric, but it is similar to
 * the symmetric PSD M = S1^(1/2) S2 S1^(1/2), so both have the same non-negative eigenvalues and
 * the trace is sum_k sqrt(lambda_k(M)).
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  checkSquare(s2, n, 'traceSqrtProduct');
  const root1 = sqrtPsd(s1, n);
  const product = matmulSquare(matmulSquare(root1, s2, n), root1, n);
  const { values } = symmetricEigen(product, n);
  let trace = 0;
  for (const value of values) trace += Math.sqrt(Math.max(value, 0));
  return trace;
}

/** Mean [d] and unbiased covariance [d, d] (divisor N - 1, as numpy's np.cov) of N rows of d values. */
export interface GaussianStatistics {
  dim: number;
  count: number;
  mean: Float64Array;
  covariance: Float64Array;
}

/** Fits a Gaussian to `rows` (row-major [count, dim]); needs at least two rows. */
export function gaussianStatistics(rows: ArrayLike<number>, count: number, dim: number): GaussianStatistics {
  if (rows.length !== count * dim) {
    throw new Error(`gaussianStatistics: ${rows.length} values do not fill [${count}, ${dim}]`);
  }
  if (count < 2) throw new Error(`gaussianStatistics: needs at least 2 samples for a covariance, got ${count}`);
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let j = 0; j < dim; j++) mean[j] += rows[r * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= count;
  const covariance = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < dim; j++) centred[j] = rows[r * dim + j] - mean[j];
    for (let i = 0; i < dim; i++) {
      const ci = centred[i];
      for (let j = i; j < dim; j++) covariance[i * dim + j] += ci * centred[j];
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const value = covariance[i * dim + j] / (count - 1);
      covariance[i * dim + j] = value;
      covariance[j * dim + i] = value;
    }
  }
  return { dim, count, mean, covariance };
}

/**
 * Frechet (2-Wasserstein) distance between N(mu1, S1) and N(mu2, S2) (Dowson & Landau, 1982;
 * the FID of Heusel et al., 2017): |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).
 * Rounding can leave a tiny negative total for identical inputs; it is clamped to 0.
 */
export function frechetDistanceFromStatistics(a: GaussianStatistics, b: GaussianStatistics): number {
  if (a.dim !== b.dim) throw new Error(`frechetDistance: feature dimensions differ (${a.dim} and ${b.dim})`);
  const n = a.dim;
  let meanTerm = 0;
  let traces = 0;
  for (let i = 0; i < n; i++) {
    meanTerm += (a.mean[i] - b.mean[i]) ** 2;
    traces += a.covariance[i * n + i] + b.covariance[i * n + i];
  }
  return Math.max(0, meanTerm + traces - 2 * traceSqrtProduct(a.covariance, b.covariance, n));
}
