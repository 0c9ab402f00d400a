// The native elementwise, reduction, resampling and copy kernels against plain reference
// loops in double precision written here.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { UNARY_OPS, BINARY_OPS, type BinaryOp, type UnaryOp } from '../../src/tensor/backend.js';
import { createNativeBackend } from '../../src/tensor/backends/native.js';

const backend = createNativeBackend();

/** Deterministic uniform values in [lo, hi) (mulberry32). */
function uniform(n: number, lo: number, hi: number, seed = 1): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    out[i] = lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

/** Asserts |got - want| <= rtol * |want| + atol elementwise; NaN must match NaN, infinities exactly. */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol = 0, what = ''): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    const ok = Number.isFinite(w)
      ? Math.abs(g - w) <= rtol * Math.abs(w) + atol
      : Object.is(g, w) || (Number.isNaN(w) && Number.isNaN(g));
    if (!ok) assert.fail(`${what}[${i}]: got ${g}, want ${w}`);
  }
}

// erfc in double: a positive series for small z, a continued fraction (Lentz) for large z.
function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 2.5) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 100; n++) {
      term *= (2 * z * z) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
  }
  let f = z;
  let c = z;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    d = 1 / (z + a * d);
    c = z + a / c;
    f *= c * d;
  }
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}
const normalCdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);
const normalPdf = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

type Ref = (x: number, p0: number, p1: number) => number;
const FORWARD: Record<UnaryOp, Ref> = {
  neg: (x) => -x,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: (x) => Math.abs(x),
  square: (x) => x * x,
  sigmoid,
  tanh: (x) => Math.tanh(x),
  silu: (x) => x * sigmoid(x),
  gelu: (x) => x * normalCdf(x),
  relu: (x) => Math.max(x, 0),
  leakyRelu: (x, p0) => (x > 0 ? x : x * p0),
  powScalar: (x, p0) => x ** Math.fround(p0),
  clamp: (x, p0, p1) => Math.min(Math.max(x, p0), p1),
  affine: (x, p0, p1) => x * p0 + p1,
};
// Local derivatives f'(x), as PyTorch defines them at the kinks.
const DERIVATIVE: Record<UnaryOp, Ref> = {
  neg: () => -1,
  exp: (x) => Math.exp(x),
  log: (x) => 1 / x,
  sqrt: (x) => 0.5 / Math.sqrt(x),
  rsqrt: (x) => -0.5 * x ** -1.5,
  abs: (x) => Math.sign(x),
  square: (x) => 2 * x,
  sigmoid: (x) => sigmoid(x) * (1 - sigmoid(x)),
  tanh: (x) => 1 - Math.tanh(x) ** 2,
  silu: (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))),
  gelu: (x) => normalCdf(x) + x * normalPdf(x),
  relu: (x) => (x > 0 ? 1 : 0),
  leakyRelu: (x, p0) => (x > 0 ? 1 : p0),
  powScalar: (x, p0) => (p0 === 0 ? 0 : p0 * x ** (Math.fround(p0) - 1)),
  clamp: (x, p0, p1) => (x >= p0 && x <= p1 ? 1 : 0),
  affine: (_x, p0) => p0,
};
const POSITIVE_ONLY = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt']);
const POW_EXPONENTS = [2, 3, 0.5, -0.5, -1, -2, 1.7, 0];
const CLAMP_BOUNDS = [
  [-0.5, 0.5],
  [-Infinity, 1],
  [1, -1],
]; // the last: lower > upper gives upper everywhere

function inputsFor(op: UnaryOp, n: number): Float32Array {
  const x = POSITIVE_ONLY.has(op) ? uniform(n, 1e-3, 50) : uniform(n, -10, 10);
  x.set(POSITIVE_ONLY.has(op) ? [1, 1e-6, 3e30] : [0, -0.5, 0.5, 1e-8, -1e-8, -3, 3, 20]);
  return x;
}

describe('native unary kernels', () => {
  // Sizes on both sides of the threading threshold.
  for (const n of [1000, 40_000]) {
    test(`forward and gradient of every op, n = ${n}`, () => {
      for (const op of UNARY_OPS) {
        const params: number[][] =
          op === 'powScalar' ? POW_EXPONENTS.map((p) => [p, 0]) : op === 'clamp' ? CLAMP_BOUNDS : [[0.25, -1.5]];
        for (const [p0 = 0, p1 = 0] of params) {
          const x = op === 'powScalar' && !Number.isInteger(p0) ? uniform(n, 0.01, 5) : inputsFor(op, n);
          const y = new Float32Array(n);
          backend.unary(op, x, y, p0, p1);
          const want = Array.from(x, (v) => FORWARD[op](v, p0, p1));
          assertClose(y, want, 1e-6, 0, `${op}(${p0}, ${p1})`);

          const gy = uniform(n, -1, 1, 7);
          const gx = new Float32Array(n);
          backend.unaryGrad(op, x, y, gy, gx, p0, p1);
          const wantGrad = Array.from(x, (v, i) => gy[i] * DERIVATIVE[op](v, p0, p1));
          // Gradients from y = f(x) carry y's rounding: compare with an absolute floor too.
          assertClose(gx, wantGrad, 1e-5, 1e-6, `${op}'(${p0}, ${p1})`);
        }
      }
    });
  }

  test('special values', () => {
    const run = (op: UnaryOp, values: number[], p0 = 0, p1 = 0): number[] => {
      const out = new Float32Array(values.length);
      backend.unary(op, Float32Array.from(values), out, p0, p1);
      return Array.from(out);
    };
    assert.deepEqual(run('exp', [-Infinity, Infinity, 89, -104]), [0, Infinity, Infinity, 0]);
    assert.deepEqual(run('log', [0, Infinity]), [-Infinity, Infinity]);
    assert.ok(run('log', [-1, NaN]).every(Number.isNaN));
    assert.deepEqual(run('tanh', [-Infinity, Infinity, 30]), [-1, 1, 1]);
    assert.deepEqual(run('sigmoid', [-Infinity, Infinity]), [0, 1]);
    assert.ok(run('relu', [NaN]).every(Number.isNaN));
    assert.ok(run('gelu', [NaN]).every(Number.isNaN));
    assert.deepEqual(run('gelu', [Infinity, 0]), [Infinity, 0]);
    assert.ok(run('gelu', [-Infinity]).every(Number.isNaN)); // -inf * Phi(-inf) = -inf * 0, as in PyTorch
    assertClose(run('log', [1e-40]), [Math.log(Math.fround(1e-40))], 1e-6, 0, 'log of a subnormal');
  });
});

/** Row-major reference walk of a broadcast layout. */
function binaryReference(op: BinaryOp, a: Float32Array, b: Float32Array, shape: number[], as: number[], bs: number[]) {
  const f: Record<BinaryOp, (x: number, y: number) => number> = {
    add: (x, y) => x + y,
    sub: (x, y) => x - y,
    mul: (x, y) => x * y,
    div: (x, y) => x / y,
    pow: (x, y) => x ** y,
    maximum: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y)),
    minimum: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y)),
    eq: (x, y) => (x === y ? 1 : 0),
    gt: (x, y) => (x > y ? 1 : 0),
    lt: (x, y) => (x < y ? 1 : 0),
  };
  const n = shape.reduce((p, s) => p * s, 1);
  const out = new Float64Array(n);
  for (let flat = 0; flat < n; flat++) {
    let rest = flat;
    let ia = 0;
    let ib = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      const i = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
      ia += i * as[d];
      ib += i * bs[d];
    }
    out[flat] = Math.fround(f[op](a[ia], b[ib]));
  }
  return out;
}

describe('native binary kernel', () => {
  const cases: Array<{ name: string; shape: number[]; as: number[]; bs: number[] }> = [
    { name: 'same shape', shape: [5, 7, 9], as: [63, 9, 1], bs: [63, 9, 1] },
    { name: 'bias [C,1,1] over [N,C,H,W]', shape: [2, 3, 4, 5], as: [60, 20, 5, 1], bs: [0, 1, 0, 0] },
    { name: 'scale [N,C,1,1]', shape: [2, 3, 4, 5], as: [60, 20, 5, 1], bs: [3, 1, 0, 0] },
    { name: 'trailing vector [W]', shape: [6, 11], as: [11, 1], bs: [0, 1] },
    { name: 'scalar a', shape: [4, 6], as: [0, 0], bs: [6, 1] },
    { name: 'outer product', shape: [2, 3, 4, 5], as: [4, 0, 1, 0], bs: [0, 5, 0, 1] },
    { name: 'strided a (transposed view)', shape: [8, 9], as: [1, 8], bs: [9, 1] },
    { name: 'large, parallel', shape: [3, 40, 1000], as: [40000, 1000, 1], bs: [1000, 0, 1] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const aLen = 1 + c.shape.reduce((p, s, d) => p + (s - 1) * c.as[d], 0);
      const bLen = 1 + c.shape.reduce((p, s, d) => p + (s - 1) * c.bs[d], 0);
      const a = uniform(aLen, -3, 3, 3);
      const b = uniform(bLen, 0.1, 3, 4);
      a[0] = b[0]; // one equal pair for eq
      const n = c.shape.reduce((p, s) => p * s, 1);
      for (const op of BINARY_OPS) {
        const x = op === 'pow' ? a.map(Math.abs) : a;
        const out = new Float32Array(n);
        backend.binary(op, x, b, out, { outShape: c.shape, aStrides: c.as, bStrides: c.bs });
        assertClose(out, binaryReference(op, x, b, c.shape, c.as, c.bs), 2e-7, 0, `${c.name} ${op}`);
      }
    });
  }
  test('maximum and minimum propagate NaN', () => {
    const layout = { outShape: [2], aStrides: [1], bStrides: [1] };
    for (const op of ['maximum', 'minimum'] as const) {
      const out = new Float32Array(2);
      backend.binary(op, Float32Array.of(NaN, 1), Float32Array.of(1, NaN), out, layout);
      assert.ok(Number.isNaN(out[0]) && Number.isNaN(out[1]), op);
    }
  });
});

describe('native reductions and softmax', () => {
  const shapes: Array<[number, number, number]> = [
    [3, 17, 1],
    [2, 9, 5],
    [4, 6, 300],
    [1, 200_000, 1],
    [1, 20_000, 3],
  ];
  for (const [outer, size, inner] of shapes) {
    test(`reduce, softmax and softmaxGrad on [${outer}, ${size}, ${inner}]`, () => {
      const n = outer * size * inner;
      const x = uniform(n, -4, 4, 11);
      const at = (o: number, s: number, i: number): number => (o * size + s) * inner + i;
      for (const op of ['sum', 'max', 'min'] as const) {
        const out = new Float32Array(outer * inner);
        backend.reduce(op, x, out, outer, size, inner);
        const want = new Float64Array(outer * inner);
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
            for (let s = 0; s < size; s++) {
              const v = x[at(o, s, i)];
              acc = op === 'sum' ? acc + v : op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
            }
            want[o * inner + i] = acc;
          }
        }
        assertClose(out, want, 1e-5, op === 'sum' ? 1e-5 * Math.sqrt(size) : 0, `reduce ${op}`);
      }
      for (const log of [false, true]) {
        const y = new Float32Array(n);
        const shifted = x.map((v) => v + 1000); // stability: exp(1000) overflows unless the max is subtracted
        backend.softmax(shifted, y, outer, size, inner, log);
        const gy = uniform(n, -1, 1, 12);
        const gx = new Float32Array(n);
        backend.softmaxGrad(y, gy, gx, outer, size, inner, log);
        const want = new Float64Array(n);
        const wantGrad = new Float64Array(n);
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let max = -Infinity;
            for (let s = 0; s < size; s++) max = Math.max(max, shifted[at(o, s, i)]);
            let sum = 0;
            for (let s = 0; s < size; s++) sum += Math.exp(shifted[at(o, s, i)] - max);
            let dot = 0;
            for (let s = 0; s < size; s++) {
              const k = at(o, s, i);
              want[k] = log ? shifted[k] - max - Math.log(sum) : Math.exp(shifted[k] - max) / sum;
              dot += log ? gy[k] : gy[k] * y[k];
            }
            for (let s = 0; s < size; s++) {
              const k = at(o, s, i);
              wantGrad[k] = log ? gy[k] - Math.exp(y[k]) * dot : y[k] * (gy[k] - dot);
            }
          }
        }
        assertClose(y, want, 1e-5, log ? 1e-6 : 0, `softmax log=${log}`);
        assertClose(gx, wantGrad, 1e-5, 1e-7, `softmaxGrad log=${log}`);
      }
    });
  }
  test('max and min propagate NaN', () => {
    const out = new Float32Array(1);
    backend.reduce('max', Float32Array.of(1, NaN, 2), out, 1, 3, 1);
    assert.ok(Number.isNaN(out[0]));
  });
});

describe('native resampling', () => {
  for (const [planes, h, w, sh, sw] of [
    [3, 4, 5, 2, 2],
    [2, 3, 7, 1, 3],
    [2, 5, 2, 3, 1],
    [64, 32, 32, 2, 2],
  ]) {
    test(`upsampleNearest ${sh}x${sw} of [${planes}, ${h}, ${w}]`, () => {
      const x = uniform(planes * h * w, -1, 1, 5);
      const out = new Float32Array(x.length * sh * sw);
      backend.upsampleNearest(x, out, planes, h, w, sh, sw);
      const gy = uniform(out.length, -1, 1, 6);
      const gx = new Float32Array(x.length);
      backend.upsampleNearestGrad(gy, gx, planes, h, w, sh, sw);
      const outW = w * sw;
      const wantGrad = new Float64Array(x.length);
      for (let p = 0; p < planes; p++) {
        for (let i = 0; i < h * sh; i++) {
          for (let j = 0; j < outW; j++) {
            const src = (p * h + Math.floor(i / sh)) * w + Math.floor(j / sw);
            const k = (p * h * sh + i) * outW + j;
            assert.equal(out[k], x[src]);
            wantGrad[src] += gy[k];
          }
        }
      }
      assertClose(gx, wantGrad, 1e-5, 1e-6, 'upsampleNearestGrad');
    });
  }
  for (const [planes, h, w, k, s] of [
    [3, 6, 8, 2, 2],
    [2, 7, 9, 3, 2],
    [2, 5, 6, 2, 1],
    [2, 9, 10, 3, 3],
    [64, 32, 33, 2, 2],
  ]) {
    test(`avgPool2d k=${k} s=${s} on [${planes}, ${h}, ${w}]`, () => {
      const outH = Math.floor((h - k) / s) + 1;
      const outW = Math.floor((w - k) / s) + 1;
      const x = uniform(planes * h * w, -1, 1, 8);
      const out = new Float32Array(planes * outH * outW);
      backend.avgPool2d(x, out, planes, h, w, k, s);
      const gy = uniform(out.length, -1, 1, 9);
      const gx = new Float32Array(x.length);
      backend.avgPool2dGrad(gy, gx, planes, h, w, k, s);
      const want = new Float64Array(out.length);
      const wantGrad = new Float64Array(x.length);
      for (let p = 0; p < planes; p++) {
        for (let oi = 0; oi < outH; oi++) {
          for (let oj = 0; oj < outW; oj++) {
            const o = (p * outH + oi) * outW + oj;
            for (let di = 0; di < k; di++) {
              for (let dj = 0; dj < k; dj++) {
                const src = (p * h + oi * s + di) * w + oj * s + dj;
                want[o] += x[src] / (k * k);
                wantGrad[src] += gy[o] / (k * k);
              }
            }
          }
        }
      }
      assertClose(out, want, 1e-5, 1e-6, 'avgPool2d');
      assertClose(gx, wantGrad, 1e-5, 1e-6, 'avgPool2dGrad');
    });
  }
});

describe('native copyStrided', () => {
  /** Reference: the same index walk, element by element. */
  function reference(
    src: Float32Array,
    srcOffset: number,
    ss: number[],
    dst: Float32Array,
    dstOffset: number,
    ds: number[],
    shape: number[],
  ) {
    const out = dst.slice();
    const n = shape.reduce((p, s) => p * s, 1);
    for (let flat = 0; flat < n; flat++) {
      let rest = flat;
      let si = srcOffset;
      let di = dstOffset;
      for (let d = shape.length - 1; d >= 0; d--) {
        const i = rest % shape[d];
        rest = Math.floor(rest / shape[d]);
        si += i * ss[d];
        di += i * ds[d];
      }
      out[di] = src[si];
    }
    return out;
  }
  // [name, shape, srcOffset, srcStrides, dstOffset, dstStrides]
  const cases: Array<[string, number[], number, number[], number, number[]]> = [
    ['contiguous', [3, 4, 5], 0, [20, 5, 1], 0, [20, 5, 1]],
    ['permute [B,C,HW] -> [B,HW,C]', [2, 70, 40], 0, [2800, 1, 70], 0, [2800, 40, 1]],
    ['permute 3-axis cycle', [8, 6, 7], 0, [1, 56, 8], 0, [42, 7, 1]],
    ['slice with offset', [4, 5], 14, [12, 2], 0, [5, 1]],
    ['concat into dst slot', [2, 3, 4], 0, [12, 4, 1], 8, [20, 4, 1]],
    ['pad interior', [3, 4], 0, [4, 1], 7, [6, 1]],
    ['expand [C,1] -> [C,W]', [3, 7], 0, [1, 0], 0, [7, 1]],
    ['expand [1,W] -> [H,W]', [3, 7], 0, [0, 1], 0, [7, 1]],
    ['rank 0', [], 3, [], 1, []],
    ['reversed (negative stride)', [9], 8, [-1], 0, [1]],
    ['rank 8', [2, 2, 2, 2, 2, 2, 2, 2], 0, [1, 2, 4, 8, 16, 32, 64, 128], 0, [128, 64, 32, 16, 8, 4, 2, 1]],
    ['large transpose, parallel', [300, 500], 0, [1, 300], 0, [500, 1]],
    ['large expand, parallel', [2000, 64], 0, [0, 1], 0, [64, 1]],
  ];
  /** Buffer length that the strides reach from offset, plus a few untouched elements. */
  const reach = (offset: number, strides: number[], shape: number[]) =>
    offset + shape.reduce((sum, size, d) => sum + Math.max(0, (size - 1) * strides[d]), 0) + 4;
  for (const [name, shape, so, ss, dOff, ds] of cases) {
    test(name, () => {
      const src = uniform(reach(so, ss, shape), -1, 1, 10);
      const dst = uniform(reach(dOff, ds, shape), 5, 6, 13);
      const want = reference(src, so, ss, dst, dOff, ds, shape);
      backend.copyStrided(src, so, ss, dst, dOff, ds, shape);
      assert.deepEqual(dst, want);
    });
  }
  test('rejects strides that reach outside a buffer', () => {
    const src = new Float32Array(10);
    const dst = new Float32Array(10);
    assert.throws(() => backend.copyStrided(src, 5, [1], dst, 0, [1], [6]), RangeError);
    assert.throws(() => backend.copyStrided(src, 0, [1], dst, 0, [2], [6]), RangeError);
  });
});

describe('native threading', () => {
  test('one thread and all threads give identical results', () => {
    const x = uniform(100_000, -5, 5, 21);
    const results = [1, backend.getNumThreads()].map((threads) => {
      const previous = backend.getNumThreads();
      backend.setNumThreads(threads);
      const y = new Float32Array(x.length);
      backend.unary('gelu', x, y, 0, 0);
      const s = new Float32Array(1);
      backend.reduce('sum', x, s, 1, x.length, 1);
      backend.setNumThreads(previous);
      return [y, s];
    });
    assert.deepEqual(results[0][0], results[1][0]);
    assertClose(results[0][1], results[1][1], 1e-6, 0, 'sum');
  });
});
