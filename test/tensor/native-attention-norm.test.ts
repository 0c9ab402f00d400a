// The native fused attention and normalisation kernels against plain float64 reference loops
// written here from the formulas (not from the kernels), on small shapes that reach the
// kernels' edge paths: cross-attention (tq != tk, tk = 1), d != dv, several key tiles,
// pairs split over threads, and null gamma/beta.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import type { AttentionParams, Backend } from '../../src/tensor/backend.js';
import { createNativeBackend } from '../../src/tensor/backends/native.js';

const backend: Backend = createNativeBackend();

/** Deterministic values in [-scale, scale) from a small LCG. */
function randomArray(length: number, seed: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = offset + scale * (2 * (state / 2 ** 32) - 1);
  }
  return out;
}

/**
 * max |got - want| / max |want|, so a tolerance reads as relative to the tensor's size; an
 * all-zero want (e.g. gq when there is one key) is compared absolutely.
 */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, name: string, tolerance = 2e-5): void {
  assert.equal(got.length, want.length, `${name}: length`);
  let maxError = 0;
  let maxWant = 0;
  for (let i = 0; i < want.length; i++) {
    maxError = Math.max(maxError, Math.abs(got[i] - want[i]));
    maxWant = Math.max(maxWant, Math.abs(want[i]));
  }
  const relative = maxWant === 0 ? maxError : maxError / maxWant;
  assert.ok(relative < tolerance, `${name}: relative error ${relative.toExponential(2)} >= ${tolerance}`);
}

interface AttentionReference {
  out: Float64Array;
  lse: Float64Array;
  gq: Float64Array;
  gk: Float64Array;
  gv: Float64Array;
}

/** Softmax attention per (batch, head, query row), and its gradient, in float64. */
function referenceAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  gOut: Float32Array,
  p: AttentionParams,
): AttentionReference {
  const { batch, heads, tq, tk, d, dv, scale } = p;
  const ref: AttentionReference = {
    out: new Float64Array(batch * tq * heads * dv),
    lse: new Float64Array(batch * heads * tq),
    gq: new Float64Array(q.length),
    gk: new Float64Array(k.length),
    gv: new Float64Array(v.length),
  };
  const qAt = (b: number, h: number, i: number, j: number) => (b * tq + i) * heads * d + h * d + j;
  const kAt = (b: number, h: number, i: number, j: number) => (b * tk + i) * heads * d + h * d + j;
  const vAt = (b: number, h: number, i: number, j: number) => (b * tk + i) * heads * dv + h * dv + j;
  const oAt = (b: number, h: number, i: number, j: number) => (b * tq + i) * heads * dv + h * dv + j;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < tq; i++) {
        const scores = new Float64Array(tk);
        for (let t = 0; t < tk; t++) {
          for (let j = 0; j < d; j++) scores[t] += q[qAt(b, h, i, j)] * k[kAt(b, h, t, j)];
          scores[t] *= scale;
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let t = 0; t < tk; t++) sum += Math.exp(scores[t] - max);
        const probs = scores.map((s) => Math.exp(s - max) / sum);
        ref.lse[(b * heads + h) * tq + i] = max + Math.log(sum);
        for (let t = 0; t < tk; t++) {
          for (let j = 0; j < dv; j++) ref.out[oAt(b, h, i, j)] += probs[t] * v[vAt(b, h, t, j)];
        }
        // dP = gOut v^T; dS = P * (dP - sum(P * dP)); gq = scale dS k; gk += scale dS^T q; gv += P^T gOut.
        const dProbs = new Float64Array(tk);
        for (let t = 0; t < tk; t++) {
          for (let j = 0; j < dv; j++) dProbs[t] += gOut[oAt(b, h, i, j)] * v[vAt(b, h, t, j)];
        }
        const mean = probs.reduce((acc, pt, t) => acc + pt * dProbs[t], 0);
        for (let t = 0; t < tk; t++) {
          const dScore = probs[t] * (dProbs[t] - mean) * scale;
          for (let j = 0; j < d; j++) {
            ref.gq[qAt(b, h, i, j)] += dScore * k[kAt(b, h, t, j)];
            ref.gk[kAt(b, h, t, j)] += dScore * q[qAt(b, h, i, j)];
          }
          for (let j = 0; j < dv; j++) ref.gv[vAt(b, h, t, j)] += probs[t] * gOut[oAt(b, h, i, j)];
        }
      }
    }
  }
  return ref;
}

function checkAttention(p: AttentionParams, seed: number): void {
  const { batch, heads, tq, tk, d, dv } = p;
  const q = randomArray(batch * tq * heads * d, seed, 2);
  const k = randomArray(batch * tk * heads * d, seed + 1);
  const v = randomArray(batch * tk * heads * dv, seed + 2);
  const gOut = randomArray(batch * tq * heads * dv, seed + 3);
  const ref = referenceAttention(q, k, v, gOut, p);

  const out = new Float32Array(ref.out.length).fill(NaN);
  const lse = new Float32Array(ref.lse.length).fill(NaN);
  backend.attention(q, k, v, out, lse, p);
  const gq = new Float32Array(q.length).fill(NaN);
  const gk = new Float32Array(k.length).fill(NaN);
  const gv = new Float32Array(v.length).fill(NaN);
  backend.attentionGrad(q, k, v, out, lse, gOut, gq, gk, gv, p);

  const label = JSON.stringify(p);
  assertClose(out, ref.out, `out ${label}`);
  assertClose(lse, ref.lse, `lse ${label}`);
  assertClose(gq, ref.gq, `gq ${label}`);
  assertClose(gk, ref.gk, `gk ${label}`);
  assertClose(gv, ref.gv, `gv ${label}`);
}

/** Runs fn with the native pool at `threads`, then restores the previous count. */
function withThreads(threads: number, fn: () => void): void {
  const previous = backend.getNumThreads();
  backend.setNumThreads(threads);
  try {
    fn();
  } finally {
    backend.setNumThreads(previous);
  }
}

describe('native attention', () => {
  const cases: AttentionParams[] = [
    { batch: 2, heads: 1, tq: 5, tk: 7, d: 3, dv: 4, scale: 3 ** -0.5 },
    { batch: 1, heads: 8, tq: 70, tk: 77, d: 8, dv: 8, scale: 8 ** -0.5 }, // cross-attention to 77 tokens
    { batch: 2, heads: 3, tq: 65, tk: 1, d: 4, dv: 6, scale: 0.7 }, // one key: softmax is 1
    { batch: 1, heads: 2, tq: 3, tk: 1100, d: 2, dv: 3, scale: 1.3 }, // two key tiles: online softmax
    { batch: 1, heads: 1, tq: 600, tk: 90, d: 16, dv: 8, scale: 0.25 }, // one pair: query blocks split
    { batch: 1, heads: 3, tq: 520, tk: 33, d: 8, dv: 8, scale: 0.5 }, // 3 pairs do not share out over 2 threads
  ];
  for (const [index, p] of cases.entries()) {
    test(`matches the reference: ${JSON.stringify(p)}`, () => checkAttention(p, 10 * index + 1));
  }

  test('matches the reference on 1 and 3 threads (query blocks split 1 or 3 ways)', () => {
    for (const threads of [1, 3]) withThreads(threads, () => checkAttention(cases[4], 7));
  });
});

interface NormReference {
  out: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
  gx: Float64Array;
  gGamma: Float64Array;
  gBeta: Float64Array;
}

/**
 * Normalisation of x viewed as [n, groups, channelsPerGroup, hw] over its last two axes, with
 * per-channel affine (channel = group * channelsPerGroup + c): group norm, and layer norm as
 * groups = 1, hw = 1. gx from the chain rule through mean and variance, written out in full.
 */
function referenceNorm(
  x: Float32Array,
  gy: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
  n: number,
  channels: number,
  hw: number,
  groups: number,
  eps: number,
): NormReference {
  const size = (channels / groups) * hw;
  const ref: NormReference = {
    out: new Float64Array(x.length),
    mean: new Float64Array(n * groups),
    rstd: new Float64Array(n * groups),
    gx: new Float64Array(x.length),
    gGamma: new Float64Array(channels),
    gBeta: new Float64Array(channels),
  };
  for (let s = 0; s < n * groups; s++) {
    const first = s * size;
    const channelOf = (i: number) => (s % groups) * (channels / groups) + Math.floor(i / hw);
    let mean = 0;
    for (let i = 0; i < size; i++) mean += x[first + i];
    mean /= size;
    let variance = 0;
    for (let i = 0; i < size; i++) variance += (x[first + i] - mean) ** 2;
    variance /= size;
    const rstd = 1 / Math.sqrt(variance + eps);
    ref.mean[s] = mean;
    ref.rstd[s] = rstd;
    let dVariance = 0;
    let dMean = 0;
    for (let i = 0; i < size; i++) {
      const c = channelOf(i);
      const xhat = (x[first + i] - mean) * rstd;
      ref.out[first + i] = xhat * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
      ref.gGamma[c] += gy[first + i] * xhat;
      ref.gBeta[c] += gy[first + i];
      const dXhat = gy[first + i] * (gamma ? gamma[c] : 1);
      dVariance += dXhat * (x[first + i] - mean) * -0.5 * rstd ** 3;
      dMean -= dXhat * rstd;
    }
    for (let i = 0; i < size; i++) {
      const dXhat = gy[first + i] * (gamma ? gamma[channelOf(i)] : 1);
      ref.gx[first + i] = dXhat * rstd + (dVariance * 2 * (x[first + i] - mean)) / size + dMean / size;
    }
  }
  return ref;
}

describe('native group norm', () => {
  const cases = [
    { n: 2, c: 8, hw: 5, groups: 4, affine: true, offset: 0 },
    { n: 3, c: 12, hw: 17, groups: 3, affine: false, offset: 0 },
    { n: 2, c: 64, hw: 64, groups: 32, affine: true, offset: 100 }, // a large mean must not cancel the variance
    { n: 1, c: 6, hw: 3, groups: 6, affine: true, offset: 0 },
    { n: 3, c: 64, hw: 16, groups: 32, affine: true, offset: 0 }, // groups and channel rows 16 at a time
    { n: 5, c: 24, hw: 16, groups: 8, affine: true, offset: 100 }, // 3 channels per group; a part batch left over
    { n: 2, c: 8, hw: 2048, groups: 2, affine: false, offset: 30 }, // groups longer than one float block
  ];
  for (const [index, { n, c, hw, groups, affine, offset }] of cases.entries()) {
    test(`matches the reference: n ${n} c ${c} hw ${hw} groups ${groups} affine ${affine} mean ${offset}`, () => {
      const x = randomArray(n * c * hw, 100 + index, 1.5, offset);
      const gy = randomArray(n * c * hw, 200 + index);
      const gamma = affine ? randomArray(c, 300 + index) : null;
      const beta = affine ? randomArray(c, 400 + index) : null;
      const ref = referenceNorm(x, gy, gamma, beta, n, c, hw, groups, 1e-5);

      const out = new Float32Array(x.length);
      const mean = new Float32Array(n * groups);
      const rstd = new Float32Array(n * groups);
      backend.groupNorm(x, gamma, beta, out, mean, rstd, n, c, hw, groups, 1e-5);
      const gx = new Float32Array(x.length);
      const gGamma = affine ? new Float32Array(c).fill(NaN) : null;
      const gBeta = affine ? new Float32Array(c).fill(NaN) : null;
      backend.groupNormGrad(x, gy, gamma, mean, rstd, gx, gGamma, gBeta, n, c, hw, groups);

      assertClose(out, ref.out, 'out');
      assertClose(mean, ref.mean, 'mean');
      assertClose(rstd, ref.rstd, 'rstd');
      assertClose(gx, ref.gx, 'gx');
      if (gGamma && gBeta) {
        assertClose(gGamma, ref.gGamma, 'gGamma');
        assertClose(gBeta, ref.gBeta, 'gBeta');
      }
    });
  }

  test('gamma without beta, on 1 and 3 threads', () => {
    const [n, c, hw, groups] = [4, 16, 40, 4];
    const x = randomArray(n * c * hw, 5);
    const gy = randomArray(n * c * hw, 6);
    const gamma = randomArray(c, 7);
    const ref = referenceNorm(x, gy, gamma, null, n, c, hw, groups, 1e-6);
    for (const threads of [1, 3]) {
      withThreads(threads, () => {
        const out = new Float32Array(x.length);
        const mean = new Float32Array(n * groups);
        const rstd = new Float32Array(n * groups);
        backend.groupNorm(x, gamma, null, out, mean, rstd, n, c, hw, groups, 1e-6);
        const gx = new Float32Array(x.length);
        const gGamma = new Float32Array(c);
        backend.groupNormGrad(x, gy, gamma, mean, rstd, gx, gGamma, null, n, c, hw, groups);
        assertClose(out, ref.out, `out, ${threads} threads`);
        assertClose(gx, ref.gx, `gx, ${threads} threads`);
        assertClose(gGamma, ref.gGamma, `gGamma, ${threads} threads`);
      });
    }
  });

  test("a sample's results do not depend on the other samples of the call", () => {
    const [n, c, hw, groups] = [5, 24, 16, 8];
    const size = c * hw;
    const x = randomArray(n * size, 31, 1, 2);
    const gy = randomArray(n * size, 32);
    const gamma = randomArray(c, 33);
    const run = (first: number, count: number) => {
      const xs = x.slice(first * size, (first + count) * size);
      const out = new Float32Array(xs.length);
      const mean = new Float32Array(count * groups);
      const rstd = new Float32Array(count * groups);
      backend.groupNorm(xs, gamma, null, out, mean, rstd, count, c, hw, groups, 1e-5);
      const gx = new Float32Array(xs.length);
      const gys = gy.slice(first * size, (first + count) * size);
      backend.groupNormGrad(xs, gys, gamma, mean, rstd, gx, null, null, count, c, hw, groups);
      return { out, gx };
    };
    const all = run(0, n);
    for (const first of [0, 3, 4]) {
      const part = run(first, 1);
      assert.deepEqual(part.out, all.out.slice(first * size, (first + 1) * size));
      assert.deepEqual(part.gx, all.gx.slice(first * size, (first + 1) * size));
    }
  });
});

describe('native layer norm', () => {
  const cases = [
    { rows: 3, cols: 7, affine: true, offset: 0 },
    { rows: 50, cols: 320, affine: false, offset: 0 },
    { rows: 1000, cols: 64, affine: true, offset: 50 }, // many rows: per-thread gamma/beta partials
    { rows: 2, cols: 3000, affine: true, offset: 1 },
    { rows: 37, cols: 32, affine: false, offset: 100 }, // rows 16 at a time, 5 left over
    { rows: 2100, cols: 48, affine: true, offset: 0 }, // chunks of 64 rows, partials per 32
  ];
  for (const [index, { rows, cols, affine, offset }] of cases.entries()) {
    test(`matches the reference: rows ${rows} cols ${cols} affine ${affine} mean ${offset}`, () => {
      const x = randomArray(rows * cols, 500 + index, 1, offset);
      const gy = randomArray(rows * cols, 600 + index);
      const gamma = affine ? randomArray(cols, 700 + index) : null;
      const beta = affine ? randomArray(cols, 800 + index) : null;
      const ref = referenceNorm(x, gy, gamma, beta, rows, cols, 1, 1, 1e-5);

      const out = new Float32Array(x.length);
      const mean = new Float32Array(rows);
      const rstd = new Float32Array(rows);
      backend.layerNorm(x, gamma, beta, out, mean, rstd, rows, cols, 1e-5);
      const gx = new Float32Array(x.length);
      const gGamma = affine ? new Float32Array(cols).fill(NaN) : null;
      const gBeta = affine ? new Float32Array(cols).fill(NaN) : null;
      backend.layerNormGrad(x, gy, gamma, mean, rstd, gx, gGamma, gBeta, rows, cols);

      assertClose(out, ref.out, 'out');
      assertClose(mean, ref.mean, 'mean');
      assertClose(rstd, ref.rstd, 'rstd');
      assertClose(gx, ref.gx, 'gx');
      if (gGamma && gBeta) {
        assertClose(gGamma, ref.gGamma, 'gGamma');
        assertClose(gBeta, ref.gBeta, 'gBeta');
      }
    });
  }

  test("a row's results do not depend on the other rows of the call (rows reduced 16 at a time)", () => {
    const [rows, cols] = [37, 32];
    const x = randomArray(rows * cols, 21, 2, 5);
    const gy = randomArray(rows * cols, 22);
    const gamma = randomArray(cols, 23);
    const run = (first: number, count: number) => {
      const xs = x.slice(first * cols, (first + count) * cols);
      const out = new Float32Array(xs.length);
      const mean = new Float32Array(count);
      const rstd = new Float32Array(count);
      backend.layerNorm(xs, gamma, null, out, mean, rstd, count, cols, 1e-5);
      const gx = new Float32Array(xs.length);
      const gys = gy.slice(first * cols, (first + count) * cols);
      backend.layerNormGrad(xs, gys, gamma, mean, rstd, gx, null, null, count, cols);
      return { out, mean, rstd, gx };
    };
    const all = run(0, rows);
    for (const [first, count] of [
      [0, 1],
      [5, 4],
      [16, 21],
    ]) {
      const part = run(first, count);
      assert.deepEqual(part.out, all.out.slice(first * cols, (first + count) * cols));
      assert.deepEqual(part.mean, all.mean.slice(first, first + count));
      assert.deepEqual(part.rstd, all.rstd.slice(first, first + count));
      assert.deepEqual(part.gx, all.gx.slice(first * cols, (first + count) * cols));
    }
  });

  test('the same bits on 1, 2 and 3 threads (gamma/beta partials per fixed chunk of rows)', () => {
    const [rows, cols] = [3000, 64];
    const x = randomArray(rows * cols, 11, 1, 3);
    const gy = randomArray(rows * cols, 12);
    const gamma = randomArray(cols, 13);
    const results: Float32Array[][] = [];
    for (const threads of [1, 2, 3]) {
      withThreads(threads, () => {
        const mean = new Float32Array(rows);
        const rstd = new Float32Array(rows);
        backend.layerNorm(x, gamma, null, new Float32Array(x.length), mean, rstd, rows, cols, 1e-5);
        const gx = new Float32Array(x.length);
        const gGamma = new Float32Array(cols);
        const gBeta = new Float32Array(cols);
        backend.layerNormGrad(x, gy, gamma, mean, rstd, gx, gGamma, gBeta, rows, cols);
        results.push([gx, gGamma, gBeta]);
      });
    }
    for (const result of results.slice(1)) assert.deepEqual(result, results[0]);
  });
});
