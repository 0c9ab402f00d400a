// One harness for every Backend kernel. Two kinds of check:
// - native vs js: the same seeded inputs through both backends; every output must agree to a
//   relative error under 1e-5 (max |native - js| / max |js|). If the addon is not built, these
//   fail: CI always builds it.
// - js gradients: the js backward kernels against central finite differences of the js
//   forward kernels, all run in float64 (the js kernels accept Float64Array, see js/floats.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  BINARY_OPS,
  type AttentionParams,
  type Backend,
  type BinaryOp,
  type BroadcastLayout,
  type Conv2dParams,
  type MatmulParams,
  type ReduceOp,
  type UnaryOp,
} from '../../src/tensor/backend.js';
import { createJsBackend } from '../../src/tensor/backends/js.js';
import { erf, erfc } from '../../src/tensor/backends/js/erf.js';
import { createNativeBackend } from '../../src/tensor/backends/native.js';

const js = createJsBackend();
let nativeBackend: Backend | undefined;
/** Loaded on first use, so a missing addon fails each native test with the loader's message. */
function native(): Backend {
  nativeBackend ??= createNativeBackend();
  return nativeBackend;
}

// ---------------------------------------------------------------- inputs

/** mulberry32, seeded from the test's name so each case's inputs are fixed and independent. */
function rngFor(name: string): () => number {
  let state = 0x9e3779b9;
  for (let i = 0; i < name.length; i++) state = Math.imul(state ^ name.charCodeAt(i), 0x85ebca6b);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const uniform = (random: Random, n: number, lo = -1, hi = 1) =>
  Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
/** Values on a grid of `step`, so comparisons and maximum/minimum meet ties. */
const grid = (random: Random, n: number, step: number, lo = -2, hi = 2) =>
  Float32Array.from({ length: n }, () => Math.round((lo + (hi - lo) * random()) / step) * step);
/** An output buffer, pre-filled with NaN so a kernel that forgets to overwrite is caught. */
const scratch = (n: number) => new Float32Array(n).fill(NaN);
const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------- comparison

/** max |actual - expected| / max(1e-6, max |expected|); non-finite values must match exactly. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): number {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i], expected[i]];
    if (!Number.isFinite(e)) {
      assert.ok(
        Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)),
        `${label}: element ${i} is ${a}, expected ${e}`,
      );
      continue;
    }
    assert.ok(Number.isFinite(a), `${label}: element ${i} is ${a}, expected ${e}`);
    maxDiff = Math.max(maxDiff, Math.abs(a - e));
    maxRef = Math.max(maxRef, Math.abs(e));
  }
  return maxDiff / Math.max(1e-6, maxRef);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, tolerance: number): void {
  const error = relativeError(actual, expected, label);
  assert.ok(error < tolerance, `${label}: relative error ${error.toExponential(2)} >= ${tolerance}`);
}

type Outputs = Record<string, Float32Array>;

/** Registers `name`: `run` on the native backend must reproduce `run` on the js backend. */
function againstJs(name: string, run: (backend: Backend) => Outputs): void {
  test(name, () => {
    const expected = run(js);
    const actual = run(native());
    for (const key of Object.keys(expected)) assertClose(actual[key], expected[key], `${name}: ${key}`, 1e-5);
  });
}

// ---------------------------------------------------------------- elementwise

interface UnaryCase {
  op: UnaryOp;
  p0?: number;
  p1?: number;
  positive?: boolean; // domain x > 0
}
const UNARY_CASES: UnaryCase[] = [
  { op: 'neg' },
  { op: 'exp' },
  { op: 'log', positive: true },
  { op: 'sqrt', positive: true },
  { op: 'rsqrt', positive: true },
  { op: 'abs' },
  { op: 'square' },
  { op: 'sigmoid' },
  { op: 'tanh' },
  { op: 'silu' },
  { op: 'gelu' },
  { op: 'relu' },
  { op: 'leakyRelu', p0: 0.2 },
  { op: 'powScalar', p0: 2.5, positive: true },
  { op: 'powScalar', p0: -1.5, positive: true },
  { op: 'powScalar', p0: 0, positive: true },
  { op: 'clamp', p0: -0.5, p1: 1 },
  { op: 'clamp', p0: -Infinity, p1: 0 },
  { op: 'clamp', p0: 0, p1: Infinity },
  { op: 'affine', p0: 1.5, p1: -0.25 },
];
const unaryLabel = (c: UnaryCase) =>
  `${c.op}${c.p0 === undefined ? '' : `(${c.p0}${c.p1 === undefined ? '' : `, ${c.p1}`})`}`;

/**
 * Inputs over the op's domain with the kinks (0, clamp bounds) included, and for the saturating
 * ops large magnitudes too (elsewhere those would dominate the max-normalised error).
 */
function unaryInput(c: UnaryCase, random: Random, n: number): Float32Array {
  if (c.positive) return uniform(random, n, 0.05, 4);
  const x = uniform(random, n, -4, 4);
  const saturating = ['sigmoid', 'tanh', 'silu', 'gelu'].includes(c.op);
  const specials = saturating ? [0, 20, -20, 60, -60] : [0, -0.5, 1];
  for (let i = 0; i < Math.min(specials.length, n - 1); i++) x[1 + i * 3] = specials[i];
  return x;
}

describe('unary and unaryGrad: native vs js', () => {
  for (const c of UNARY_CASES) {
    for (const n of [1, 1000, 70001]) {
      if (n === 70001 && !['exp', 'gelu', 'silu'].includes(c.op)) continue; // the parallel path, on a few ops
      const name = `${unaryLabel(c)} n=${n}`;
      const random = rngFor(name);
      const x = unaryInput(c, random, n);
      const gy = uniform(random, n);
      const [p0, p1] = [c.p0 ?? 0, c.p1 ?? 0];
      const y = scratch(n);
      js.unary(c.op, x, y, p0, p1); // both backends' unaryGrad get the same y
      againstJs(name, (backend) => {
        const [out, gx] = [scratch(n), scratch(n)];
        backend.unary(c.op, x, out, p0, p1);
        backend.unaryGrad(c.op, x, y, gy, gx, p0, p1);
        return { y: out, gx };
      });
    }
  }
});

/** Broadcast layout of two shapes, as the tensor layer builds it (right-aligned; rank 0 becomes [1]). */
function broadcastLayout(aShape: number[], bShape: number[]): BroadcastLayout {
  const rank = Math.max(aShape.length, bShape.length, 1);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const [a, b] = [pad(aShape), pad(bShape)];
  const outShape = a.map((extent, i) => Math.max(extent, b[i]));
  const strides = (s: number[]) => {
    const result = new Array<number>(rank).fill(0);
    for (let i = rank - 1, step = 1; i >= 0; step *= s[i], i--) result[i] = s[i] === 1 ? 0 : step;
    return result;
  };
  return { outShape, aStrides: strides(a), bStrides: strides(b) };
}

/** Operand shapes: equal, rank 0, rank 1, scalar against tensor, rows, columns, outer product, middle axes. */
const BROADCAST_CASES: { a: number[]; b: number[] }[] = [
  { a: [3, 4], b: [3, 4] },
  { a: [], b: [] },
  { a: [7], b: [7] },
  { a: [], b: [2, 3, 4] },
  { a: [5, 7], b: [] },
  { a: [4, 5], b: [5] },
  { a: [4, 5], b: [4, 1] },
  { a: [4, 1], b: [1, 5] },
  { a: [2, 1, 4], b: [2, 3, 4] },
  { a: [2, 3, 1, 5], b: [1, 3, 4, 1] },
  { a: [6, 1], b: [6, 1] },
  { a: [8, 64, 130], b: [8, 1, 130] },
];

function binaryInputs(op: BinaryOp, random: Random, aLength: number, bLength: number): [Float32Array, Float32Array] {
  switch (op) {
    case 'div':
      return [uniform(random, aLength), uniform(random, bLength, 0.5, 2).map((v, i) => (i % 2 ? v : -v))];
    case 'pow':
      return [uniform(random, aLength, 0.1, 3), uniform(random, bLength, -2, 2)];
    case 'maximum':
    case 'minimum':
    case 'eq':
    case 'gt':
    case 'lt':
      return [grid(random, aLength, 0.5), grid(random, bLength, 0.5)];
    default:
      return [uniform(random, aLength), uniform(random, bLength)];
  }
}

describe('binary: native vs js', () => {
  for (const op of BINARY_OPS) {
    for (const { a: aShape, b: bShape } of BROADCAST_CASES) {
      const name = `${op} [${aShape}] with [${bShape}]`;
      const [a, b] = binaryInputs(op, rngFor(name), product(aShape), product(bShape));
      const layout = broadcastLayout(aShape, bShape);
      againstJs(name, (backend) => {
        const out = scratch(product(layout.outShape));
        backend.binary(op, a, b, out, layout);
        return { out };
      });
    }
  }
  // Negative bases with integer exponents, and zero bases with negative ones (infinities).
  const name = 'pow of negative and zero bases with integer exponents';
  const random = rngFor(name);
  const [a, b] = [grid(random, 60, 0.5), grid(random, 60, 1, -3, 3)];
  againstJs(name, (backend) => {
    const out = scratch(60);
    backend.binary('pow', a, b, out, broadcastLayout([60], [60]));
    return { out };
  });
});

// ---------------------------------------------------------------- reductions and softmax

const REDUCE_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 9, 1],
  [4, 6, 1],
  [1, 5, 3],
  [3, 4, 7],
  [5, 1, 3],
  [2, 300, 2],
  [64, 1030, 1],
  [1, 64, 600],
];

describe('reduce: native vs js', () => {
  for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
    for (const [outer, size, inner] of REDUCE_SHAPES) {
      const name = `${op} [${outer}, ${size}, ${inner}]`;
      const x = uniform(rngFor(name), outer * size * inner, -2, 3);
      againstJs(name, (backend) => {
        const out = scratch(outer * inner);
        backend.reduce(op, x, out, outer, size, inner);
        return { out };
      });
    }
  }
});

describe('softmax and softmaxGrad: native vs js', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 10, 1],
    [4, 7, 1],
    [2, 5, 3],
    [3, 1, 4],
    [40, 1000, 1],
  ];
  for (const log of [false, true]) {
    for (const [outer, size, inner] of shapes) {
      for (const offset of [0, 100]) {
        // Offset 100 overflows exp unless the max is subtracted first.
        const name = `${log ? 'log_softmax' : 'softmax'} [${outer}, ${size}, ${inner}] logits +${offset}`;
        const random = rngFor(name);
        const x = uniform(random, outer * size * inner, -8, 8).map((v) => v + offset);
        const gy = uniform(random, x.length);
        const y = scratch(x.length);
        js.softmax(x, y, outer, size, inner, log);
        againstJs(name, (backend) => {
          const [out, gx] = [scratch(x.length), scratch(x.length)];
          backend.softmax(x, out, outer, size, inner, log);
          backend.softmaxGrad(y, gy, gx, outer, size, inner, log);
          return { y: out, gx };
        });
      }
    }
  }
});

// ---------------------------------------------------------------- matmul

describe('matmul: native vs js', () => {
  // [batch, m, n, k, aBatchStride or 'full', bBatchStride or 'full']
  const shapes: [number, number, number, number, 0 | 'full', 0 | 'full'][] = [
    [1, 1, 1, 1, 'full', 'full'],
    [1, 5, 7, 3, 'full', 'full'],
    [3, 4, 6, 5, 'full', 'full'],
    [2, 1, 9, 8, 'full', 'full'],
    [2, 9, 1, 8, 'full', 'full'],
    [3, 4, 6, 5, 0, 'full'],
    [3, 4, 6, 5, 'full', 0],
    [1, 67, 45, 130, 'full', 'full'],
    [2, 128, 96, 64, 'full', 0],
  ];
  for (const [batch, m, n, k, aStride, bStride] of shapes) {
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const p: MatmulParams = {
        batch,
        m,
        n,
        k,
        transA,
        transB,
        aBatchStride: aStride === 0 ? 0 : m * k,
        bBatchStride: bStride === 0 ? 0 : k * n,
      };
      const name = `batch=${batch} m=${m} n=${n} k=${k} transA=${transA} transB=${transB} aBatchStride=${p.aBatchStride} bBatchStride=${p.bBatchStride}`;
      const random = rngFor(name);
      const a = uniform(random, (aStride === 0 ? 1 : batch) * m * k);
      const b = uniform(random, (bStride === 0 ? 1 : batch) * k * n);
      const bias = uniform(random, n);
      againstJs(name, (backend) => {
        const out = scratch(batch * m * n);
        backend.matmul(a, b, out, p, null);
        const outWithBias = scratch(batch * m * n);
        backend.matmul(a, b, outWithBias, p, bias);
        return { out, outWithBias };
      });
    }
  }
});

// ---------------------------------------------------------------- conv2d

interface ConvCase {
  name: string;
  params: Conv2dParams;
  bias: boolean;
}

/** Case overrides; pad is [top, left, bottom, right], the pairs are [h, w]. */
interface ConvSpec {
  n: number;
  cIn: number;
  h: number;
  w: number;
  cOut: number;
  kernel: [number, number];
  stride: [number, number];
  pad: [number, number, number, number];
  dilation: [number, number];
  groups: number;
  bias: boolean;
}

/** The case every conv2d case overrides: 2 images, 3 -> 4 channels, 8x7, 3x3 kernel, stride 1, no padding. */
const CONV_DEFAULTS: ConvSpec = {
  n: 2,
  cIn: 3,
  h: 8,
  w: 7,
  cOut: 4,
  kernel: [3, 3],
  stride: [1, 1],
  pad: [0, 0, 0, 0],
  dilation: [1, 1],
  groups: 1,
  bias: true,
};

function conv(name: string, overrides: Partial<ConvSpec>): ConvCase {
  const spec = { ...CONV_DEFAULTS, ...overrides };
  const { n, cIn, h, w, cOut, groups } = spec;
  const [[kh, kw], [strideH, strideW], [dilationH, dilationW]] = [spec.kernel, spec.stride, spec.dilation];
  const [padTop, padLeft, padBottom, padRight] = spec.pad;
  // The output size the tensor layer derives from the padding after the input.
  const outH = Math.floor((h + padTop + padBottom - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((w + padLeft + padRight - dilationW * (kw - 1) - 1) / strideW) + 1;
  const params = {
    n,
    cIn,
    h,
    w,
    cOut,
    kh,
    kw,
    strideH,
    strideW,
    padTop,
    padLeft,
    dilationH,
    dilationW,
    groups,
    outH,
    outW,
  };
  return { name, params, bias: spec.bias };
}

const CONV_CASES: ConvCase[] = [
  conv('3x3 pad 1', { pad: [1, 1, 1, 1] }),
  conv('3x3 stride 2 pad 1, no bias', { h: 9, w: 8, stride: [2, 2], pad: [1, 1, 1, 1], bias: false }),
  conv('stride 2 pad (0,0,1,1) as in Downsample', { cIn: 4, h: 8, w: 8, stride: [2, 2], pad: [0, 0, 1, 1] }),
  conv('asymmetric pad (2,0,0,1)', { n: 1, h: 6, pad: [2, 0, 0, 1] }),
  conv('dilation 2', { h: 9, w: 9, pad: [2, 2, 2, 2], dilation: [2, 2] }),
  conv('groups 2', { cIn: 4, cOut: 6, pad: [1, 1, 1, 1], groups: 2 }),
  conv('depthwise', { cIn: 4, cOut: 4, pad: [1, 1, 1, 1], groups: 4, bias: false }),
  conv('1x1', { cIn: 5, cOut: 3, kernel: [1, 1] }),
  conv('1x1 stride 2', { n: 1, kernel: [1, 1], stride: [2, 2], bias: false }),
  conv('1x3 kernel, stride (2,1), dilation (1,2)', {
    w: 9,
    kernel: [1, 3],
    stride: [2, 1],
    pad: [0, 2, 0, 2],
    dilation: [1, 2],
  }),
  conv('trailing rows never read', { n: 1, h: 8, w: 8, stride: [2, 2], bias: false }),
  conv('large 3x3 pad 1', { n: 1, cIn: 16, h: 24, w: 24, cOut: 32, pad: [1, 1, 1, 1] }),
];

describe('conv2d, conv2dGradInput, conv2dGradWeight: native vs js', () => {
  for (const { name, params: p, bias: hasBias } of CONV_CASES) {
    const random = rngFor(name);
    const x = uniform(random, p.n * p.cIn * p.h * p.w);
    const weight = uniform(random, p.cOut * (p.cIn / p.groups) * p.kh * p.kw);
    const bias = hasBias ? uniform(random, p.cOut) : null;
    const gy = uniform(random, p.n * p.cOut * p.outH * p.outW);
    againstJs(name, (backend) => {
      const [out, gx, gw] = [scratch(gy.length), scratch(x.length), scratch(weight.length)];
      backend.conv2d(x, weight, bias, out, p);
      backend.conv2dGradInput(gy, weight, gx, p);
      backend.conv2dGradWeight(x, gy, gw, p);
      return { out, gx, gw };
    });
  }
});

// ---------------------------------------------------------------- norms

// Normalising one or two elements gives gx = 0 up to eps, leaving only float32 noise times rstd
// to compare, so the smallest groups and rows below hold three or more elements.

describe('groupNorm and groupNormGrad: native vs js', () => {
  // [n, c, hw, groups, 'affine' (gamma, beta and their grads) | 'none' | 'frozen' (gamma, beta but no grads)]
  const cases: [number, number, number, number, 'none' | 'affine' | 'frozen'][] = [
    [2, 6, 5, 3, 'affine'],
    [2, 6, 5, 3, 'none'],
    [2, 6, 5, 3, 'frozen'],
    [2, 8, 16, 1, 'affine'],
    [3, 4, 9, 4, 'affine'],
    [1, 4, 1, 1, 'affine'],
    [2, 64, 256, 32, 'affine'],
  ];
  for (const [n, c, hw, groups, affine] of cases) {
    const name = `n=${n} c=${c} hw=${hw} groups=${groups} ${affine}`;
    const random = rngFor(name);
    const x = uniform(random, n * c * hw, 2, 5); // a mean far from 0 tests the variance computation
    const gy = uniform(random, x.length);
    const gamma = affine === 'none' ? null : uniform(random, c, 0.5, 1.5);
    const beta = affine === 'none' ? null : uniform(random, c);
    const [y, mean, rstd] = [scratch(x.length), scratch(n * groups), scratch(n * groups)];
    js.groupNorm(x, gamma, beta, y, mean, rstd, n, c, hw, groups, 1e-5);
    againstJs(name, (backend) => {
      const out: Outputs = {
        y: scratch(x.length),
        mean: scratch(n * groups),
        rstd: scratch(n * groups),
        gx: scratch(x.length),
      };
      const [gGamma, gBeta] = affine === 'affine' ? [scratch(c), scratch(c)] : [null, null];
      backend.groupNorm(x, gamma, beta, out.y, out.mean, out.rstd, n, c, hw, groups, 1e-5);
      backend.groupNormGrad(x, gy, gamma, mean, rstd, out.gx, gGamma, gBeta, n, c, hw, groups);
      return gGamma && gBeta ? { ...out, gGamma, gBeta } : out;
    });
  }
});

describe('layerNorm and layerNormGrad: native vs js', () => {
  const cases: [number, number, 'none' | 'affine' | 'frozen'][] = [
    [1, 3, 'affine'],
    [4, 8, 'affine'],
    [4, 8, 'none'],
    [3, 5, 'frozen'],
    [7, 33, 'affine'],
    [64, 320, 'affine'],
  ];
  for (const [rows, cols, affine] of cases) {
    const name = `rows=${rows} cols=${cols} ${affine}`;
    const random = rngFor(name);
    const x = uniform(random, rows * cols, -3, 5);
    const gy = uniform(random, x.length);
    const gamma = affine === 'none' ? null : uniform(random, cols, 0.5, 1.5);
    const beta = affine === 'none' ? null : uniform(random, cols);
    const [y, mean, rstd] = [scratch(x.length), scratch(rows), scratch(rows)];
    js.layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, 1e-6);
    againstJs(name, (backend) => {
      const out: Outputs = { y: scratch(x.length), mean: scratch(rows), rstd: scratch(rows), gx: scratch(x.length) };
      const [gGamma, gBeta] = affine === 'affine' ? [scratch(cols), scratch(cols)] : [null, null];
      backend.layerNorm(x, gamma, beta, out.y, out.mean, out.rstd, rows, cols, 1e-6);
      backend.layerNormGrad(x, gy, gamma, mean, rstd, out.gx, gGamma, gBeta, rows, cols);
      return gGamma && gBeta ? { ...out, gGamma, gBeta } : out;
    });
  }
});

// ---------------------------------------------------------------- attention

/** [batch, heads, tq, tk, d, dv, scale multiplier on 1/sqrt(d)] */
const ATTENTION_CASES: [number, number, number, number, number, number, number][] = [
  [1, 1, 1, 1, 1, 1, 1],
  [2, 3, 5, 7, 4, 6, 1],
  [1, 2, 9, 3, 8, 8, 1],
  [2, 1, 1, 6, 5, 3, 1],
  [1, 4, 6, 1, 4, 4, 1],
  [1, 2, 8, 8, 4, 4, 40], // large logits: needs the max subtracted
  [1, 2, 64, 77, 32, 40, 1],
];
const attentionParams = ([
  batch,
  heads,
  tq,
  tk,
  d,
  dv,
  sharpness,
]: (typeof ATTENTION_CASES)[number]): AttentionParams => ({
  batch,
  heads,
  tq,
  tk,
  d,
  dv,
  scale: sharpness / Math.sqrt(d),
});

describe('attention and attentionGrad: native vs js', () => {
  for (const shape of ATTENTION_CASES) {
    const p = attentionParams(shape);
    const name = `batch=${p.batch} heads=${p.heads} tq=${p.tq} tk=${p.tk} d=${p.d} dv=${p.dv} scale=${p.scale.toFixed(3)}`;
    const random = rngFor(name);
    const q = uniform(random, p.batch * p.tq * p.heads * p.d);
    const k = uniform(random, p.batch * p.tk * p.heads * p.d);
    const v = uniform(random, p.batch * p.tk * p.heads * p.dv);
    const gOut = uniform(random, p.batch * p.tq * p.heads * p.dv);
    const [out, lse] = [scratch(gOut.length), scratch(p.batch * p.heads * p.tq)];
    js.attention(q, k, v, out, lse, p);
    againstJs(name, (backend) => {
      const result = {
        out: scratch(out.length),
        lse: scratch(lse.length),
        gq: scratch(q.length),
        gk: scratch(k.length),
        gv: scratch(v.length),
      };
      backend.attention(q, k, v, result.out, result.lse, p);
      backend.attentionGrad(q, k, v, out, lse, gOut, result.gq, result.gk, result.gv, p);
      return result;
    });
  }
});

// ---------------------------------------------------------------- resampling

describe('upsampleNearest and its grad: native vs js', () => {
  const cases = [
    [1, 1, 1, 1, 1],
    [3, 4, 5, 2, 2],
    [2, 3, 4, 2, 3],
    [4, 2, 2, 3, 1],
    [64, 32, 32, 2, 2],
  ];
  for (const [planes, h, w, sh, sw] of cases) {
    const name = `planes=${planes} ${h}x${w} scale ${sh}x${sw}`;
    const random = rngFor(name);
    const x = uniform(random, planes * h * w);
    const gy = uniform(random, x.length * sh * sw);
    againstJs(name, (backend) => {
      const [out, gx] = [scratch(gy.length), scratch(x.length)];
      backend.upsampleNearest(x, out, planes, h, w, sh, sw);
      backend.upsampleNearestGrad(gy, gx, planes, h, w, sh, sw);
      return { out, gx };
    });
  }
});

describe('avgPool2d and its grad: native vs js', () => {
  const cases = [
    [1, 2, 2, 2, 2],
    [3, 8, 6, 2, 2],
    [2, 7, 5, 2, 2],
    [2, 7, 7, 3, 2],
    [2, 5, 4, 3, 1],
    [2, 4, 4, 1, 1],
    [64, 64, 64, 2, 2],
  ];
  for (const [planes, h, w, k, s] of cases) {
    const name = `planes=${planes} ${h}x${w} window ${k} stride ${s}`;
    const random = rngFor(name);
    const [outH, outW] = [Math.floor((h - k) / s) + 1, Math.floor((w - k) / s) + 1];
    const x = uniform(random, planes * h * w);
    const gy = uniform(random, planes * outH * outW);
    againstJs(name, (backend) => {
      const [out, gx] = [scratch(gy.length), scratch(x.length)];
      backend.avgPool2d(x, out, planes, h, w, k, s);
      backend.avgPool2dGrad(gy, gx, planes, h, w, k, s);
      return { out, gx };
    });
  }
});

// ---------------------------------------------------------------- copyStrided

interface CopyCase {
  name: string;
  shape: number[];
  src: { offset: number; strides: number[]; length: number };
  dst: { offset: number; strides: number[]; length: number };
}

/** Buffers reach one past the last element the copy touches, plus a margin that must stay untouched. */
function copy(name: string, shape: number[], src: [number, number[]], dst: [number, number[]]): CopyCase {
  const side = ([offset, strides]: [number, number[]]) => {
    const reach = shape.reduce((sum, extent, i) => sum + Math.max(extent - 1, 0) * strides[i], offset);
    return { offset, strides, length: reach + 3 };
  };
  return { name, shape, src: side(src), dst: side(dst) };
}

const COPY_CASES: CopyCase[] = [
  copy('rank 0', [], [3, []], [5, []]),
  copy('rank 1 contiguous', [10], [0, [1]], [0, [1]]),
  // [2, 3, 4] permuted by (2, 0, 1), and NCHW [2, 3, 4, 5] to NHWC
  copy('permute (2,0,1)', [4, 2, 3], [0, [1, 12, 4]], [0, [6, 3, 1]]),
  copy('permute NCHW to NHWC', [2, 4, 5, 3], [0, [60, 5, 1, 20]], [0, [60, 15, 3, 1]]),
  copy('large transpose of the last two axes', [8, 130, 64], [0, [8320, 1, 130]], [0, [8320, 64, 1]]),
  // x[1:4, 2:5] and x[:, ::2] of [5, 6] and [4, 9]
  copy('slice rows 1:4 cols 2:5', [3, 3], [8, [6, 1]], [0, [3, 1]]),
  copy('slice with step 2', [4, 5], [0, [9, 2]], [0, [5, 1]]),
  copy('expand [3, 1] to [3, 4]', [3, 4], [0, [1, 0]], [0, [4, 1]]),
  copy('expand a scalar to [2, 3]', [2, 3], [0, [0, 0]], [0, [3, 1]]),
  // [2, 3, 4] into channels 2..5 of [2, 7, 4]; [2, 3, 3] into a [2, 5, 6] padded 1 top, 2 left
  copy('concat into a channel block', [2, 3, 4], [0, [12, 4, 1]], [8, [28, 4, 1]]),
  copy('pad into the interior', [2, 3, 3], [0, [9, 3, 1]], [8, [30, 6, 1]]),
  copy('zero extent', [0, 3], [0, [3, 1]], [0, [3, 1]]),
];

describe('copyStrided: native vs js', () => {
  for (const { name, shape, src, dst } of COPY_CASES) {
    const random = rngFor(name);
    const source = uniform(random, src.length);
    const background = uniform(random, dst.length, 5, 6); // must survive where nothing is copied
    againstJs(name, (backend) => {
      const out = background.slice();
      backend.copyStrided(source, src.offset, src.strides, out, dst.offset, dst.strides, shape);
      return { dst: out };
    });
  }
});

test('thread setting: native follows setNumThreads, js reports 1', () => {
  assert.equal(js.getNumThreads(), 1);
  const threads = native().getNumThreads();
  assert.ok(threads >= 1, `native getNumThreads() = ${threads}`);
  native().setNumThreads(1);
  assert.equal(native().getNumThreads(), 1);
  native().setNumThreads(threads);
  assert.equal(native().getNumThreads(), threads);
});

// ---------------------------------------------------------------- js special values

describe('js erf and gelu against Python math.erf', () => {
  // Values printed by Python 3.11: math.erf(x), math.erfc(x), x * 0.5 * math.erfc(-x / math.sqrt(2)).
  const erfTable = [
    [0, 0],
    [1e-6, 1.1283791670951364e-6],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [2.4999, 0.9995928300996666],
    [2.5, 0.999593047982555],
    [3, 0.9999779095030014],
    [4, 0.9999999845827421],
    [5, 0.9999999999984626],
    [6, 1],
    [-0.3, -0.3286267594591274],
    [-2.7, -0.9998656672600594],
  ];
  const erfcTable = [
    [-1, 1.842700792949715],
    [0.5, 0.4795001221869535],
    [2.5, 0.0004069520174449589],
    [3, 2.2090496998585438e-5],
    [5, 1.5374597944280351e-12],
    [8, 1.1224297172982928e-29],
    [10, 2.088487583762545e-45],
    [-4, 1.999999984582742],
  ];
  const geluTable = [
    [-10, -7.619853024160593e-23],
    [-5, -1.4332578593959731e-6],
    [-3, -0.004049694094890287],
    [-1, -0.15865525393145707],
    [-0.5, -0.15426876936299344],
    [0, 0],
    [0.25, 0.14967658142073093],
    [1, 0.8413447460685429],
    [2, 1.9544997361036416],
    [4, 3.9998733150326675],
  ];
  const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
  test('erf', () => {
    for (const [x, expected] of erfTable)
      assert.ok(relative(erf(x), expected) < 1e-13, `erf(${x}) = ${erf(x)}, expected ${expected}`);
  });
  test('erfc, tails included', () => {
    for (const [x, expected] of erfcTable)
      assert.ok(relative(erfc(x), expected) < 1e-13, `erfc(${x}) = ${erfc(x)}, expected ${expected}`);
  });
  test('unary gelu (float32 storage)', () => {
    const out = new Float32Array(geluTable.length);
    js.unary(
      'gelu',
      Float32Array.from(geluTable, ([x]) => x),
      out,
      0,
      0,
    );
    geluTable.forEach(([x, expected], i) =>
      assert.ok(relative(out[i], expected) < 1e-7, `gelu(${x}) = ${out[i]}, expected ${expected}`),
    );
  });
});

test('js unaryGrad at kinks follows PyTorch: relu/abs 0 at 0, leakyRelu slope at 0, clamp 1 on bounds', () => {
  const gradAt = (op: UnaryOp, x: number, p0 = 0, p1 = 0) => {
    const [xs, y, gx] = [Float32Array.of(x), new Float32Array(1), new Float32Array(1)];
    js.unary(op, xs, y, p0, p1);
    js.unaryGrad(op, xs, y, Float32Array.of(1), gx, p0, p1);
    return gx[0];
  };
  assert.equal(gradAt('relu', 0), 0);
  assert.equal(gradAt('abs', 0), 0);
  assert.equal(gradAt('leakyRelu', 0, 0.2), Math.fround(0.2));
  assert.equal(gradAt('clamp', -0.5, -0.5, 1), 1);
  assert.equal(gradAt('clamp', 1, -0.5, 1), 1);
  assert.equal(gradAt('clamp', 1.5, -0.5, 1), 0);
  assert.equal(gradAt('powScalar', 0, 0), 0);
});

// ---------------------------------------------------------------- js gradients vs finite differences

/** The js kernels run in float64 when handed Float64Arrays (see js/floats.ts); the type says float32. */
const f64 = (a: Float64Array) => a as unknown as Float32Array;
const uniform64 = (random: Random, n: number, lo = -1, hi = 1) => Float64Array.from(uniform(random, n, lo, hi));

/**
 * Checks backward(inputs, gy) against central differences of L = sum(forward(inputs) * gy),
 * perturbing each element of each input that backward returns a gradient for.
 */
function gradientTest(
  name: string,
  inputs: Record<string, Float64Array>,
  forward: () => Float64Array,
  backward: (gy: Float64Array) => Record<string, Float64Array>,
): void {
  test(name, () => {
    const gy = uniform64(rngFor(`${name} gy`), forward().length);
    const loss = () => forward().reduce((sum, y, i) => sum + y * gy[i], 0);
    const analytic = backward(gy);
    const h = 1e-5;
    for (const [key, gradient] of Object.entries(analytic)) {
      const x = inputs[key];
      const numeric = x.map((value, i) => {
        x[i] = value + h;
        const plus = loss();
        x[i] = value - h;
        const minus = loss();
        x[i] = value;
        return (plus - minus) / (2 * h);
      });
      assertClose(gradient, numeric, `${name}: d/d${key}`, 1e-6);
    }
  });
}

describe('js backward kernels vs finite differences (float64)', () => {
  for (const c of UNARY_CASES) {
    const name = `unaryGrad ${unaryLabel(c)}`;
    const random = rngFor(name);
    // Keep clear of kinks (0, clamp bounds) by more than the step.
    const x = uniform64(random, 24, c.positive ? 0.2 : -3, 3).map((v) =>
      Math.abs(v) < 0.01 || Math.abs(v + 0.5) < 0.01 || Math.abs(v - 1) < 0.01 ? v + 0.05 : v,
    );
    const [p0, p1] = [c.p0 ?? 0, c.p1 ?? 0];
    const run = () => {
      const y = new Float64Array(x.length);
      js.unary(c.op, f64(x), f64(y), p0, p1);
      return y;
    };
    gradientTest(name, { x }, run, (gy) => {
      const gx = new Float64Array(x.length);
      js.unaryGrad(c.op, f64(x), f64(run()), f64(gy), f64(gx), p0, p1);
      return { x: gx };
    });
  }

  for (const log of [false, true]) {
    const [outer, size, inner] = [2, 5, 3];
    const name = `${log ? 'log_softmax' : 'softmax'}Grad [${outer}, ${size}, ${inner}]`;
    const x = uniform64(rngFor(name), outer * size * inner, -3, 3);
    const run = () => {
      const y = new Float64Array(x.length);
      js.softmax(f64(x), f64(y), outer, size, inner, log);
      return y;
    };
    gradientTest(name, { x }, run, (gy) => {
      const gx = new Float64Array(x.length);
      js.softmaxGrad(f64(run()), f64(gy), f64(gx), outer, size, inner, log);
      return { x: gx };
    });
  }

  for (const { name: caseName, params: p } of CONV_CASES.filter((c) => !c.name.startsWith('large'))) {
    const name = `conv2d grads, ${caseName}`;
    const random = rngFor(name);
    const x = uniform64(random, p.n * p.cIn * p.h * p.w);
    const weight = uniform64(random, p.cOut * (p.cIn / p.groups) * p.kh * p.kw);
    const run = () => {
      const out = new Float64Array(p.n * p.cOut * p.outH * p.outW);
      js.conv2d(f64(x), f64(weight), null, f64(out), p);
      return out;
    };
    gradientTest(name, { x, weight }, run, (gy) => {
      const [gx, gw] = [new Float64Array(x.length), new Float64Array(weight.length)];
      js.conv2dGradInput(f64(gy), f64(weight), f64(gx), p);
      js.conv2dGradWeight(f64(x), f64(gy), f64(gw), p);
      return { x: gx, weight: gw };
    });
  }

  for (const [n, c, hw, groups, affine] of [
    [2, 6, 5, 3, true],
    [2, 4, 3, 2, false],
  ] as const) {
    const name = `groupNormGrad n=${n} c=${c} hw=${hw} groups=${groups}${affine ? ' affine' : ''}`;
    const random = rngFor(name);
    const [x, gamma, beta] = [
      uniform64(random, n * c * hw, -1, 3),
      uniform64(random, c, 0.5, 1.5),
      uniform64(random, c),
    ];
    const [mean, rstd] = [new Float64Array(n * groups), new Float64Array(n * groups)];
    const [g, b] = affine ? [f64(gamma), f64(beta)] : [null, null];
    const run = () => {
      const y = new Float64Array(x.length);
      js.groupNorm(f64(x), g, b, f64(y), f64(mean), f64(rstd), n, c, hw, groups, 1e-5);
      return y;
    };
    gradientTest(name, { x, gamma, beta }, run, (gy): Record<string, Float64Array> => {
      run(); // fills mean and rstd
      const [gx, gGamma, gBeta] = [new Float64Array(x.length), new Float64Array(c), new Float64Array(c)];
      js.groupNormGrad(f64(x), f64(gy), g, f64(mean), f64(rstd), f64(gx), f64(gGamma), f64(gBeta), n, c, hw, groups);
      return affine ? { x: gx, gamma: gGamma, beta: gBeta } : { x: gx };
    });
  }

  for (const affine of [true, false]) {
    const [rows, cols] = [3, 7];
    const name = `layerNormGrad rows=${rows} cols=${cols}${affine ? ' affine' : ''}`;
    const random = rngFor(name);
    const [x, gamma, beta] = [
      uniform64(random, rows * cols, -2, 2),
      uniform64(random, cols, 0.5, 1.5),
      uniform64(random, cols),
    ];
    const [mean, rstd] = [new Float64Array(rows), new Float64Array(rows)];
    const [g, b] = affine ? [f64(gamma), f64(beta)] : [null, null];
    const run = () => {
      const y = new Float64Array(x.length);
      js.layerNorm(f64(x), g, b, f64(y), f64(mean), f64(rstd), rows, cols, 1e-5);
      return y;
    };
    gradientTest(name, { x, gamma, beta }, run, (gy): Record<string, Float64Array> => {
      run();
      const [gx, gGamma, gBeta] = [new Float64Array(x.length), new Float64Array(cols), new Float64Array(cols)];
      js.layerNormGrad(f64(x), f64(gy), g, f64(mean), f64(rstd), f64(gx), f64(gGamma), f64(gBeta), rows, cols);
      return affine ? { x: gx, gamma: gGamma, beta: gBeta } : { x: gx };
    });
  }

  for (const shape of ATTENTION_CASES.slice(0, 5)) {
    const p = attentionParams(shape);
    const name = `attentionGrad batch=${p.batch} heads=${p.heads} tq=${p.tq} tk=${p.tk} d=${p.d} dv=${p.dv}`;
    const random = rngFor(name);
    const q = uniform64(random, p.batch * p.tq * p.heads * p.d, -2, 2);
    const k = uniform64(random, p.batch * p.tk * p.heads * p.d, -2, 2);
    const v = uniform64(random, p.batch * p.tk * p.heads * p.dv);
    const lse = new Float64Array(p.batch * p.heads * p.tq);
    const run = () => {
      const out = new Float64Array(p.batch * p.tq * p.heads * p.dv);
      js.attention(f64(q), f64(k), f64(v), f64(out), f64(lse), p);
      return out;
    };
    gradientTest(name, { q, k, v }, run, (gy) => {
      const [gq, gk, gv] = [new Float64Array(q.length), new Float64Array(k.length), new Float64Array(v.length)];
      js.attentionGrad(f64(q), f64(k), f64(v), f64(run()), f64(lse), f64(gy), f64(gq), f64(gk), f64(gv), p);
      return { q: gq, k: gk, v: gv };
    });
  }

  {
    const [planes, h, w, sh, sw] = [2, 3, 4, 2, 3];
    const x = uniform64(rngFor('upsampleNearestGrad'), planes * h * w);
    const run = () => {
      const out = new Float64Array(x.length * sh * sw);
      js.upsampleNearest(f64(x), f64(out), planes, h, w, sh, sw);
      return out;
    };
    gradientTest(`upsampleNearestGrad planes=${planes} ${h}x${w} scale ${sh}x${sw}`, { x }, run, (gy) => {
      const gx = new Float64Array(x.length);
      js.upsampleNearestGrad(f64(gy), f64(gx), planes, h, w, sh, sw);
      return { x: gx };
    });
  }

  for (const [planes, h, w, k, s] of [
    [2, 6, 5, 2, 2],
    [2, 7, 7, 3, 2],
  ]) {
    const x = uniform64(rngFor(`avgPool2dGrad ${k} ${s}`), planes * h * w);
    const [outH, outW] = [Math.floor((h - k) / s) + 1, Math.floor((w - k) / s) + 1];
    const run = () => {
      const out = new Float64Array(planes * outH * outW);
      js.avgPool2d(f64(x), f64(out), planes, h, w, k, s);
      return out;
    };
    gradientTest(`avgPool2dGrad planes=${planes} ${h}x${w} window ${k} stride ${s}`, { x }, run, (gy) => {
      const gx = new Float64Array(x.length);
      js.avgPool2dGrad(f64(gy), f64(gx), planes, h, w, k, s);
      return { x: gx };
    });
  }
});
